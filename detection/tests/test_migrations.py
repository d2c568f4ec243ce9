"""Detection's data migrations, run for real: back to the state before, rows written as they
were then, forward again."""

import pytest
from django.tasks import Task
from django.utils import timezone
from django.utils.module_loading import import_string

pytestmark = pytest.mark.slow  # migrates the test database back and forth

BEFORE = [("detection", "0003_retrainingrun_task_id")]
AFTER = [("detection", "0004_moved_task_paths")]
OLD_PATHS = ("detection.tasks.batch_score", "detection.tasks.model_train", "detection.retraining.retrain")


def test_tasks_queued_before_the_split_still_run_after_it(migrator):
    apps = migrator(BEFORE)
    results = apps.get_model("django_tasks_database", "DBTaskResult")
    for path in OLD_PATHS:
        results.objects.create(
            task_path=path, args_kwargs={"args": [], "kwargs": {}}, queue_name="default",
            backend_name="default", priority=0, run_after=timezone.now(), status="READY",
            exception_class_path="", traceback="",
        )  # fmt: skip

    apps = migrator(AFTER)

    paths = apps.get_model("django_tasks_database", "DBTaskResult").objects.values_list(
        "task_path", flat=True
    )
    assert len(paths) == len(OLD_PATHS)
    assert all(isinstance(import_string(path), Task) for path in paths)  # what db_worker does

    apps = migrator(BEFORE)  # and back
    back = apps.get_model("django_tasks_database", "DBTaskResult").objects.values_list("task_path", flat=True)
    assert sorted(back) == sorted(OLD_PATHS)
