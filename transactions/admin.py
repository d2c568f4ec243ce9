"""Staff side: cards (masked), merchants, transactions and the fraud report queue. Anything that
moves money or labels a transaction goes through the services, so balances and the audit trail
stay right; the decision fields are read-only."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Case, IntegerField, Value, When
from django.urls import path
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.validators import refuse_card_number
from detection.sentences import lowers_risk, reason_sentence
from transactions import services
from transactions.admin_queue import review_queue_view
from transactions.models import Card, FraudReport, Merchant, Transaction


def card_namespace(card):
    """Whose id a card's id is: the bank's, or an integrator's (staff see which one)."""
    if card.issuer_id is None:
        return _("Bank")
    return _("Integrator %(email)s") % {"email": card.issuer.email}


def _report_outcome(modeladmin, request, done, failed):
    if done:
        modeladmin.message_user(
            request, ngettext("%d item updated.", "%d items updated.", done) % done, messages.SUCCESS
        )
    for obj, error in failed:
        text = " ".join(m for ms in error.message_dict.values() for m in ms)
        modeladmin.message_user(request, f"{obj}: {text}", messages.WARNING)


def _apply(modeladmin, request, queryset, service):
    done, failed = 0, []
    for obj in queryset:
        try:
            service(obj)
        except ValidationError as error:
            failed.append((obj, error))
        else:
            done += 1
    _report_outcome(modeladmin, request, done, failed)


@admin.register(Card)
class CardAdmin(admin.ModelAdmin):
    list_display = [
        "external_id",
        "namespace",
        "masked",
        "brand",
        "owner",
        "status",
        "balance",
        "held",
        "credit_limit",
    ]
    list_filter = ["status", "brand", ("issuer", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["external_id", "last4", "owner__email", "issuer__email"]
    list_select_related = ["owner", "issuer"]
    # Never the fingerprint or anything but the 6+4 digits, and money only moves through services.
    fields = [
        "external_id",
        "namespace",
        "display_id",
        "owner",
        "masked",
        "brand",
        "expiry_month",
        "expiry_year",
        "cardholder_name",
        "credit_limit",
        "balance",
        "held",
        "available",
        "status",
        "created_at",
    ]
    readonly_fields = [f for f in fields if f != "credit_limit"]
    actions = ["freeze", "unfreeze"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # The only editable field; through the service so the change is audited.
        if change and "credit_limit" in form.changed_data:
            services.card_set_credit_limit(card=obj, credit_limit=obj.credit_limit, actor=request.user)

    @admin.display(description=_("card number"))
    def masked(self, obj):
        return obj.masked_number or "—"

    @admin.display(description=_("whose card id"), ordering="issuer__email")
    def namespace(self, obj):
        return card_namespace(obj)

    @admin.display(description=_("card id, as its owner knows it"))
    def display_id(self, obj):
        return obj.display_id

    @admin.display(description=_("available credit"))
    def available(self, obj):
        return obj.available_credit

    @admin.action(description=_("Freeze selected cards"), permissions=["change"])
    def freeze(self, request, queryset):
        _apply(
            self,
            request,
            queryset,
            lambda card: services.card_set_status(card=card, status="frozen", actor=request.user),
        )

    @admin.action(description=_("Unfreeze selected cards"), permissions=["change"])
    def unfreeze(self, request, queryset):
        _apply(
            self,
            request,
            queryset,
            lambda card: services.card_set_status(card=card, status="active", actor=request.user),
        )


class MerchantForm(forms.ModelForm):
    """A merchant's id, name and category are identifiers: one holding a card number is refused,
    as on every other channel (core.validators)."""

    class Meta:
        model = Merchant
        fields = ["external_id", "name", "category", "country", "latitude", "longitude"]

    def clean(self):
        cleaned = super().clean()
        for name in ("external_id", "name", "category"):
            try:
                refuse_card_number(cleaned.get(name))
            except ValidationError as error:
                self.add_error(name, error)
        return cleaned


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    form = MerchantForm
    list_display = ["external_id", "name", "category", "country"]
    list_filter = ["country", "category"]
    search_fields = ["external_id", "name"]


class FraudReportInline(admin.TabularInline):
    model = FraudReport
    fk_name = "transaction"
    extra = 0
    can_delete = False
    fields = ["created_at", "source", "reported_by", "status", "note", "resolved_by", "resolved_at"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    list_display = [
        "external_id",
        "occurred_at",
        "card_last4",
        "merchant",
        "amount",
        "decision",
        "risk_score",
        "status",
        "is_fraud",
    ]
    list_filter = [
        "decision",
        "status",
        "occurred_at",
        "channel",
        ("merchant", admin.RelatedOnlyFieldListFilter),
        "is_fraud",
    ]
    search_fields = [
        "external_id",
        "card__last4",
        "card__external_id",
        "merchant__external_id",
        "merchant__name",
    ]
    list_select_related = ["card", "card__issuer", "merchant"]
    date_hierarchy = "occurred_at"
    inlines = [FraudReportInline]
    actions = ["review_legitimate", "review_fraud"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "external_id",
                    "card",
                    "merchant",
                    "amount",
                    "currency",
                    "occurred_at",
                    "channel",
                    "country",
                    "submitted_by",
                ]
            },
        ),
        (
            _("Decision"),
            {
                "fields": [
                    "decision",
                    "risk_score",
                    "score",
                    "model_version",
                    "model_fallback_from",
                    "decided_by",
                    "decided_at",
                    "rule_hits",
                    "reasons_read",
                    "features",
                ]
            },
        ),
        (_("Outcome"), {"fields": ["status", "is_fraud", "label_known_at", "label_source", "created_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        # Money and labels change only through the actions, which go through the services.
        return [f for fieldset in self.fieldsets for f in fieldset[1]["fields"]]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("reasons"))
    def reasons_read(self, obj):
        """The reasons in the reader's language, one per line (stored as codes and values)."""
        lowered = _("(lowered the risk)")
        return (
            format_html_join(
                mark_safe("<br>"),
                "{} <code>{}</code> {}",
                (
                    (reason_sentence(r), r.get("code", ""), lowered if lowers_risk(r) else "")
                    for r in obj.reasons
                ),
            )
            or "—"
        )

    @admin.display(description=_("card"), ordering="card__last4")
    def card_last4(self, obj):
        if obj.card.last4:
            return f"•••• {obj.card.last4}"
        if obj.card.issuer_id is not None:
            return f"{obj.card.display_id} ({card_namespace(obj.card)})"
        return obj.card.external_id

    @admin.action(description=_("Review: approve as legitimate"), permissions=["change"])
    def review_legitimate(self, request, queryset):
        _apply(
            self,
            request,
            queryset,
            lambda tx: services.transaction_review_resolve(
                transaction=tx, actor=request.user, is_fraud=False
            ),
        )

    @admin.action(description=_("Review: decline as fraud"), permissions=["change"])
    def review_fraud(self, request, queryset):
        _apply(
            self,
            request,
            queryset,
            lambda tx: services.transaction_review_resolve(transaction=tx, actor=request.user, is_fraud=True),
        )


class OpenFirstFilter(admin.SimpleListFilter):
    title = _("queue")
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [("open", _("Open reports only"))]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(status=FraudReport.Status.OPEN)
        return queryset


@admin.register(FraudReport)
class FraudReportAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "transaction",
        "amount",
        "source",
        "reported_by",
        "status",
        "resolved_by",
    ]
    list_display_links = ["id", "created_at"]
    list_filter = [OpenFirstFilter, "status", "source", "created_at"]
    search_fields = ["transaction__external_id", "transaction__card__last4", "note"]
    list_select_related = ["transaction", "reported_by", "resolved_by"]
    actions = ["confirm_fraud", "reject"]
    fields = [
        "transaction",
        "amount",
        "transaction_status",
        "source",
        "reported_by",
        "note",
        "created_at",
        "status",
        "resolved_by",
        "resolved_at",
        "resolution_note",
    ]
    readonly_fields = fields

    def get_urls(self):
        queue = self.admin_site.admin_view(lambda request: review_queue_view(request, self.admin_site))
        return [path("queue/", queue, name="transactions_review_queue"), *super().get_urls()]

    def get_ordering(self, request):
        # The queue: open reports first, oldest first; resolved ones after them.
        open_first = Case(
            When(status=FraudReport.Status.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField()
        )
        return [open_first.asc(), "created_at", "id"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("amount"))
    def amount(self, obj):
        return f"{obj.transaction.amount} {obj.transaction.currency}"

    @admin.display(description=_("transaction status"))
    def transaction_status(self, obj):
        return obj.transaction.get_status_display()

    @admin.action(description=_("Confirm fraud"), permissions=["change"])
    def confirm_fraud(self, request, queryset):
        _apply(
            self,
            request,
            queryset,
            lambda report: services.fraud_report_resolve(
                report=report, resolved_by=request.user, confirmed=True
            ),
        )

    @admin.action(description=_("Reject (legitimate)"), permissions=["change"])
    def reject(self, request, queryset):
        _apply(
            self,
            request,
            queryset,
            lambda report: services.fraud_report_resolve(
                report=report, resolved_by=request.user, confirmed=False
            ),
        )
