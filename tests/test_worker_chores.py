"""The task workers run the periodic chores: expired idempotency records are purged without
anyone calling the purge (it used to be called by nothing)."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from api.idempotency import TTL
from api.models import IdempotencyRecord
from tests.servers import ROOT, django_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _records(owner):
    now = timezone.now()
    for key, age in (("expired", TTL + timedelta(minutes=1)), ("live", timedelta(hours=1))):
        IdempotencyRecord.objects.create(
            owner=owner,
            key=key,
            fingerprint="f",
            response_status=201,
            response_content_type="application/json",
            response_body=b"{}",
            created_at=now - age,
        )


def test_db_worker_purges_expired_idempotency_records(integrator):
    _records(integrator)
    worker = subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "db_worker",
            "--batch",
            "--no-startup-delay",
            "--queue-name",
            "*",
        ],
        cwd=ROOT,
        env=django_env(db_name=str(connection.settings_dict["NAME"])),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["live"]
    assert "idempotency_records_purge done (1)" in worker.stdout + worker.stderr


def test_rq_worker_purges_them_at_its_maintenance(integrator):
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except RedisError:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}.")
    _records(integrator)
    tasks = {"default": {"BACKEND": "core.rq_backend.RQBackend", "OPTIONS": {"URL": REDIS_URL}}}
    worker = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "rq_worker", "--burst", "--queue-name", "chores-test"],
        cwd=ROOT,
        env=django_env(db_name=str(connection.settings_dict["NAME"]), tasks=tasks),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["live"]
