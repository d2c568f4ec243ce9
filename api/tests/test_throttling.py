"""Throttling counted in the database (no Redis): failed authentications are limited per
address, and counts live in one shared table, one statement per request."""

import os

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from accounts.tests.api_clients import error_of, key_client
from api.models import ThrottleCount

pytestmark = pytest.mark.django_db


def _rates(**rates):
    from django.conf import settings

    merged = {**api_settings.DEFAULT_THROTTLE_RATES, **rates}
    return override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": merged})


def test_bad_keys_are_401_until_the_limit_then_429_even_for_a_good_key(integrator):
    good = key_client(integrator)
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Api-Key nope.wrong")
    with _rates(auth_failure="3/min"):
        assert [bad.get("/api/v1/me/").status_code for _ in range(3)] == [401, 401, 401]
        refused = bad.get("/api/v1/me/")
        assert refused.status_code == 429
        assert error_of(refused)["code"] == "throttled" and int(refused["Retry-After"]) > 0
        # The same address may not try another key (not even a right one) until it waits.
        assert good.get("/api/v1/me/").status_code == 429


def test_requests_without_credentials_count_as_failures(db):
    anonymous = APIClient()
    with _rates(auth_failure="2/min"):
        assert [anonymous.get("/api/v1/me/").status_code for _ in range(3)] == [401, 401, 429]


def test_addresses_are_counted_apart_and_forwarded_for_is_not_trusted(db):
    with _rates(auth_failure="1/min"):
        first, second = APIClient(REMOTE_ADDR="10.0.0.1"), APIClient(REMOTE_ADDR="10.0.0.2")
        assert first.get("/api/v1/me/").status_code == 401
        # A client cannot pick a fresh address with X-Forwarded-For.
        assert first.get("/api/v1/me/", HTTP_X_FORWARDED_FOR="1.2.3.4").status_code == 429
        assert second.get("/api/v1/me/").status_code == 401


def test_one_statement_counts_a_request_and_refused_ones_are_not_counted(integrator):
    client = key_client(integrator)
    with _rates(read="3/min"):
        client.get("/api/v1/me/")  # reads the previous window once for this process
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/v1/me/").status_code == 200
        throttle_sql = [q["sql"] for q in queries.captured_queries if "throttlecount" in q["sql"].lower()]
        assert len(throttle_sql) == 1 and "ON CONFLICT" in throttle_sql[0]
        assert [client.get("/api/v1/me/").status_code for _ in range(3)] == [200, 429, 429]
    counts = dict(ThrottleCount.objects.values_list("key", "count"))
    assert sorted(counts.values()) == [3]  # the refused requests were not counted


def test_expired_windows_are_purged(integrator, monkeypatch):
    from api import throttling

    ThrottleCount.objects.create(key="old", count=5, expires_at=1)
    monkeypatch.setattr(throttling._DATABASE, "_purged_at", 0.0)
    key_client(integrator).get("/api/v1/me/")
    assert not ThrottleCount.objects.filter(key="old").exists()


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture
def redis_cache(settings):
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).flushdb()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"No Redis at {REDIS_URL} on CI.")
        pytest.skip(f"No Redis at {REDIS_URL}.")
    settings.REDIS_URL = REDIS_URL
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    yield
    redis.Redis.from_url(REDIS_URL).flushdb()


def test_with_redis_the_counts_live_in_redis_and_refused_requests_are_not_counted(integrator, redis_cache):
    from django.core.cache import cache

    client = key_client(integrator)
    with _rates(read="2/min"), _rates(auth_failure="1/min"):
        assert [client.get("/api/v1/me/").status_code for _ in range(4)] == [200, 200, 429, 429]
        assert APIClient().get("/api/v1/me/").status_code == 401
        assert APIClient().get("/api/v1/me/").status_code == 429
    assert not ThrottleCount.objects.exists()
    redis_client = cache._cache.get_client()
    assert [int(redis_client.get(key)) for key in redis_client.keys("*throttle_read*")] == [2]
