"""Starting the API's background jobs: the job row that reports progress, and its task queued
once that row is committed (a worker must find it). Views call these; they never enqueue."""

from django.db import transaction

from api.models import ApiJob
from detection.lifecycle import tasks


def batch_start(*, owner, upload) -> ApiJob:
    """Check every row of the uploaded CSV (ValidationError naming the bad lines; nothing is
    stored), then store it and queue its scoring."""
    total = tasks.batch_validate_csv(upload)
    upload.seek(0)
    job = ApiJob(owner=owner, kind=ApiJob.Kind.BATCH_SCORE, total=total)
    job.input_file.save("input.csv", upload, save=False)
    job.save()
    transaction.on_commit(lambda: tasks.batch_score.enqueue(job_id=job.pk))
    return job


def training_start(*, owner, train_start, train_end, **params) -> ApiJob:
    """Queue training on the stored transactions of [train_start, train_end)."""
    job = ApiJob.objects.create(
        owner=owner,
        kind=ApiJob.Kind.TRAIN,
        params={**params, "train_start": train_start.isoformat(), "train_end": train_end.isoformat()},
    )
    transaction.on_commit(lambda: tasks.model_train.enqueue(job_id=job.pk))
    return job
