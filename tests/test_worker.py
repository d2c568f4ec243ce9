"""Retraining through real worker processes: `db_worker` on the database backend (SQLite file
or PostgreSQL, whichever the suite runs on) and `rq_worker` on Redis when one is reachable."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.tasks import task_backends

from detection import retraining
from detection.models import ModelVersion, RetrainingRun

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def worker_env(settings, tmp_path):
    """Detection settings shared by this process and its worker: a small simulated history."""
    shared = {
        "DETECTION_MODELS_DIR": str(tmp_path / "models"),
        "DETECTION_TRAINING_SOURCE": "detection.tests.lifecycle.simulated_source",
        "DETECTION_RETRAIN_ALGORITHMS": ["logistic_regression"],
        "DETECTION_CARD_PRECISION_K": 10,
        "DETECTION_REVIEW_CARDS_PER_DAY": 10,
    }
    for key, value in shared.items():
        setattr(settings, key, value)

    def env(tasks, **extra):
        return {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
            "WORKER_DB_NAME": str(connection.settings_dict["NAME"]),
            "WORKER_TASKS": json.dumps(tasks),
            "WORKER_SETTINGS": json.dumps({**shared, **extra}),
            "OMP_NUM_THREADS": "1",
        }

    return env


def _manage(*args, env, **kwargs):
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def test_db_worker_runs_a_retraining_and_the_web_side_sees_it(settings, worker_env, model_manager):
    settings.TASKS = DB_TASKS
    run, created = retraining.retraining_request(trigger="manual", requested_by=model_manager)
    assert created and run.status == RetrainingRun.Status.QUEUED  # nothing ran in this process
    worker = _manage(
        "db_worker", "--batch", "--no-startup-delay", "--queue-name", "*", env=worker_env(DB_TASKS)
    )
    output, _ = worker.communicate(timeout=180)
    assert worker.returncode == 0, output
    run.refresh_from_db()
    assert run.status == RetrainingRun.Status.SUCCEEDED, (run.error, output)
    assert run.outcome == RetrainingRun.Outcome.FIRST
    assert ModelVersion.objects.get(status=ModelVersion.Status.CHAMPION) == run.challenger
    assert run.progress == 100


def test_a_worker_killed_mid_training_leaves_the_champion_and_the_run_is_failed(settings, worker_env):
    from detection.tests.pipelines import register_toy

    settings.TASKS = DB_TASKS
    champion = register_toy(promote="force")
    # Every algorithm: slow enough to be caught in the middle.
    slow = {
        "DETECTION_RETRAIN_ALGORITHMS": ["logistic_regression", "random_forest", "hist_gradient_boosting"]
    }
    run, _ = retraining.retraining_request(trigger="manual")
    worker = _manage(
        "db_worker",
        "--no-startup-delay",
        "--queue-name",
        "*",
        env=worker_env(DB_TASKS, **slow),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.status == RetrainingRun.Status.RUNNING and run.progress >= 15:
                break
            time.sleep(0.1)
        assert run.status == RetrainingRun.Status.RUNNING
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.communicate(timeout=30)
    run.refresh_from_db()
    assert run.status == RetrainingRun.Status.RUNNING  # nobody is left to say otherwise...
    assert ModelVersion.objects.get(status=ModelVersion.Status.CHAMPION) == champion
    settings.DETECTION_RETRAIN_STALE_MINUTES = 0
    assert retraining.expire_stale_runs() == 1  # ...until its heartbeat is too old
    run.refresh_from_db()
    assert run.status == RetrainingRun.Status.FAILED
    assert ModelVersion.objects.get(status=ModelVersion.Status.CHAMPION) == champion


def _redis():
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        client = Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        client.ping()
    except RedisError:
        if os.environ.get("CI") == "true" and os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis is required but not reachable at {REDIS_URL}.")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}.")
    client.flushdb()
    return client


def test_rq_worker_runs_a_retraining_from_redis(settings, worker_env, model_manager):
    redis = _redis()
    rq_tasks = {"default": {"BACKEND": "detection.rq_backend.RQBackend", "OPTIONS": {"URL": REDIS_URL}}}
    settings.TASKS = rq_tasks
    try:
        run, _ = retraining.retraining_request(trigger="manual", requested_by=model_manager)
        assert redis.llen("rq:queue:default") == 1
        worker = _manage("rq_worker", "--burst", env=worker_env(rq_tasks))
        output, _ = worker.communicate(timeout=180)
        assert worker.returncode == 0, output
        run.refresh_from_db()
        assert run.status == RetrainingRun.Status.SUCCEEDED, (run.error, output)
        assert ModelVersion.objects.get(status=ModelVersion.Status.CHAMPION) == run.challenger
        # The task's own result, as django.tasks sees it, read back from Redis.
        from django.tasks import TaskResult, TaskResultStatus

        job_ids = [key.decode().split(":", 2)[2] for key in redis.keys("rq:job:*") if key.count(b":") == 2]
        results = [task_backends["default"].get_result(job_id) for job_id in job_ids]
        assert any(isinstance(r, TaskResult) and r.status == TaskResultStatus.SUCCESSFUL for r in results)
        finished = next(r for r in results if r.status == TaskResultStatus.SUCCESSFUL)
        assert finished.return_value == {"status": "succeeded", "outcome": "first"}
    finally:
        redis.flushdb()
