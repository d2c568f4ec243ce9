"""The API's own tables: idempotency records, background jobs and rate-limit counts.

They were created by the `accounts` app, which kept the API's plumbing until it became an app of
its own; each keeps its table name (`db_table`), so moving them touched no data."""

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class IdempotencyRecord(models.Model):
    """The response to one POST sent with an `Idempotency-Key` header, so a retry gets the same
    response instead of acting twice. A record is written only inside the database transaction
    that does the work, so it exists exactly when the work committed: a crash, a dropped database
    or a rollback leaves no record and the key free. The unique (owner, key) constraint is what
    stops two concurrent requests with one key from both committing, on any database."""

    # No index of its own: the unique (owner, key) index serves lookups by owner too, and a lone
    # owner index tempted PostgreSQL, planning a prepared lookup while the table was empty, into
    # scanning all of an integrator's keys for one.
    owner = models.ForeignKey(
        "accounts.User", verbose_name=_("owner"), related_name="+", on_delete=models.CASCADE, db_index=False
    )
    key = models.CharField(_("idempotency key"), max_length=255)
    # sha256 of method, path and canonical body: the same key with another request is an error.
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    response_status = models.PositiveSmallIntegerField(_("response status"))
    response_content_type = models.CharField(_("response content type"), max_length=255)
    # The encoded bytes the client received, so a replay is byte-for-byte the same response
    # (a JSON column would hand back the keys in its own order).
    response_body = models.BinaryField(_("response body"))
    created_at = models.DateTimeField(_("created"), db_index=True)

    class Meta:
        db_table = "accounts_idempotencyrecord"
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="idempotency_owner_key")]

    def __str__(self):
        return f"{self.owner_id}:{self.key}"


def job_upload_to(job, filename):
    return f"jobs/{job.owner_id}/{job.public_id}/{filename}"


class ApiJob(models.Model):
    """Background work started through the API (a batch to score, a model to train): who asked,
    how far it got, and where its files are. Domain-free on purpose: the task that does the work
    lives with its domain and only reports progress here."""

    class Kind(models.TextChoices):
        BATCH_SCORE = "batch_score", _("Batch scoring")
        TRAIN = "train", _("Training")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    public_id = models.UUIDField(_("id"), unique=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        "accounts.User", verbose_name=_("owner"), related_name="api_jobs", on_delete=models.CASCADE
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    total = models.PositiveIntegerField(_("rows in total"), default=0)
    processed = models.PositiveIntegerField(_("rows processed"), default=0)
    input_file = models.FileField(_("input file"), upload_to=job_upload_to, blank=True)
    result_file = models.FileField(_("result file"), upload_to=job_upload_to, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        db_table = "accounts_apijob"
        verbose_name = _("API job")
        verbose_name_plural = _("API jobs")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.public_id} ({self.get_status_display()})"

    @property
    def progress(self):
        if self.status == self.Status.SUCCEEDED:
            return 1.0
        return round(self.processed / self.total, 4) if self.total else 0.0


class ThrottleCount(models.Model):
    """Requests counted in one rate-limit window (API throttling without Redis): one row per
    (scope, caller, window), incremented by one atomic upsert per request so that every web
    process counts against the same limit. Rows of past windows are purged as they expire. On
    PostgreSQL the table is UNLOGGED (accounts' migration 0006): counts need no crash safety, and a logged
    table cost a WAL flush per request."""

    key = models.CharField(_("key"), max_length=200, primary_key=True)
    count = models.PositiveIntegerField(_("count"), default=0)
    # Unix seconds after which the row no longer counts (the window and the one after it).
    expires_at = models.BigIntegerField(_("expires at"), db_index=True)

    class Meta:
        db_table = "accounts_throttlecount"
        verbose_name = _("throttle count")
        verbose_name_plural = _("throttle counts")

    def __str__(self):
        return f"{self.key}={self.count}"
