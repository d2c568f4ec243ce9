"""Background work started through the API: scoring an uploaded CSV, training a model. Each task
reports progress on its `api.ApiJob` row and never leaves a job half-written: a failure
marks the job failed with a message, and its result file is written only when complete."""

import json
import logging
import tempfile
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.tasks import task
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from accounts.roles import Role, has_role
from api.models import ApiJob
from detection import conf, services
from detection.contracts import card_key
from detection.dataset import DatasetError, read_transactions_csv
from detection.lifecycle import backtest
from detection.ml import training
from detection.models import BacktestRun
from detection.serving import scoring
from detection.serving.registry import RegistryError

logger = logging.getLogger(__name__)

# Bad rows named in the error, at most; the count says how many there were in all.
MAX_ROWS_REPORTED = 20


def read_csv_bytes(raw):
    """The canonical CSV as a clean frame, or ValidationError naming the bad lines: a batch is
    scored whole or not at all."""
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError({"file": [_("The file is not UTF-8 text.")]}) from None
    with tempfile.NamedTemporaryFile(suffix=".csv") as handle:
        handle.write(raw)
        handle.flush()
        try:
            frame, rejected = read_transactions_csv(handle.name)
        except DatasetError as error:
            raise ValidationError({"file": [str(error).replace(handle.name, _("the file"))]}) from None
    if rejected:
        messages = [
            _("Line %(line)d: %(reason)s.") % {"line": row["line"], "reason": row["reason"]}
            for row in rejected[:MAX_ROWS_REPORTED]
        ]
        summary = _("%(count)d row(s) are not valid; nothing was stored.") % {"count": len(rejected)}
        raise ValidationError({"file": [summary, *messages]})
    if len(frame) == 0:
        raise ValidationError({"file": [_("The file has no transactions.")]})
    return frame


def batch_validate_csv(upload):
    """Check every row of an uploaded CSV before anything is stored; returns the row count."""
    return len(read_csv_bytes(upload.read()))


def in_owner_namespace(frame, owner):
    """An integrator's file speaks its own card ids: score them as its own cards' keys, so that
    the bank's and other integrators' card lists neither apply to them nor answer about them."""
    if owner is None or not has_role(owner, Role.INTEGRATOR):
        return frame
    return frame.assign(card_id=frame["card_id"].map(lambda card_id: card_key(card_id, issuer_id=owner.pk)))


def _set(job_id, **fields):
    ApiJob.objects.filter(pk=job_id).update(**fields)


@task()
def batch_score(*, job_id):
    """Score every transaction of the job's CSV with the history in the file before it."""
    job = ApiJob.objects.get(pk=job_id)
    _set(job_id, status=ApiJob.Status.RUNNING, started_at=timezone.now())
    try:
        with job.input_file.open("rb") as raw:
            frame = in_owner_namespace(read_csv_bytes(raw.read()), job.owner)
        scores = scoring.score_frame(frame, version=job.params.get("model_version"))
        with tempfile.TemporaryDirectory() as folder:
            services.write_scores(scores, Path(folder) / "scores.csv")
            content = (Path(folder) / "scores.csv").read_bytes()
        with transaction.atomic():
            job.refresh_from_db()
            job.result_file.save("scores.csv", ContentFile(content), save=False)
            job.status = ApiJob.Status.SUCCEEDED
            job.processed = job.total = len(scores)
            job.finished_at = timezone.now()
            job.save()
    except Exception as error:
        logger.exception("batch %s failed", job.public_id)
        if isinstance(error, ValidationError):
            message = "; ".join(error.messages)
        elif isinstance(error, RegistryError):  # e.g. no model yet: says what to do
            message = str(error)
        else:
            message = _("Scoring failed.")
        _set(job_id, status=ApiJob.Status.FAILED, error=message, finished_at=timezone.now())


@task()
def model_train(*, job_id):
    """Train on the stored transactions of the requested period and register the version, as
    `train_model` does without --csv."""
    job = ApiJob.objects.get(pk=job_id)
    _set(job_id, status=ApiJob.Status.RUNNING, started_at=timezone.now())
    params = job.params
    try:
        start, end = parse_datetime(params["train_start"]), parse_datetime(params["train_end"])
        delay = timedelta(days=params.get("label_delay_days", conf.label_delay_days()))
        periods = training.plan_periods(start, end, label_delay=delay)
        frame = services.stored_history(end=periods["test"][1], label_delay=delay)
        result, version = services.train_and_register(
            frame,
            train_start=start,
            train_end=end,
            label_delay=delay,
            promote=params.get("promote", "auto"),
            created_by=job.owner,
        )
    except training.TrainingError as error:  # e.g. not enough data: the message says what to do
        _set(job_id, status=ApiJob.Status.FAILED, error=str(error), finished_at=timezone.now())
        return
    except Exception:
        logger.exception("training job %s failed", job.public_id)
        _set(job_id, status=ApiJob.Status.FAILED, error=_("Training failed."), finished_at=timezone.now())
        return
    _set(
        job_id,
        status=ApiJob.Status.SUCCEEDED,
        result={"version": version.version, "status": version.status, **_json_safe(result.summary())},
        finished_at=timezone.now(),
    )


def _json_safe(value):
    return json.loads(json.dumps(value, default=str))


# --- Backtests ----------------------------------------------------------------------------------


def _set_backtest(run_id, **fields):
    BacktestRun.objects.filter(pk=run_id).update(**fields)


def backtest_execute(run_id, *, progress=None) -> BacktestRun:
    """Run a queued backtest where it is called (the worker's task, or the command), reporting
    progress on its row; a failure marks it failed with a message that says what to do."""
    run = BacktestRun.objects.get(pk=run_id)
    _set_backtest(run_id, status=BacktestRun.Status.RUNNING, started_at=timezone.now(), progress=0, error="")

    def report(percent, stage):
        _set_backtest(run_id, progress=percent, stage=str(stage)[:200])
        if progress is not None:
            progress(percent, stage)

    try:
        outcome = backtest.backtest_stored(
            start=run.period_start, end=run.period_end, change=run.change, progress=report
        )
    except (ValidationError, RegistryError) as error:
        message = "; ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        _set_backtest(run_id, status=BacktestRun.Status.FAILED, error=message, finished_at=timezone.now())
    except Exception:
        logger.exception("backtest %s failed", run_id)
        _set_backtest(
            run_id,
            status=BacktestRun.Status.FAILED,
            error=_("The backtest failed."),
            finished_at=timezone.now(),
        )
    else:
        _set_backtest(
            run_id,
            status=BacktestRun.Status.SUCCEEDED,
            report=_json_safe(outcome.report),
            progress=100,
            finished_at=timezone.now(),
        )
    run.refresh_from_db()
    return run


@task()
def backtest_run(*, run_id):
    """A backtest in the worker; its progress is on the run's row."""
    backtest_execute(run_id)
