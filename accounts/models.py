import unicodedata
import uuid

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager

from core.cardnumbers import mask_card_numbers

# An email address is at most 254 characters (RFC 5321 as amended; Django's EmailField).
EMAIL_MAX_LENGTH = 254


def canonical_email(value) -> str:
    """The one spelling of an email address that is stored, looked up at sign-in and counted by
    the login lockout: compatibility characters folded (NFKC: fullwidth letters, the Kelvin
    sign), surrounding spaces dropped, lower case. Sign-in compares it exactly with the stored
    address, so every string that opens an account is the same string to the lockout."""
    text = unicodedata.normalize("NFKC", str(value or "")).strip().lower()
    # Lower-casing can leave a form that NFKC changes again (U+0130 becomes i + a dot).
    return unicodedata.normalize("NFKC", text)


class UserManager(DjangoUserManager):
    """Users sign in with their email address; there is no username."""

    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=canonical_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if not extra_fields["is_staff"] or not extra_fields["is_superuser"]:
            raise ValueError("A superuser must have is_staff=True and is_superuser=True.")
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username):
        # Exact, on the canonical form: a case-insensitive lookup would let the database's own
        # case rules (PostgreSQL upper-cases "ı" to "I") open an account under a spelling
        # the lockout counts separately.
        return self.get(**{self.model.USERNAME_FIELD: canonical_email(username)})


class User(AbstractUser):
    username = None
    first_name = None
    last_name = None
    email = models.EmailField(_("email address"), unique=True)
    display_name = models.CharField(_("display name"), max_length=150, blank=True)
    phone = models.CharField(_("phone number"), max_length=32, blank=True)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["email"]
        permissions = [("use_api", _("Can use the integrator API"))]

    def __str__(self):
        return self.email

    def clean(self):
        super().clean()
        self.email = canonical_email(self.email)
        # The admin's forms save through here, not through the services: mask here too.
        self.display_name = mask_card_numbers(self.display_name)
        self.phone = mask_card_numbers(self.phone)

    def get_full_name(self):
        return self.display_name or self.email

    def get_short_name(self):
        return self.display_name or self.email.split("@")[0]


class AuditEntry(models.Model):
    """Who did what to which object, with the state before and after. Written, never edited."""

    actor = models.ForeignKey(
        "accounts.User", verbose_name=_("actor"), null=True, blank=True, on_delete=models.SET_NULL
    )
    action = models.CharField(_("action"), max_length=64)
    target_type = models.CharField(_("target type"), max_length=64)
    target_id = models.CharField(_("target id"), max_length=64)
    before = models.JSONField(_("before"), default=dict, blank=True)
    after = models.JSONField(_("after"), default=dict, blank=True)
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit trail")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.target_type}#{self.target_id}"


class IntegratorKeyManager(BaseAPIKeyManager):
    def get_usable_keys(self):
        # A key stops working when it is revoked, when it expires (checked by the library) or
        # when its owner is deactivated.
        return super().get_usable_keys().filter(owner__is_active=True).select_related("owner")


class IntegratorKey(AbstractAPIKey):
    """An API key of an integrator. Only a hash is stored; the key is shown once, at creation,
    and known by its prefix afterwards. Requests made with it act as its owner."""

    owner = models.ForeignKey(
        "accounts.User", verbose_name=_("owner"), related_name="api_keys", on_delete=models.CASCADE
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    objects = IntegratorKeyManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = _("integrator API key")
        verbose_name_plural = _("integrator API keys")
        ordering = ["-created"]

    def __str__(self):
        return f"{self.prefix} ({self.name})"

    def clean(self):
        super().clean()
        self.name = mask_card_numbers(self.name)  # the admin's form saves through here


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
    PostgreSQL the table is UNLOGGED (migration 0005): counts need no crash safety, and a logged
    table cost a WAL flush per request."""

    key = models.CharField(_("key"), max_length=200, primary_key=True)
    count = models.PositiveIntegerField(_("count"), default=0)
    # Unix seconds after which the row no longer counts (the window and the one after it).
    expires_at = models.BigIntegerField(_("expires at"), db_index=True)

    class Meta:
        verbose_name = _("throttle count")
        verbose_name_plural = _("throttle counts")

    def __str__(self):
        return f"{self.key}={self.count}"
