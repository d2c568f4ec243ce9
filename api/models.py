"""The API's own tables: idempotency records, background jobs, rate-limit counts and webhooks.

They were created by the `accounts` app, which kept the API's plumbing until it became an app of
its own; each keeps its table name (`db_table`), so moving them touched no data."""

import uuid

from django.db import models
from django.utils import timezone
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


# --- webhooks (api/webhooks/) -------------------------------------------------------------------


class WebhookEventType(models.TextChoices):
    TRANSACTION_DECIDED = "transaction.decided", _("A transaction was decided")
    TRANSACTION_REVIEWED = "transaction.reviewed", _("An analyst settled a transaction")
    FRAUD_REPORT_CREATED = "fraud_report.created", _("A fraud report was made")
    FRAUD_REPORT_RESOLVED = "fraud_report.resolved", _("A fraud report was resolved")
    CARD_STATUS_CHANGED = "card.status_changed", _("A card was frozen or unfrozen")
    PING = "ping", _("Test event")


class WebhookSubscription(models.Model):
    """Where events are sent, and which ones. `integrator` says whose cards' events it receives:
    an integrator's own cards (Card.issuer), or, when empty, the bank's own cards (a subscription
    staff make in the console). The signing secret is not stored: it is derived from
    `secret_salt` and WEBHOOKS_SECRET_KEY (api/webhooks/signing.py), so the table alone does not
    give it away, yet it can be derived again to sign every delivery. After a rotation the
    previous salt signs too, until `previous_secret_expires_at`, so receivers switch without
    refusing a delivery."""

    public_id = models.UUIDField(_("id"), unique=True, default=uuid.uuid4, editable=False)
    integrator = models.ForeignKey(
        "accounts.User",
        verbose_name=_("integrator"),
        null=True,
        blank=True,
        related_name="webhook_subscriptions",
        on_delete=models.CASCADE,
        help_text=_("Whose cards' events it receives; empty for the bank's own cards."),
    )
    url = models.CharField(_("URL"), max_length=2000)
    event_types = models.JSONField(_("event types"), default=list)
    description = models.CharField(_("description"), max_length=100, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    secret_salt = models.CharField(_("secret salt"), max_length=64, editable=False)
    previous_secret_salt = models.CharField(
        _("previous secret salt"), max_length=64, blank=True, editable=False
    )
    previous_secret_expires_at = models.DateTimeField(
        _("previous secret valid until"), null=True, blank=True, editable=False
    )
    created_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("created by"),
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["integrator", "is_active"], name="webhook_sub_integrator")]

    def __str__(self):
        return self.url

    @property
    def rotation_ends_at(self):
        """Until when the previous secret signs too; None when only the current one does."""
        return self.previous_secret_expires_at if self.previous_salt_at(timezone.now()) else None

    def previous_salt_at(self, moment):
        """The salt of the secret rotated away, while it still signs at `moment`; else None."""
        if (
            self.previous_secret_salt
            and self.previous_secret_expires_at
            and moment < self.previous_secret_expires_at
        ):
            return self.previous_secret_salt
        return None


class WebhookEvent(models.Model):
    """Something that happened, once, whoever receives it. `public_id` is the `webhook-id` header of
    every delivery of it: receivers drop an id they have already processed."""

    public_id = models.CharField(_("event id"), max_length=40, unique=True, editable=False)
    type = models.CharField(_("type"), max_length=32, choices=WebhookEventType.choices)
    integrator = models.ForeignKey(
        "accounts.User",
        verbose_name=_("integrator"),
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.CASCADE,
    )
    data = models.JSONField(_("data"), default=dict)
    created_at = models.DateTimeField(_("created"), db_index=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.type} {self.public_id}"


class WebhookDelivery(models.Model):
    """One event to one subscription: at most one success, whatever the retries."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        IN_PROGRESS = "in_progress", _("In progress")
        SUCCEEDED = "succeeded", _("Delivered")
        FAILED = "failed", _("Failed")

    event = models.ForeignKey(
        WebhookEvent, verbose_name=_("event"), related_name="deliveries", on_delete=models.CASCADE
    )
    subscription = models.ForeignKey(
        WebhookSubscription,
        verbose_name=_("subscription"),
        related_name="deliveries",
        on_delete=models.CASCADE,
    )
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # Pending: when the next attempt is due. In progress: when a worker's claim lapses (a worker
    # killed mid-attempt leaves it so), after which the sweep hands it to another.
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    lease_expires_at = models.DateTimeField(_("claimed until"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last status code"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "subscription"], name="webhook_delivery_once")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due")]

    def __str__(self):
        return f"{self.event} → {self.subscription}"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery, as it went."""

    delivery = models.ForeignKey(
        WebhookDelivery, verbose_name=_("delivery"), related_name="attempt_log", on_delete=models.CASCADE
    )
    number = models.PositiveSmallIntegerField(_("attempt"))
    started_at = models.DateTimeField(_("started"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["number"]

    def __str__(self):
        return f"#{self.number} {self.status_code or self.error}"
