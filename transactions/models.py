from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from detection.contracts import CARD_KEY_SEPARATOR, Decision, card_key
from transactions.cards import BRAND_LABELS

# Notes and free text from every entry point (forms, API, admin) have the same limit.
NOTE_MAX_LENGTH = 2000


class Card(models.Model):
    """A payment card. The full number and CVV are never stored: brand, 6+4 digits and a keyed
    fingerprint are all we keep. Integrators may submit cards no customer has registered yet.

    Card ids are scoped per owner. The bank has one namespace (its customers' cards, `card_<hex>`,
    and imported history); each integrator has its own, so its `card_id` "c1" is its card and
    never another integrator's "c1" or a customer's card. `external_id` is the card's key, unique
    across every namespace (`detection.contracts.card_key`): the bank's ids as they are, an
    integrator's as "<issuer id>~<its id>", with `issuer` saying whose it is. A key rather than a
    composite unique (issuer, id) because everything that reads a card's history — online
    features, velocity rules, allow/block lists, training and evaluation frames, CSV export —
    groups by one string, and keeps doing so unchanged; a decision still finds its card with one
    indexed lookup. Integrators are only ever shown their own id (`display_id`)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        FROZEN = "frozen", _("Frozen")

    # 100: an integrator's id (at most 64 characters) behind its issuer prefix.
    external_id = models.CharField(_("card key"), max_length=100, unique=True)
    issuer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("integrator"),
        null=True,
        blank=True,
        related_name="issued_cards",
        on_delete=models.SET_NULL,
        help_text=_("The integrator whose card id this is; empty for the bank's own cards."),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        related_name="cards",
        on_delete=models.SET_NULL,
    )
    brand = models.CharField(_("brand"), max_length=20, blank=True)
    first6 = models.CharField(_("first 6 digits"), max_length=6, blank=True)
    last4 = models.CharField(_("last 4 digits"), max_length=4, blank=True)
    expiry_month = models.PositiveSmallIntegerField(_("expiry month"), null=True, blank=True)
    expiry_year = models.PositiveSmallIntegerField(_("expiry year"), null=True, blank=True)
    cardholder_name = models.CharField(_("name on card"), max_length=100, blank=True)
    # HMAC-SHA256 of the whole number under CARD_FINGERPRINT_KEY: recognises the same card
    # again without being able to recover the number.
    fingerprint = models.CharField(_("fingerprint"), max_length=64, unique=True, null=True, blank=True)
    credit_limit = models.DecimalField(
        _("credit limit"), max_digits=12, decimal_places=2, default=Decimal("5000.00")
    )
    # Outstanding amount of approved transactions.
    balance = models.DecimalField(_("balance"), max_digits=12, decimal_places=2, default=Decimal("0.00"))
    # Amounts of transactions pending review, held against the available credit.
    held = models.DecimalField(_("held"), max_digits=12, decimal_places=2, default=Decimal("0.00"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("card")
        verbose_name_plural = _("cards")
        ordering = ["external_id"]
        # Analysts freeze a card from a case without being able to change its credit limit.
        permissions = [("freeze_card", _("Can freeze and unfreeze cards"))]

    def __str__(self):
        return self.masked_number or self.external_id

    @classmethod
    def key_for(cls, card_id, *, issuer_id=None):
        """The key of the card that integrator `issuer_id` (None: the bank) calls `card_id`."""
        return card_key(card_id, issuer_id=issuer_id)

    @property
    def display_id(self):
        """The id the card's owner knows it by: an integrator's own id, or the bank's id."""
        if self.issuer_id is not None:
            prefix = f"{self.issuer_id}{CARD_KEY_SEPARATOR}"
            if self.external_id.startswith(prefix):
                return self.external_id[len(prefix) :]
        return self.external_id

    @property
    def masked_number(self):
        if not (self.first6 and self.last4):
            return ""
        return f"{self.first6[:4]} {self.first6[4:]}•• •••• {self.last4}"

    @property
    def brand_label(self):
        return BRAND_LABELS.get(self.brand, self.brand.title() or BRAND_LABELS["other"])

    @property
    def available_credit(self):
        return self.credit_limit - self.balance - self.held

    @property
    def used_percent(self):
        """Share of the credit limit in use (balance and holds), 0-100."""
        if self.credit_limit <= 0:
            return 100
        return max(0, min(100, round((self.balance + self.held) / self.credit_limit * 100)))


class Merchant(models.Model):
    external_id = models.CharField(_("merchant id"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    category = models.CharField(_("category (MCC)"), max_length=32, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    latitude = models.FloatField(_("latitude"), null=True, blank=True)
    longitude = models.FloatField(_("longitude"), null=True, blank=True)

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")
        ordering = ["name", "external_id"]

    def __str__(self):
        return self.name or self.external_id


class Transaction(models.Model):
    class Status(models.TextChoices):
        APPROVED = "approved", _("Approved")
        PENDING_REVIEW = "pending_review", _("Pending review")
        DECLINED = "declined", _("Declined")
        CONFIRMED_FRAUD = "confirmed_fraud", _("Confirmed fraud")
        CONFIRMED_LEGITIMATE = "confirmed_legitimate", _("Confirmed legitimate")

    class Channel(models.TextChoices):
        IN_STORE = "in_store", _("In store")
        ONLINE = "online", _("Online")
        CONTACTLESS = "contactless", _("Contactless")
        ATM = "atm", _("ATM")

    external_id = models.CharField(_("transaction id"), max_length=64, unique=True)
    # No index of their own: tx_card_time and tx_merchant_time start with them, and every
    # index costs each insert.
    card = models.ForeignKey(
        Card, verbose_name=_("card"), related_name="transactions", on_delete=models.PROTECT, db_index=False
    )
    merchant = models.ForeignKey(
        Merchant,
        verbose_name=_("merchant"),
        related_name="transactions",
        on_delete=models.PROTECT,
        db_index=False,
    )
    amount = models.DecimalField(
        _("amount"), max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    currency = models.CharField(_("currency"), max_length=3, blank=True, default="USD")
    occurred_at = models.DateTimeField(_("occurred at"))
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("submitted by"),
        null=True,
        blank=True,
        related_name="submitted_transactions",
        on_delete=models.SET_NULL,
    )

    # What was decided, and why. Null for imported history that was never decided online.
    decision = models.CharField(_("decision"), max_length=10, choices=Decision.choices, blank=True)
    score = models.FloatField(_("model score"), null=True, blank=True)
    risk_score = models.PositiveSmallIntegerField(_("risk score"), null=True, blank=True)
    model_version = models.CharField(_("model version"), max_length=64, blank=True)
    decided_by = models.CharField(_("decided by"), max_length=16, blank=True)
    # The champion that could not be loaded when `model_version`, an earlier champion, scored
    # this transaction instead; empty when the champion itself (or no model) decided.
    model_fallback_from = models.CharField(_("fallback from model"), max_length=64, blank=True, default="")
    rule_hits = models.JSONField(_("rule and list hits"), default=list, blank=True)
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    features = models.JSONField(_("feature values"), default=dict, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    status = models.CharField(_("status"), max_length=24, choices=Status.choices, default=Status.APPROVED)
    # The label that training reads, from whatever source it came, and when it became known:
    # features may use it only after that moment.
    is_fraud = models.BooleanField(_("is fraud"), null=True, blank=True)
    label_known_at = models.DateTimeField(_("label known at"), null=True, blank=True)
    label_source = models.CharField(_("label source"), max_length=16, blank=True)
    # The analyst working this transaction (its review or its open report) in the queue.
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assigned to"),
        null=True,
        blank=True,
        related_name="assigned_transactions",
        on_delete=models.SET_NULL,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("transaction")
        verbose_name_plural = _("transactions")
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["card", "occurred_at"], name="tx_card_time"),
            # Covering on PostgreSQL: a decision counts the merchant's recent transactions and
            # frauds from the index alone (see transactions.history.merchant_counts).
            models.Index(
                fields=["merchant", "occurred_at"],
                include=["is_fraud", "label_known_at"],
                name="tx_merchant_time",
            ),
            models.Index(fields=["occurred_at"], name="tx_time"),
            models.Index(fields=["status", "occurred_at"], name="tx_status_time"),
            models.Index(fields=["label_known_at"], name="tx_label_known"),
        ]

    def __str__(self):
        return self.external_id

    @staticmethod
    def web_payment_id(payment_key: str) -> str:
        """The id a payment entered on the site is stored under: one per form shown (its key)."""
        return f"web_{payment_key}"


class FraudReport(models.Model):
    class Source(models.TextChoices):
        CUSTOMER = "customer", _("Customer")
        ANALYST = "analyst", _("Analyst")
        CHARGEBACK = "chargeback", _("Chargeback")
        INTEGRATOR = "integrator", _("Integrator")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CONFIRMED = "confirmed", _("Confirmed")
        REJECTED = "rejected", _("Rejected")

    transaction = models.ForeignKey(
        Transaction, verbose_name=_("transaction"), related_name="reports", on_delete=models.CASCADE
    )
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reported by"),
        null=True,
        blank=True,
        related_name="fraud_reports",
        on_delete=models.SET_NULL,
    )
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    note = models.TextField(_("note"), blank=True, max_length=NOTE_MAX_LENGTH)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(_("reported at"), auto_now_add=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("resolved by"),
        null=True,
        blank=True,
        related_name="resolved_fraud_reports",
        on_delete=models.SET_NULL,
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolution_note = models.TextField(_("resolution note"), blank=True, max_length=NOTE_MAX_LENGTH)

    class Meta:
        verbose_name = _("fraud report")
        verbose_name_plural = _("fraud reports")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "created_at"], name="report_status_time")]
        constraints = [
            # One open report per transaction, even when two arrive at the same moment.
            models.UniqueConstraint(
                fields=["transaction"],
                condition=models.Q(status="open"),
                name="report_one_open_per_transaction",
            )
        ]

    def __str__(self):
        return f"{self.transaction} ({self.get_status_display()})"
