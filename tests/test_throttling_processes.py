"""Rate limits hold across real web processes: gunicorn with 3 workers on the test database
(SQLite file or PostgreSQL), no Redis. Also the two bands of over-long addresses: ours (414 in
the API's shape) and gunicorn's own beyond its request-line limit."""

import json
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from accounts.services import api_key_create
from accounts.tests import factories
from tests.servers import IMMEDIATE_TASKS, Gunicorn, django_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

READ_LIMIT, AUTH_FAILURE_LIMIT, WORKERS = 12, 6, 3


@pytest.fixture
def server(tmp_path):
    log = tmp_path / "access.log"
    env = {
        **django_env(
            db_name=str(connection.settings_dict["NAME"]),
            tasks=IMMEDIATE_TASKS,
            DETECTION_MODELS_DIR=str(tmp_path / "models"),
        ),
        "API_RATE_READ": f"{READ_LIMIT}/min",
        "API_RATE_AUTH_FAILURE": f"{AUTH_FAILURE_LIMIT}/min",
        "REDIS_URL": "",
    }
    server = Gunicorn(
        env,
        workers=WORKERS,
        log_dir=tmp_path,
        extra_args=["--access-logfile", str(log), "--access-logformat", "%(p)s %(s)s %(U)s"],
    )
    try:
        server.wait_ready()
        yield server.url, log
    finally:
        server.stop()


def _get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - our local server
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def _burst(url, headers, n):
    with ThreadPoolExecutor(max_workers=12) as pool:
        return list(pool.map(lambda _i: _get(url, headers), range(n)))


def _pids(log, path):
    time.sleep(0.5)  # the access log is written after the response
    return {line.split()[0] for line in log.read_text().splitlines() if line.endswith(path)}


def test_the_rate_limit_is_shared_by_every_worker(server):
    base, log = server
    _key, secret = api_key_create(owner=factories.integrator(), name="shared")

    results = _burst(base + "/api/v1/me/", {"Authorization": f"Api-Key {secret}"}, READ_LIMIT * WORKERS)

    statuses = sorted(status for status, _h, _b in results)
    assert statuses.count(200) == READ_LIMIT, statuses
    assert statuses.count(429) == READ_LIMIT * (WORKERS - 1)
    assert len(_pids(log, "/api/v1/me/")) > 1  # the requests really went to several processes
    throttled = next(body for status, _h, body in results if status == 429)
    assert json.loads(throttled)["error"]["code"] == "throttled"


def test_failed_authentication_is_limited_per_address_across_workers(server):
    base, _log = server
    results = _burst(base + "/api/v1/me/", {"Authorization": "Api-Key nope.wrong"}, AUTH_FAILURE_LIMIT * 4)

    statuses = sorted(status for status, _h, _b in results)
    assert statuses.count(401) == AUTH_FAILURE_LIMIT, statuses
    assert statuses.count(429) == AUTH_FAILURE_LIMIT * 3
    throttled = next((h, body) for status, h, body in results if status == 429)
    assert int(throttled[0]["Retry-After"]) > 0
    assert json.loads(throttled[1])["error"]["code"] == "throttled"
    # Requests without credentials count too, and stay refused.
    assert _get(base + "/api/v1/me/")[0] == 429


def test_over_long_addresses_get_our_414_then_gunicorns(server):
    base, _log = server
    ours = _get(base + "/api/v1/transactions/?card=" + "a" * 5000)
    assert ours[0] == 414
    assert json.loads(ours[2])["error"]["code"] == "uri_too_long"
    # Past gunicorn's limit_request_line (8190) gunicorn answers itself, before any application.
    theirs = _get(base + "/api/v1/transactions/?card=" + "a" * 9000)
    assert theirs[0] in (400, 414)
    assert not re.match(rb"^\{", theirs[2])
