from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from core.validators import refuse_card_number
from detection import conf, services
from detection.lifecycle import shadow
from detection.ml.evaluation import BLOCK_BY_PRECISION, BLOCK_BY_TOP_SHARE, BLOCK_UNPROVEN
from detection.ml.options import REVIEW_BY_RATE
from detection.models import BandSettings, ListEntry, Mode, ModelVersion, Rule
from detection.serving import justification, registry

PERIOD_NAMES = {"test": _("test"), "validation": _("validation")}


def _per_day(value):
    return "—" if value is None else f"{value:,.1f}"


def _fmt(value):
    return "—" if value is None else f"{value:.3f}"


def _percent(share):
    return f"{100 * share:.2f} %"


def describe_review_capacity(basis, target):
    if basis == REVIEW_BY_RATE:
        return _("%(rate)s of payments held for review") % {"rate": _percent(target)}
    return _("%(n)s cards a day") % {"n": target}


def describe_band_rule(band, rule):
    """In words, how training chose a band's threshold on validation (metrics["validation"]["bands"])."""
    if not rule:
        return _("not recorded (trained before the rules were)")
    if band == "review":
        return _("sized to %(capacity)s") % {
            "capacity": describe_review_capacity(rule["rule"], rule.get("target"))
        }
    if rule["rule"] == BLOCK_BY_PRECISION:
        return _(
            "precision %(target)s established on validation: %(frauds)s frauds of %(flagged)s "
            "flagged, lower bound %(lower)s"
        ) % {
            "target": _fmt(rule["precision_target"]),
            "frauds": rule["frauds"],
            "flagged": rule["flagged"],
            "lower": _fmt(rule["precision_lower_bound"]),
        }
    if rule["rule"] == BLOCK_BY_TOP_SHARE:
        return _(
            "fallback: the top %(share)s of scores, since validation could not establish precision "
            "%(target)s on at least %(min)s frauds"
        ) % {
            "share": _percent(rule["top_share"]),
            "target": _fmt(rule["precision_target"]),
            "min": rule["min_frauds"],
        }
    if rule["rule"] == BLOCK_UNPROVEN:
        return _(
            "nothing blocked: even the top %(share)s of scores were fraud in %(frauds)s of %(flagged)s "
            "validation payments, too few to decline anyone on (lower bound %(lower)s)"
        ) % {
            "share": _percent(rule["top_share"]),
            "frauds": rule["frauds"],
            "flagged": rule["flagged"],
            "lower": _fmt(rule["precision_lower_bound"]),
        }
    return _("no validation data")


def describe_options_in_force():
    """The capacity and risk appetite the next training will use, and where they come from."""
    staff = conf.staff_band_settings()
    options = conf.learning_options(staff=staff)
    return _("Review: %(capacity)s (%(source)s); block: precision %(precision)s (%(block_source)s).") % {
        "capacity": describe_review_capacity(*options.review_capacity),
        "source": _("set in the admin") if staff and staff.states_capacity else _("environment"),
        "precision": _fmt(options.block_precision),
        "block_source": _("set in the admin")
        if staff and staff.block_precision is not None
        else _("environment"),
    }


def warn_if_untested(request, target, *, since):
    """Say so when the change saved here (audited at or after `since`) went live without a
    backtest (its audit entry says None)."""
    if justification.went_live_untested(target, since=since):
        messages.warning(
            request,
            _("No backtest of this change in the last %(days)d days.")
            % {"days": conf.backtest_justification_days()},
        )


class DeletedThroughService:
    """Deleting, one on its page or several with the list's action, through `delete_through` (an
    audited service), never a bare delete."""

    def delete_model(self, request, obj):
        self.delete_through(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_through(obj, actor=request.user)


class ShadowButtonMixin:
    """The "Shadow" button of a rule's or a version's page: one POST (with its CSRF token) by
    someone who may change it puts it in shadow through `shadow` (a service), then back to the
    page, which shows its trial report."""

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/shadow/",
                self.admin_site.admin_view(self.shadow_view),
                name="{}_{}_shadow".format(*info),
            ),
            *super().get_urls(),
        ]

    def shadow_view(self, request, object_id):
        # get_object answers None for an id that is not one ('¹', 400 letters): a 404, never a 500.
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        page = redirect(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", obj.pk)
        if request.method != "POST":
            return page
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        try:
            self.shadow(obj, actor=request.user)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        else:
            self.message_user(
                request,
                _("%(name)s runs in shadow: it decides nothing and records what it would have decided.")
                % {"name": obj},
            )
        return page


@admin.register(ModelVersion)
class ModelVersionAdmin(ShadowButtonMixin, admin.ModelAdmin):
    list_display = [
        "version",
        "status",
        "serving_display",
        "algorithm",
        "test_ap",
        "test_card_precision",
        "created_at",
        "promoted_at",
    ]
    list_filter = ["status", "algorithm"]
    search_fields = ["version", "algorithm", "notes"]
    actions = ["promote_selected", "roll_back"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "version",
                    "status",
                    "algorithm",
                    "created_by",
                    "created_at",
                    "promoted_at",
                    "notes",
                )
            },
        ),
        (_("Shadow and rollout"), {"fields": (("trial_mode", "rollout_percent"), "trial_report")}),
        (
            _("Periods"),
            {
                "fields": (
                    ("train_start", "train_end"),
                    ("validation_start", "validation_end"),
                    ("test_start", "test_end"),
                )
            },
        ),
        (_("Quality"), {"fields": ("bands", "metrics", "comparison", "thresholds")}),
        (
            _("Model"),
            {
                "classes": ("collapse",),
                "fields": (
                    "parameters",
                    "feature_names",
                    "importances",
                    "typical_values",
                    "artifact_path",
                    "sha256",
                    "library_versions",
                ),
            },
        ),
    )

    def get_readonly_fields(self, request, obj=None):
        # Everything that describes the trained model is history; only the notes are editable.
        editable = ("notes", "id", "trial_mode", "rollout_percent")
        return [
            "bands",
            "trial_report",
            *(f.name for f in ModelVersion._meta.fields if f.name not in editable),
        ]

    @admin.display(description=_("comparison, last 7 days"))
    def trial_report(self, obj):
        return trial_report_html(model_version=obj.version if obj else "")

    def save_model(self, request, obj, form, change):
        # Through the registry: a change of its trial is audited (and justified when it widens).
        fields = {name: getattr(obj, name) for name in ("notes", *registry.TRIAL_FIELDS)}
        saving = timezone.now()
        registry.version_update(version=obj, fields=fields, actor=request.user)
        warn_if_untested(request, obj, since=saving)

    def shadow(self, obj, *, actor):
        registry.version_shadow(version=obj, actor=actor)

    def has_add_permission(self, request):
        return False  # versions come from training, never typed in

    def has_delete_permission(self, request, obj=None):
        return False  # the audit trail and past decisions refer to versions

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(
            request, {**(extra_context or {}), "serving": registry.serving_status()}
        )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra = {**(extra_context or {}), "serving": registry.serving_status()}
        return super().changeform_view(request, object_id, form_url, extra)

    @admin.display(description=_("serving"))
    def serving_display(self, obj):
        # Cached by the registry for a few seconds: no query per row.
        serving = registry.serving_status()
        if obj.version == serving.serving:
            return _("decides (fallback)") if serving.fallback_from else _("decides")
        if obj.version == serving.champion and serving.error_code:
            return _("refused: %(reason)s") % {"reason": serving.reason}
        return ""

    @admin.display(description=_("bands"))
    def bands(self, obj):
        period, figures = obj.band_figures()
        in_force = format_html(
            '<p data-testid="bands-in-force">{} {}</p>',
            _("Settings in force for the next training:"),
            describe_options_in_force(),
        )
        if not figures:
            return format_html("—{}", in_force)
        labels = {"review": _("review"), "block": _("block")}
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    labels[f["band"]],
                    _fmt(f["threshold"]),
                    _fmt(f["precision"]),
                    _fmt(f["recall"]),
                    _per_day(f["per_day"]),
                    describe_band_rule(f["band"], f["rule"]),
                )
                for f in figures
            ),
        )
        return format_html(
            '<table data-testid="bands"><caption>{}</caption><thead><tr><th></th><th>{}</th><th>{}</th>'
            "<th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>{}",
            _("On the %(period)s period") % {"period": PERIOD_NAMES.get(period, period)},
            _("threshold"),
            _("precision"),
            _("recall"),
            _("flagged per day"),
            _("chosen by"),
            rows,
            in_force,
        )

    @admin.display(description=_("test AP"))
    def test_ap(self, obj):
        return _fmt(obj.test_average_precision)

    @admin.display(description=_("test card precision@k"))
    def test_card_precision(self, obj):
        return _fmt(obj.test_card_precision)

    def _confirm(self, request, queryset, *, action, title, question, current, target):
        return TemplateResponse(
            request,
            "admin/detection/modelversion/confirm_action.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": title,
                "question": question,
                "queryset": queryset,
                "action": action,
                "current": current,
                "target": target,
            },
        )

    @admin.action(description=_("Promote the selected version to champion"), permissions=["change"])
    def promote_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one version to promote."), messages.ERROR)
            return None
        target = queryset.get()
        current = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()
        if request.POST.get("confirm") != "yes":
            return self._confirm(
                request,
                queryset,
                action="promote_selected",
                title=_("Promote a model version"),
                question=_("Every new transaction will be scored by %(version)s. Continue?")
                % {"version": target.version},
                current=current,
                target=target,
            )
        try:
            registry.promote_version(target, actor=request.user, note=_("Promoted in the admin."))
        except registry.RegistryError as error:
            self.message_user(request, str(error), messages.ERROR)
            return None
        self.message_user(request, _("%(version)s is now the champion.") % {"version": target.version})
        return None

    @admin.action(description=_("Roll back to the previous champion"), permissions=["change"])
    def roll_back(self, request, queryset):
        current = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()
        if request.POST.get("confirm") != "yes":
            return self._confirm(
                request,
                queryset,
                action="roll_back",
                title=_("Roll back the champion"),
                question=_("The current champion will be retired and the previous one restored. Continue?"),
                current=current,
                target=None,
            )
        try:
            restored = registry.rollback(actor=request.user, note=_("Rolled back in the admin."))
        except registry.RegistryError as error:
            self.message_user(request, str(error), messages.ERROR)
            return None
        self.message_user(request, _("%(version)s is the champion again.") % {"version": restored.version})
        return None


@admin.register(BandSettings)
class BandSettingsAdmin(admin.ModelAdmin):
    """One page, one row: the analysts' capacity and the risk appetite the bands are sized to."""

    fieldsets = (
        (_("Review band: the analysts' capacity"), {"fields": ("review_cards_per_day", "review_alert_rate")}),
        (_("Block band: the risk appetite"), {"fields": ("block_precision",)}),
        (_("In force"), {"fields": ("in_force", "updated_by", "updated_at")}),
    )
    readonly_fields = ("in_force", "updated_by", "updated_at")

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not BandSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False  # blank fields already mean "the environment's values"

    def changelist_view(self, request, extra_context=None):
        row = BandSettings.objects.first()
        if row is not None:
            return redirect("admin:detection_bandsettings_change", row.pk)
        if self.has_add_permission(request):
            return redirect("admin:detection_bandsettings_add")
        return super().changelist_view(request, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        # Say what a blank field means here: the environment's value.
        environment = {
            "review_cards_per_day": conf.review_cards_per_day(),
            "review_alert_rate": conf.review_alert_rate(),
            "block_precision": conf.block_precision(),
        }
        for name, value in environment.items():
            if name in form.base_fields:
                field = form.base_fields[name]
                field.help_text = format_html(
                    "{} {}",
                    field.help_text,
                    _("Blank: the environment's value (%(value)s).")
                    % {"value": _("none") if value is None else value},
                )
        return form

    def save_model(self, request, obj, form, change):
        services.band_settings_save(band_settings=obj, actor=request.user)

    @admin.display(description=_("in force"))
    def in_force(self, obj):
        return describe_options_in_force()


class RuleForm(forms.ModelForm):
    """A rule posted without a mode (a form or script older than shadow and rollout) is live, as
    every rule was before."""

    class Meta:
        model = Rule
        fields = [
            "name",
            "kind",
            "action",
            "order",
            "active",
            "mode",
            "rollout_percent",
            "amount",
            "max_count",
            "window_minutes",
            "values",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "mode" in self.fields:
            self.fields["mode"].required = False

    def clean_mode(self):
        return self.cleaned_data.get("mode") or Mode.LIVE


@admin.register(Rule)
class RuleAdmin(ShadowButtonMixin, DeletedThroughService, admin.ModelAdmin):
    form = RuleForm
    list_display = ["name", "kind", "summary", "action", "order", "active", "mode", "rollout_percent"]
    list_editable = ["order", "active"]
    list_filter = ["active", "kind", "action", "mode"]
    search_fields = ["name"]
    readonly_fields = ["trial_report"]
    fieldsets = (
        (None, {"fields": ("name", "kind", "action", "order", "active")}),
        (
            _("Shadow and rollout"),
            {
                "description": _(
                    "Live decides for every card; shadow decides nothing and records what it would have "
                    "decided; rollout decides for a share of cards, the same cards every time."
                ),
                "fields": (("mode", "rollout_percent"), "trial_report"),
            },
        ),
        (
            _("Condition"),
            {
                "description": _("Fill only the fields the chosen kind needs."),
                "fields": ("amount", ("max_count", "window_minutes"), "values"),
            },
        ),
    )

    def save_model(self, request, obj, form, change):
        # Through the services, from the form and the changelist's order and active alike: audited,
        # with the backtest that justified the change when it goes live.
        fields = {name: getattr(obj, name) for name in services.RULE_FIELDS}
        saving = timezone.now()
        if change:
            services.rule_update(actor=request.user, rule=obj, fields=fields)
        else:
            rule = services.rule_create(actor=request.user, **fields)
            obj.pk, obj.created_at, obj.updated_at = rule.pk, rule.created_at, rule.updated_at
        warn_if_untested(request, obj, since=saving)

    def delete_through(self, obj, *, actor):
        services.rule_delete(rule=obj, actor=actor)

    def shadow(self, obj, *, actor):
        services.rule_shadow(rule=obj, actor=actor)

    @admin.display(description=_("condition"))
    def summary(self, obj):
        if obj.kind == Rule.Kind.AMOUNT_ABOVE:
            return _("amount > %(amount)s") % {"amount": obj.amount}
        if obj.kind == Rule.Kind.VELOCITY:
            return _("> %(n)s transactions in %(m)s min") % {"n": obj.max_count, "m": obj.window_minutes}
        return obj.values

    @admin.display(description=_("comparison, last 7 days"))
    def trial_report(self, obj):
        return trial_report_html(rule_id=obj.pk if obj else None)


TRIAL_REPORT_DAYS = 7


def trial_report_html(*, rule_id=None, model_version=""):
    """The shadow report of the last days, read-only: production, without and with the trial."""
    if rule_id is None and not model_version:
        return "—"
    end = timezone.now()
    try:
        report = shadow.trial_report(
            start=end - timedelta(days=TRIAL_REPORT_DAYS),
            end=end,
            rule_id=rule_id,
            model_version=model_version,
        )
    except ValidationError as error:
        return " ".join(error.messages)
    labels = {
        "reviewed": _("reviewed"),
        "blocked": _("blocked"),
        "frauds_caught": _("frauds caught (review or block)"),
        "frauds_missed": _("frauds missed"),
        "false_alarms": _("false alarms"),
        "alerts_per_day": _("alerts a day"),
    }
    header = format_html(
        "<tr><th></th><th>{}</th><th>{}</th><th>{}</th></tr>",
        _("production"),
        _("without it"),
        _("with it"),
    )
    rows = format_html_join(
        "",
        "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (label, report["production"][key], report["baseline"][key], report["candidate"][key])
            for key, label in labels.items()
        ),
    )
    return format_html(
        '<p>{}</p><table data-testid="trial-report">{}{}</table>',
        _(
            "%(transactions)s transactions, %(applied)s decided by it, %(frauds)s frauds known, %(changed)s decided differently."
        )
        % {
            "transactions": report["transactions"],
            "applied": report["trial"]["applied"],
            "frauds": report["known_frauds"],
            "changed": report["changes"]["count"],
        },
        header,
        rows,
    )


class ListEntryForm(forms.ModelForm):
    class Meta:
        model = ListEntry
        fields = ["list_type", "kind", "value", "reason", "expires_at", "active"]

    def clean(self):
        cleaned = super().clean()
        # A card or merchant id is an identifier: never a card number (a card is listed by its
        # fingerprint, a hash of ours, which is not checked: its digits are random).
        if cleaned.get("kind") != ListEntry.Kind.CARD_FINGERPRINT:
            try:
                refuse_card_number(cleaned.get("value"))
            except forms.ValidationError as error:
                self.add_error("value", error)
        return cleaned


@admin.register(ListEntry)
class ListEntryAdmin(DeletedThroughService, admin.ModelAdmin):
    form = ListEntryForm
    list_display = ["value", "kind", "list_type", "reason", "expires_at", "active", "created_at"]
    list_filter = ["list_type", "kind", "active"]
    search_fields = ["value", "reason"]
    fields = ["list_type", "kind", "value", "reason", "expires_at", "active"]

    def save_model(self, request, obj, form, change):
        # Through the services (audited, with the backtest that justified an entry going on or
        # off its list), as a case page adds one.
        saving = timezone.now()
        if change:
            fields = {name: getattr(obj, name) for name in (*services.LIST_ENTRY_FIELDS, "active")}
            services.list_entry_update(entry=obj, fields=fields, actor=request.user)
        else:
            added = services.list_entry_add(
                list_type=obj.list_type,
                kind=obj.kind,
                value=obj.value,
                reason=obj.reason,
                expires_at=obj.expires_at,
                actor=request.user,
            )
            obj.pk = added.pk
        warn_if_untested(request, obj, since=saving)

    def delete_through(self, obj, *, actor):
        services.list_entry_delete(entry=obj, actor=actor)


# The learning loop's pages (retraining runs, dashboards) live in their own module.
from detection import admin_lifecycle  # noqa: E402, F401
