"""Starting the API's background jobs: the job row that reports progress, and its task queued
once that row is committed (a worker must find it). Views call these; they never enqueue."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from api.models import ApiJob
from detection.lifecycle import backtest, tasks
from detection.models import BacktestRun


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


def backtest_request(*, requested_by, start, end, change) -> BacktestRun:
    """A backtest run, its change checked against the configuration in force now
    (ValidationError or RegistryError saying what is wrong), not yet started."""
    if end <= start:
        raise ValidationError(_("The period's end must be after its start."))
    backtest.apply_change(backtest.current_configuration(), change)
    return BacktestRun.objects.create(
        requested_by=requested_by if requested_by is not None and requested_by.is_authenticated else None,
        period_start=start,
        period_end=end,
        change=change,
    )


def backtest_start(*, requested_by, start, end, change) -> BacktestRun:
    """`backtest_request`, then queued for the worker once committed."""
    run = backtest_request(requested_by=requested_by, start=start, end=end, change=change)
    transaction.on_commit(lambda: tasks.backtest_run.enqueue(run_id=run.pk))
    return run
