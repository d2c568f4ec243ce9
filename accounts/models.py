import unicodedata

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
