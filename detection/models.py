import dataclasses

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from detection.ml.options import LearningOptions


class Mode(models.TextChoices):
    """How a rule or a challenger takes part in deciding (`detection.serving.trials`)."""

    LIVE = "live", _("Live")
    SHADOW = "shadow", _("Shadow (recorded, decides nothing)")
    ROLLOUT = "rollout", _("Rollout to a share of cards")


def rollout_percent_field():
    return models.PositiveSmallIntegerField(
        _("rollout (percentage of cards)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
        help_text=_(
            "Rollout only: the share of cards (1 to 99 %) it decides for, the same cards every time."
        ),
    )


def check_mode(mode, percent, errors):
    """The percentage goes with a rollout, and only with one."""
    if mode == Mode.ROLLOUT:
        if percent is None:
            errors["rollout_percent"] = _("A rollout needs the share of cards, from 1 to 99 %.")
        elif not 1 <= percent <= 99:
            errors["rollout_percent"] = _("The share of cards must be from 1 to 99 %.")
    elif percent is not None:
        errors["rollout_percent"] = _("Give a share of cards only for a rollout.")


class ModelVersion(models.Model):
    """One trained model: how it was trained, how well it did, and where its artifact is."""

    class Status(models.TextChoices):
        CANDIDATE = "candidate", _("Candidate")
        CHAMPION = "champion", _("Champion")
        RETIRED = "retired", _("Retired")

    version = models.CharField(_("version"), max_length=64, unique=True)
    algorithm = models.CharField(_("algorithm"), max_length=64)
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    feature_names = models.JSONField(_("features"), default=list, blank=True)
    train_start = models.DateTimeField(_("training from"), null=True, blank=True)
    train_end = models.DateTimeField(_("training until"), null=True, blank=True)
    validation_start = models.DateTimeField(_("validation from"), null=True, blank=True)
    validation_end = models.DateTimeField(_("validation until"), null=True, blank=True)
    test_start = models.DateTimeField(_("test from"), null=True, blank=True)
    test_end = models.DateTimeField(_("test until"), null=True, blank=True)
    # {"validation": {...}, "test": {...}}, each as detection.ml.evaluation.evaluate() returns it.
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)
    # Every candidate algorithm's metrics, to show what the chosen one beat.
    comparison = models.JSONField(_("comparison"), default=dict, blank=True)
    thresholds = models.JSONField(_("thresholds"), default=dict, blank=True)
    curves = models.JSONField(_("curves"), default=dict, blank=True)
    importances = models.JSONField(_("feature importances"), default=dict, blank=True)
    # A typical (legitimate) value per feature: the reasons reset a feature to it and measure
    # how much the score drops.
    typical_values = models.JSONField(_("typical feature values"), default=dict, blank=True)
    artifact_path = models.CharField(_("artifact"), max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    library_versions = models.JSONField(_("library versions"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        related_name="model_versions",
        on_delete=models.SET_NULL,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.CANDIDATE)
    promoted_at = models.DateTimeField(_("promoted"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    # A challenger on trial: scored in shadow on live traffic, or deciding for a share of cards.
    # "live" is the ordinary state (a champion serves, other versions do nothing).
    trial_mode = models.CharField(_("trial"), max_length=8, choices=Mode.choices, default=Mode.LIVE)
    rollout_percent = rollout_percent_field()

    class Meta:
        verbose_name = _("model version")
        verbose_name_plural = _("model versions")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="champion"), name="detection_one_champion"
            )
        ]

    def __str__(self):
        return self.version

    def clean(self):
        errors = {}
        check_mode(self.trial_mode, self.rollout_percent, errors)
        if self.trial_mode != Mode.LIVE:
            if self.status == self.Status.CHAMPION:
                errors["trial_mode"] = _("The champion decides already: only a challenger goes on trial.")
            elif ModelVersion.objects.exclude(pk=self.pk).exclude(trial_mode=Mode.LIVE).exists():
                errors["trial_mode"] = _(
                    "Another version is on trial already: set it back to live first (one trial at a time)."
                )
        if errors:
            raise ValidationError(errors)

    def metric(self, name, period="test"):
        return (self.metrics.get(period) or {}).get(name)

    @property
    def test_average_precision(self):
        return self.metric("average_precision")

    @property
    def test_card_precision(self):
        return self.metric("card_precision_at_k")

    def band_figures(self) -> tuple[str, list[dict]]:
        """What each band did on the latest period measured (test, else validation): its threshold,
        and of the transactions it alone took (review: held for the analysts, block: declined) the
        share that was fraud, the share of all frauds, and how many a day, for staff sizing them."""
        spans = {
            "test": (self.test_start, self.test_end),
            "validation": (self.validation_start, self.validation_end),
        }
        period = next((name for name in spans if self.metrics.get(name)), None)
        if period is None:
            return "", []
        metrics, (start, end) = self.metrics[period], spans[period]
        days = (end - start).total_seconds() / 86400 if start and end and end > start else None
        # Counts at each threshold: everything at or above it. The review band alone (what the
        # analysts get) is what reaches review but not block.
        at_review = metrics.get("confusion_matrix") or {}
        at_block = (metrics.get("block") or {}).get("confusion_matrix") or {}
        if not at_review or not at_block:
            return period, []
        frauds = at_review["tp"] + at_review["fn"]
        counts = {
            "review": (at_review["tp"] - at_block["tp"], at_review["fp"] - at_block["fp"]),
            "block": (at_block["tp"], at_block["fp"]),
        }
        bands = []
        for band, (tp, fp) in counts.items():
            bands.append(
                {
                    "band": band,
                    "threshold": (metrics.get("thresholds") or {}).get(band),
                    "precision": tp / (tp + fp) if tp + fp else None,
                    "recall": tp / frauds if frauds else None,
                    "per_day": (tp + fp) / days if days else None,
                    # How training chose it on validation (None for versions trained before).
                    "rule": ((self.metrics.get("validation") or {}).get("bands") or {}).get(band),
                }
            )
        return period, bands


def validate_above_zero(value):
    if not value > 0:
        raise ValidationError(_("Enter a value above 0."), code="min_value")


class BandSettings(models.Model):
    """The bank's capacity and risk appetite for the decision bands, as staff set them in the
    admin. A blank field keeps the environment's value (detection/conf.py); `conf.learning_options()`
    applies this row, so training, retraining and evaluation all use the same choices. One row."""

    ROW = 1

    review_cards_per_day = models.PositiveIntegerField(
        _("review: cards a day"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Cards the analysts can review a day. Fill this or the alert rate, not both."),
    )
    review_alert_rate = models.FloatField(
        _("review: alert rate"),
        null=True,
        blank=True,
        validators=[validate_above_zero, MaxValueValidator(1)],
        help_text=_("Share of payments held for review, above 0 and at most 1 (0.01 holds 1 %)."),
    )
    block_precision = models.FloatField(
        _("block: precision"),
        null=True,
        blank=True,
        validators=[validate_above_zero, MaxValueValidator(1)],
        help_text=_(
            "Share of blocked payments that must be fraud, above 0 and at most 1, as validation "
            "can establish it."
        ),
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("updated by"),
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
        editable=False,
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("decision bands settings")
        verbose_name_plural = _("decision bands settings")
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="detection_band_settings_one_row"),
            models.CheckConstraint(
                condition=Q(review_cards_per_day__isnull=True) | Q(review_alert_rate__isnull=True),
                name="detection_band_settings_one_capacity",
                violation_error_message=_(
                    "State the review capacity either in cards a day or as an alert rate, not both."
                ),
            ),
            models.CheckConstraint(
                condition=Q(review_cards_per_day__isnull=True) | Q(review_cards_per_day__gte=1),
                name="detection_band_settings_cards_per_day",
            ),
            models.CheckConstraint(
                condition=Q(review_alert_rate__isnull=True)
                | Q(review_alert_rate__gt=0, review_alert_rate__lte=1),
                name="detection_band_settings_alert_rate",
            ),
            models.CheckConstraint(
                condition=Q(block_precision__isnull=True) | Q(block_precision__gt=0, block_precision__lte=1),
                name="detection_band_settings_block_precision",
            ),
        ]

    def __str__(self):
        return str(_("Decision bands settings"))

    def applied_to(self, options: LearningOptions) -> LearningOptions:
        """`options` with what staff set: a capacity stated here replaces the environment's
        (cards a day or alert rate, whichever staff chose); blank fields change nothing."""
        changes = {}
        if self.review_alert_rate is not None:
            changes["review_alert_rate"] = float(self.review_alert_rate)
        elif self.review_cards_per_day is not None:
            changes |= {"review_cards_per_day": int(self.review_cards_per_day), "review_alert_rate": None}
        if self.block_precision is not None:
            changes["block_precision"] = float(self.block_precision)
        return dataclasses.replace(options, **changes)

    @property
    def states_capacity(self) -> bool:
        return self.review_alert_rate is not None or self.review_cards_per_day is not None


class ListEntry(models.Model):
    """An allow- or block-list entry. Lists run before the rules and the model."""

    class Kind(models.TextChoices):
        CARD_FINGERPRINT = "card_fingerprint", _("Card fingerprint")
        CARD_ID = "card_id", _("Card id")
        MERCHANT_ID = "merchant_id", _("Merchant id")
        COUNTRY = "country", _("Country")

    class ListType(models.TextChoices):
        ALLOW = "allow", _("Allow list")
        BLOCK = "block", _("Block list")

    list_type = models.CharField(_("list"), max_length=8, choices=ListType.choices)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    value = models.CharField(_("value"), max_length=128)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("list entry")
        verbose_name_plural = _("list entries")
        ordering = ["list_type", "kind", "value"]
        constraints = [
            models.UniqueConstraint(fields=["list_type", "kind", "value"], name="detection_list_entry_unique")
        ]

    def __str__(self):
        return f"{self.get_list_type_display()}: {self.get_kind_display()} {self.value}"

    def clean(self):
        self.value = (self.value or "").strip()
        if self.kind == self.Kind.COUNTRY:
            self.value = self.value.upper()
            if len(self.value) != 2 or not self.value.isalpha():
                raise ValidationError({"value": _("A country is a two-letter ISO code, such as FR.")})
        if not self.value:
            raise ValidationError({"value": _("Enter a value.")})

    @property
    def is_expired(self):
        return self.expires_at is not None and self.expires_at <= timezone.now()


def _split_values(text):
    return sorted(
        {part.strip().upper() for part in (text or "").replace(";", ",").split(",") if part.strip()}
    )


class Rule(models.Model):
    """A rule staff write in the admin. Active rules run in order; the first that matches decides."""

    class Kind(models.TextChoices):
        AMOUNT_ABOVE = "amount_above", _("Amount above")
        VELOCITY = "velocity", _("More than N transactions for the card in M minutes")
        COUNTRY_IN = "country_in", _("Country in a set")
        CATEGORY_IN = "category_in", _("Merchant category in a set")

    class Action(models.TextChoices):
        ALLOW = "allow", _("Allow")
        REVIEW = "review", _("Review")
        BLOCK = "block", _("Block")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    amount = models.DecimalField(
        _("amount"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("For 'amount above': transactions over this amount match."),
    )
    max_count = models.PositiveIntegerField(
        _("N transactions"),
        null=True,
        blank=True,
        help_text=_("For velocity rules: more than N transactions (this one included) match."),
    )
    window_minutes = models.PositiveIntegerField(
        _("M minutes"), null=True, blank=True, help_text=_("For velocity rules: the time window.")
    )
    values = models.CharField(
        _("values"),
        max_length=500,
        blank=True,
        help_text=_("For set rules: comma-separated country codes or merchant categories."),
    )
    action = models.CharField(_("action"), max_length=8, choices=Action.choices)
    order = models.PositiveIntegerField(_("order"), default=100)
    active = models.BooleanField(_("active"), default=True)
    mode = models.CharField(_("mode"), max_length=8, choices=Mode.choices, default=Mode.LIVE)
    rollout_percent = rollout_percent_field()
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("rule")
        verbose_name_plural = _("rules")
        ordering = ["order", "id"]

    def __str__(self):
        return self.name

    @property
    def value_set(self):
        return _split_values(self.values)

    def clean(self):
        errors = {}
        if self.kind == self.Kind.AMOUNT_ABOVE:
            if self.amount is None:
                errors["amount"] = _("An 'amount above' rule needs an amount.")
            elif self.amount < 0:
                errors["amount"] = _("The amount cannot be negative.")
        elif self.kind == self.Kind.VELOCITY:
            if not self.max_count:
                errors["max_count"] = _("A velocity rule needs N, the number of transactions (at least 1).")
            if not self.window_minutes:
                errors["window_minutes"] = _("A velocity rule needs M, the window in minutes (at least 1).")
            elif self.window_minutes > 60 * 24 * 30:
                errors["window_minutes"] = _("The window cannot be longer than 30 days.")
        elif self.kind in (self.Kind.COUNTRY_IN, self.Kind.CATEGORY_IN):
            values = self.value_set
            if not values:
                errors["values"] = _("List at least one value, separated by commas.")
            elif self.kind == self.Kind.COUNTRY_IN and any(len(v) != 2 or not v.isalpha() for v in values):
                errors["values"] = _(
                    "Countries are two-letter ISO codes separated by commas, such as FR, DE."
                )
            else:
                self.values = ", ".join(values)
        check_mode(self.mode, self.rollout_percent, errors)
        if errors:
            raise ValidationError(errors)


class RetrainingRun(models.Model):
    """One retraining: why it started, how far it got, and what the champion/challenger gate
    decided. At most one run is active (queued or running) at a time: `active` is True only
    then, and a partial unique constraint lets the database refuse a second one."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Finished")
        FAILED = "failed", _("Failed")

    class Trigger(models.TextChoices):
        MANUAL = "manual", _("On demand")
        LABELS = "labels", _("New labels")
        SCHEDULE = "schedule", _("Schedule")
        API = "api", _("API")

    class Outcome(models.TextChoices):
        PROMOTED = "promoted", _("Challenger promoted")
        KEPT = "kept", _("Champion kept")
        FIRST = "first", _("First champion")

    trigger = models.CharField(_("trigger"), max_length=10, choices=Trigger.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    # True while queued or running, NULL afterwards (NULLs never collide in the unique constraint).
    active = models.BooleanField(_("active"), null=True, default=True, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
    )
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    # Labels known up to this moment count as used by this run.
    labels_cutoff = models.DateTimeField(_("labels known until"))
    new_labels = models.PositiveIntegerField(_("new labels"), default=0)
    new_frauds = models.PositiveIntegerField(_("new frauds"), default=0)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    # Touched every few seconds by a thread of the running worker, whatever the training is
    # doing: when it stops, the worker is dead (see retraining.expire_stale_runs).
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    stage = models.CharField(_("stage"), max_length=200, blank=True)
    error = models.TextField(_("error"), blank=True)
    challenger = models.ForeignKey(
        ModelVersion,
        verbose_name=_("challenger"),
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
    )
    champion = models.ForeignKey(
        ModelVersion,
        verbose_name=_("champion compared"),
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
    )
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices, blank=True)
    # The id of its background task (a django_tasks_db row or an RQ job), so a run found dead
    # can mark its task failed too.
    task_id = models.CharField(_("task"), max_length=64, blank=True, editable=False)
    # The gate's figures: evaluation period, both models' metrics, margins, and why.
    comparison = models.JSONField(_("comparison"), default=dict, blank=True)

    class Meta:
        verbose_name = _("retraining run")
        verbose_name_plural = _("retraining runs")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["active"], condition=Q(active=True), name="detection_one_active_retraining"
            )
        ]

    def __str__(self):
        return f"#{self.pk} {self.get_trigger_display()} ({self.get_status_display()})"


class BacktestRun(models.Model):
    """One backtest: a period, a candidate change (`detection.lifecycle.backtest.apply_change`),
    who asked, how far the worker got and the report it wrote."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Finished")
        FAILED = "failed", _("Failed")

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
    )
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    period_start = models.DateTimeField(_("period from"))
    period_end = models.DateTimeField(_("period until"))
    change = models.JSONField(_("candidate change"), default=dict)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    stage = models.CharField(_("stage"), max_length=200, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    report = models.JSONField(_("report"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("backtest")
        verbose_name_plural = _("backtests")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"#{self.pk} {self.period_start:%Y-%m-%d}–{self.period_end:%Y-%m-%d} ({self.get_status_display()})"


class ShadowVerdict(models.Model):
    """What a rule or challenger on trial would have decided, next to the real decision.

    Kept by the transaction's external id (detection does not know the transactions table). For
    a shadow, the verdict is the decision with the rule (or challenger) applied; for a rollout,
    the decision under the arm that did not decide: without the change for the cards it applied
    to (`applied`), with it for the others. So each transaction has both sides of the comparison
    (`detection.lifecycle.shadow`)."""

    class Source(models.TextChoices):
        RULE = "rule", _("Rule")
        MODEL = "model", _("Model")

    transaction_id = models.CharField(_("transaction"), max_length=64)
    occurred_at = models.DateTimeField(_("occurred"))
    source = models.CharField(_("source"), max_length=5, choices=Source.choices)
    # Plain values rather than keys: a verdict stays readable after its rule is deleted.
    rule_id = models.PositiveIntegerField(_("rule"), null=True, blank=True)
    model_version = models.CharField(_("model version"), max_length=64, blank=True)
    mode = models.CharField(_("mode"), max_length=8, choices=Mode.choices)
    applied = models.BooleanField(_("decided the transaction"), default=False)
    decision = models.CharField(_("verdict"), max_length=8)
    score = models.FloatField(_("score"), null=True, blank=True)
    decided_by = models.CharField(_("decided by"), max_length=20, blank=True)
    hit = models.CharField(_("list or rule"), max_length=140, blank=True)
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    class Meta:
        verbose_name = _("shadow verdict")
        verbose_name_plural = _("shadow verdicts")
        ordering = ["occurred_at", "id"]
        indexes = [
            models.Index(fields=["rule_id", "occurred_at"], name="detection_shadow_rule"),
            models.Index(fields=["model_version", "occurred_at"], name="detection_shadow_model"),
        ]

    def __str__(self):
        return f"{self.transaction_id}: {self.decision}"
