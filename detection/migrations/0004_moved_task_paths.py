"""The background tasks moved with detection's split by stage: tasks queued in the database
before the upgrade are pointed at their new module, so none is left unable to run."""

from django.db import migrations

MOVED = {
    "detection.tasks.batch_score": "detection.lifecycle.tasks.batch_score",
    "detection.tasks.model_train": "detection.lifecycle.tasks.model_train",
    "detection.retraining.retrain": "detection.lifecycle.retraining.retrain",
}


def point(apps, moves):
    results = apps.get_model("django_tasks_database", "DBTaskResult")
    for old, new in moves.items():
        results.objects.filter(task_path=old).update(task_path=new)


class Migration(migrations.Migration):
    dependencies = [
        ("detection", "0003_retrainingrun_task_id"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: point(apps, MOVED),
            lambda apps, schema_editor: point(apps, {new: old for old, new in MOVED.items()}),
        ),
    ]
