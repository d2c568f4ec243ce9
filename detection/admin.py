from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from core.cardnumbers import mask_card_numbers
from core.validators import refuse_card_number
from detection.models import ListEntry, ModelVersion, Rule
from detection.serving import registry

PERIOD_NAMES = {"test": _("test"), "validation": _("validation")}


def _per_day(value):
    return "—" if value is None else f"{value:,.1f}"


def _fmt(value):
    return "—" if value is None else f"{value:.3f}"


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
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
        return ["bands", *(f.name for f in ModelVersion._meta.fields if f.name not in ("notes", "id"))]

    def save_model(self, request, obj, form, change):
        obj.notes = mask_card_numbers(obj.notes)  # free text: a card number is masked, never stored
        super().save_model(request, obj, form, change)

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
        if not figures:
            return "—"
        labels = {"review": _("review"), "block": _("block")}
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    labels[f["band"]],
                    _fmt(f["threshold"]),
                    _fmt(f["precision"]),
                    _fmt(f["recall"]),
                    _per_day(f["per_day"]),
                )
                for f in figures
            ),
        )
        return format_html(
            '<table data-testid="bands"><caption>{}</caption><thead><tr><th></th><th>{}</th><th>{}</th>'
            "<th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
            _("On the %(period)s period") % {"period": PERIOD_NAMES.get(period, period)},
            _("threshold"),
            _("precision"),
            _("recall"),
            _("flagged per day"),
            rows,
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


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "summary", "action", "order", "active"]
    list_editable = ["order", "active"]
    list_filter = ["active", "kind", "action"]
    search_fields = ["name"]
    fieldsets = (
        (None, {"fields": ("name", "kind", "action", "order", "active")}),
        (
            _("Condition"),
            {
                "description": _("Fill only the fields the chosen kind needs."),
                "fields": ("amount", ("max_count", "window_minutes"), "values"),
            },
        ),
    )

    @admin.display(description=_("condition"))
    def summary(self, obj):
        if obj.kind == Rule.Kind.AMOUNT_ABOVE:
            return _("amount > %(amount)s") % {"amount": obj.amount}
        if obj.kind == Rule.Kind.VELOCITY:
            return _("> %(n)s transactions in %(m)s min") % {"n": obj.max_count, "m": obj.window_minutes}
        return obj.values


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
class ListEntryAdmin(admin.ModelAdmin):
    form = ListEntryForm
    list_display = ["value", "kind", "list_type", "reason", "expires_at", "active", "created_at"]
    list_filter = ["list_type", "kind", "active"]
    search_fields = ["value", "reason"]
    fields = ["list_type", "kind", "value", "reason", "expires_at", "active"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        obj.reason = mask_card_numbers(obj.reason)  # free text: masked, never stored
        super().save_model(request, obj, form, change)


# The learning loop's pages (retraining runs, dashboards) live in their own module.
from detection import admin_lifecycle  # noqa: E402, F401
