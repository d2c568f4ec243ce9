"""The health endpoints a load balancer probes: liveness touches nothing but the process;
readiness checks the database, the cache, the task queue and the champion model, in JSON that
discloses nothing."""

import json
import os
from datetime import timedelta

import pytest
from django.db import connections
from django.tasks import task_backends
from django.utils import timezone

from detection.serving import registry
from detection.tests.pipelines import register_toy
from tests.servers import redis_or_skip

pytestmark = pytest.mark.django_db

LIVE, READY = "/health/live/", "/health/ready/"
DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/12")


@pytest.fixture
def ready(settings, client):
    settings.DETECTION_CHAMPION_CHECK_SECONDS = 0
    settings.TASKS = DB_TASKS

    def probe(expected_status=None):
        response = client.get(READY)
        assert response["Content-Type"] == "application/json"
        if expected_status is not None:
            assert response.status_code == expected_status, response.content
        return response.json()

    return probe


def test_liveness_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get(LIVE)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]


def test_readiness_is_ok_when_every_part_is(ready):
    register_toy(promote="force")
    body = ready(200)
    assert body == {
        "status": "ok",
        "checks": {
            "database": {"status": "ok"},
            "cache": {"status": "ok"},
            "task_queue": {"status": "ok"},
            "model": {"status": "ok"},
        },
    }


def test_a_champion_served_by_a_fallback_makes_the_node_degraded(ready):
    register_toy(promote="force")
    champion = register_toy(promote="force", seed=1)
    path = registry.artifact_full_path(champion)
    path.write_bytes(path.read_bytes() + b"\0")
    body = ready(200)  # it still decides, with the earlier champion: keep it in the pool
    assert body["status"] == "degraded"
    assert body["checks"]["model"] == {
        "status": "degraded",
        "code": "champion_fallback",
        "reason": "checksum_mismatch",
    }


def test_a_champion_nothing_can_replace_fails_readiness(ready):
    champion = register_toy(promote="force")
    registry.artifact_full_path(champion).write_bytes(b"not a model")
    body = ready(503)
    assert body["status"] == "fail"
    assert body["checks"]["model"] == {
        "status": "fail",
        "code": "no_loadable_model",
        "reason": "checksum_mismatch",
    }


def test_no_champion_yet_is_degraded_not_failed(ready):
    assert ready(200)["checks"]["model"] == {"status": "degraded", "code": "no_champion"}


def test_a_task_nobody_picks_up_shows_the_queue_degraded(ready, settings):
    from django_tasks_db.models import DBTaskResult

    from detection.lifecycle.tasks import batch_score

    register_toy(promote="force")
    batch_score.enqueue(job_id=0)
    assert ready(200)["checks"]["task_queue"] == {"status": "ok"}  # just queued
    DBTaskResult.objects.update(enqueued_at=timezone.now() - timedelta(minutes=6))
    body = ready(200)
    assert body["status"] == "degraded"
    assert body["checks"]["task_queue"] == {"status": "degraded", "code": "queue_stalled"}
    settings.DETECTION_HEALTH_TASK_MAX_WAIT_SECONDS = 600
    assert ready(200)["checks"]["task_queue"] == {"status": "ok"}


def test_an_unreachable_database_fails_readiness(ready):
    """The check opens a connection of its own, as a new request would: point new connections
    at a database that does not exist (nothing listens / no such file)."""
    register_toy(promote="force")
    real = connections.settings["default"]
    broken = {**real, "PORT": "1"} if real["ENGINE"] != "django.db.backends.sqlite3" else real
    if real["ENGINE"] == "django.db.backends.sqlite3":
        broken = {**real, "NAME": "/nonexistent/directory/db.sqlite3"}
    connections.settings["default"] = broken
    try:
        body = ready(503)
    finally:
        connections.settings["default"] = real
    assert body["checks"]["database"] == {"status": "fail", "code": "unavailable"}
    assert body["status"] == "fail"


def test_the_redis_task_queue_is_checked_too(ready, settings):
    redis = redis_or_skip(REDIS_URL)
    register_toy(promote="force")
    settings.TASKS = {"default": {"BACKEND": "core.rq_backend.RQBackend", "OPTIONS": {"URL": REDIS_URL}}}
    try:
        assert ready(200)["checks"]["task_queue"] == {"status": "ok"}
        from detection.lifecycle.tasks import batch_score

        batch_score.enqueue(job_id=0)  # and no rq_worker is running
        assert ready(200)["checks"]["task_queue"] == {"status": "degraded", "code": "no_worker"}
    finally:
        redis.flushdb()
    settings.TASKS = {
        "default": {"BACKEND": "core.rq_backend.RQBackend", "OPTIONS": {"URL": "redis://127.0.0.1:1/0"}}
    }
    body = ready(503)
    assert body["checks"]["task_queue"] == {"status": "fail", "code": "queue_unavailable"}
    assert task_backends["default"].url == "redis://127.0.0.1:1/0"


def test_the_answer_discloses_no_version_path_or_host(ready, settings):
    champion = register_toy(promote="force")
    registry.artifact_full_path(champion).write_bytes(b"x")
    settings.TASKS = {
        "default": {"BACKEND": "core.rq_backend.RQBackend", "OPTIONS": {"URL": "redis://127.0.0.1:1/0"}}
    }
    body = ready(503)
    text = json.dumps(body)
    for secret in (
        champion.version,
        champion.sha256,
        champion.artifact_path,
        "127.0.0.1",
        "sklearn",
        "scikit",
    ):
        assert secret not in text
    allowed = {"status", "code", "reason"}
    assert set(body) == {"status", "checks"}
    assert all(set(outcome) <= allowed for outcome in body["checks"].values())


def test_probes_need_no_sign_in_and_are_never_redirected(client, settings, ready):
    settings.SECURE_SSL_REDIRECT = True  # production: plain HTTP is redirected to HTTPS...
    assert client.get("/accounts/login/").status_code == 301
    assert client.get(LIVE).status_code == 200  # ...except the probes a load balancer sends
    assert client.get("/health/live").status_code == 200  # and without the trailing slash
    register_toy(promote="force")
    assert client.get("/health/ready").status_code == 200
