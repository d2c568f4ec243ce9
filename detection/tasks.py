"""Background work started through the API: scoring an uploaded CSV, training a model. Each task
reports progress on its `accounts.ApiJob` row and never leaves a job half-written: a failure
marks the job failed with a message, and its result file is written only when complete."""

import csv
import io
import logging

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.tasks import task
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import ApiJob

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("transaction_id", "occurred_at", "card_id", "merchant_id", "amount")
RESULT_COLUMNS = ("transaction_id", "score", "risk_score", "decision", "reasons")


def _read_frame(source):
    """The canonical CSV as a frame; bad rows raise ValidationError naming their lines."""
    from detection.dataset import read_transactions_csv

    return read_transactions_csv(source)


def _decode(raw):
    try:
        return io.StringIO(raw.decode("utf-8-sig"), newline="")
    except UnicodeDecodeError:
        raise ValidationError({"file": _("The file is not UTF-8 text.")}) from None


def batch_validate_csv(upload):
    """Check every row of an uploaded CSV before anything is stored; returns the row count."""
    frame = _read_frame(_decode(upload.read()))
    if len(frame) == 0:
        raise ValidationError({"file": _("The file has no transactions.")})
    return len(frame)


def _set(job_id, **fields):
    ApiJob.objects.filter(pk=job_id).update(**fields)


@task()
def batch_score(*, job_id):
    """Score every transaction of the job's CSV with the history in the file before it."""
    from detection.scoring import score_frame

    job = ApiJob.objects.get(pk=job_id)
    _set(job_id, status=ApiJob.Status.RUNNING, started_at=timezone.now())
    try:
        with job.input_file.open("rb") as raw:
            frame = _read_frame(_decode(raw.read()))
        scores = score_frame(frame, version=job.params.get("model_version"))
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(RESULT_COLUMNS)
        for row in scores.itertuples(index=False):
            reasons = row.reasons if isinstance(row.reasons, str) else ";".join(row.reasons or [])
            writer.writerow(
                [row.transaction_id, f"{row.score:.6f}", int(row.risk_score), row.decision, reasons]
            )
        with transaction.atomic():
            job.refresh_from_db()
            job.result_file.save("scores.csv", ContentFile(out.getvalue().encode()), save=False)
            job.status = ApiJob.Status.SUCCEEDED
            job.processed = job.total = len(scores)
            job.finished_at = timezone.now()
            job.save()
    except Exception as error:
        logger.exception("batch %s failed", job.public_id)
        message = "; ".join(error.messages) if isinstance(error, ValidationError) else _("Scoring failed.")
        _set(job_id, status=ApiJob.Status.FAILED, error=message, finished_at=timezone.now())


@task()
def model_train(*, job_id):
    """Train on the stored transactions of the requested period and register the version."""
    from detection.training import train_from_database

    job = ApiJob.objects.get(pk=job_id)
    _set(job_id, status=ApiJob.Status.RUNNING, started_at=timezone.now())
    params = job.params
    try:
        version = train_from_database(
            train_start=params["train_start"],
            train_end=params["train_end"],
            label_delay_days=params.get("label_delay_days", 7),
            promote=params.get("promote", "auto"),
            actor=job.owner,
        )
    except Exception as error:
        logger.exception("training job %s failed", job.public_id)
        message = "; ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        _set(job_id, status=ApiJob.Status.FAILED, error=message, finished_at=timezone.now())
        return
    _set(
        job_id,
        status=ApiJob.Status.SUCCEEDED,
        result={"version": version.version, "status": version.status, "metrics": version.metrics},
        finished_at=timezone.now(),
    )
