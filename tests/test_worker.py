"""Retraining through real worker processes: `db_worker` on the database backend (SQLite file
or PostgreSQL, whichever the suite runs on) and `rq_worker` on Redis when one is reachable."""

import contextlib
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

from detection.lifecycle import retraining
from detection.models import ModelVersion, RetrainingRun
from tests.servers import redis_or_skip

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


def _db_worker_until_idle(worker_env):
    """Run a db_worker until the queue is empty; its output."""
    worker = _manage(
        "db_worker", "--batch", "--no-startup-delay", "--queue-name", "*", env=worker_env(DB_TASKS)
    )
    output, _ = worker.communicate(timeout=180)
    assert worker.returncode == 0, output
    return output


def test_db_worker_runs_a_retraining_and_the_web_side_sees_it(settings, worker_env, model_manager):
    settings.TASKS = DB_TASKS
    run, created = retraining.retraining_request(trigger="manual", requested_by=model_manager)
    assert created and run.status == RetrainingRun.Status.QUEUED  # nothing ran in this process
    output = _db_worker_until_idle(worker_env)
    run.refresh_from_db()
    assert run.status == RetrainingRun.Status.SUCCEEDED, (run.error, output)
    assert run.outcome == RetrainingRun.Outcome.FIRST
    assert ModelVersion.objects.get(status=ModelVersion.Status.CHAMPION) == run.challenger
    assert run.progress == 100


# Every algorithm: slow enough to be caught in the middle.
SLOW = {"DETECTION_RETRAIN_ALGORITHMS": ["logistic_regression", "random_forest", "hist_gradient_boosting"]}


def _descendants(pid):
    """Every process below `pid` (RQ's work-horse runs in a session of its own, out of reach
    of a signal to the worker's process group)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _kill_mid_training(worker, run):
    """Wait until the run trains, then SIGKILL the worker and every process it started, as a
    lost machine or the kernel's OOM killer would; returns the moment."""
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.status == RetrainingRun.Status.RUNNING and run.progress >= 15:
                break
            time.sleep(0.1)
        assert run.status == RetrainingRun.Status.RUNNING
    finally:
        for pid in [*_descendants(worker.pid), worker.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        worker.communicate(timeout=30)
    return time.monotonic()


def _released_after(run, killed_at, *, timeout=90):
    """Ask for a retraining every second, as a user would, until one is accepted: seconds from
    the kill to the moment the dead run's slot was freed, and the new run."""
    while time.monotonic() - killed_at < timeout:
        new, created = retraining.retraining_request(trigger="manual")
        if created:
            return time.monotonic() - killed_at, new
        assert new.pk == run.pk  # still held by the dead run
        time.sleep(1)
    pytest.fail(f"the dead run still held the slot {timeout} s after its worker was killed")


def test_a_worker_killed_mid_training_is_released_within_a_minute_and_a_new_run_runs(settings, worker_env):
    from django.tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from detection.tests.pipelines import register_toy

    settings.TASKS = DB_TASKS
    champion = register_toy(promote="force")
    run, _ = retraining.retraining_request(trigger="manual")
    run.refresh_from_db()
    assert run.task_id  # the task row is known to the run
    worker = _manage(
        "db_worker",
        "--no-startup-delay",
        "--queue-name",
        "*",
        env=worker_env(DB_TASKS, **SLOW),
        start_new_session=True,
    )
    killed_at = _kill_mid_training(worker, run)
    run.refresh_from_db()
    assert run.status == RetrainingRun.Status.RUNNING  # nobody is left to say otherwise...
    assert DBTaskResult.objects.get(id=run.task_id).status == TaskResultStatus.RUNNING

    # ...until its heartbeat is missed: defaults, heartbeat every 5 s, dead after 45 s.
    released, new = _released_after(run, killed_at)
    print(f"\nretraining slot released {released:.1f} s after SIGKILL of db_worker")
    assert released < 60
    run.refresh_from_db()
    assert run.status == RetrainingRun.Status.FAILED and run.active is None
    assert "no heartbeat" in run.error
    task = DBTaskResult.objects.get(id=run.task_id)
    assert task.status == TaskResultStatus.FAILED and task.finished_at is not None
    assert task.exception_class_path == "detection.lifecycle.retraining.WorkerLost"
    assert task.task_result.errors[0].traceback == run.error
    assert ModelVersion.objects.get(status=ModelVersion.Status.CHAMPION) == champion

    # The new run is taken by the next worker and runs to the end; the dead task is not re-run.
    output = _db_worker_until_idle(worker_env)
    new.refresh_from_db()
    assert new.status == RetrainingRun.Status.SUCCEEDED, (new.error, output)
    assert DBTaskResult.objects.get(id=new.task_id).status == TaskResultStatus.SUCCESSFUL
    assert DBTaskResult.objects.get(id=run.task_id).status == TaskResultStatus.FAILED


def test_rq_worker_runs_a_retraining_from_redis(settings, worker_env, model_manager):
    redis = redis_or_skip(REDIS_URL)
    rq_tasks = {"default": {"BACKEND": "core.rq_backend.RQBackend", "OPTIONS": {"URL": REDIS_URL}}}
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


def test_an_rq_worker_killed_mid_training_is_released_and_its_job_failed(settings, worker_env):
    from django.tasks import TaskResultStatus

    from detection.tests.pipelines import register_toy

    redis = redis_or_skip(REDIS_URL)
    rq_tasks = {"default": {"BACKEND": "core.rq_backend.RQBackend", "OPTIONS": {"URL": REDIS_URL}}}
    settings.TASKS = rq_tasks
    try:
        champion = register_toy(promote="force")
        run, _ = retraining.retraining_request(trigger="manual")
        run.refresh_from_db()
        worker = _manage("rq_worker", env=worker_env(rq_tasks, **SLOW))
        killed_at = _kill_mid_training(worker, run)
        backend = task_backends["default"]
        assert backend.get_result(run.task_id).status == TaskResultStatus.RUNNING
        released, _new = _released_after(run, killed_at)
        print(f"\nretraining slot released {released:.1f} s after SIGKILL of rq_worker")
        assert released < 60
        run.refresh_from_db()
        assert run.status == RetrainingRun.Status.FAILED
        result = backend.get_result(run.task_id)
        assert result.status == TaskResultStatus.FAILED
        assert "WorkerLost" in result.errors[0].traceback
        assert ModelVersion.objects.get(status=ModelVersion.Status.CHAMPION) == champion
    finally:
        redis.flushdb()
