"""Staff side: cards (masked), merchants, transactions and the fraud report queue. Anything that
moves money or labels a transaction goes through the services, so balances and the audit trail
stay right; the decision fields are read-only."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, IntegerField, Value, When
from django.shortcuts import redirect
from django.urls import path
from django.utils.formats import date_format, number_format
from django.utils.html import format_html
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin_filters import AutocompleteFilter, autocomplete_filter_media
from core.validators import refuse_card_number
from transactions import services
from transactions.admin_case import case_view
from transactions.admin_queue import review_queue_view
from transactions.models import Card, FraudReport, Merchant, Transaction
from transactions.templatetags.transactions_ui import risk_level


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


# Decision badges: approve reads calm, review amber, block red.
DECISION_BADGES = {"approve": "badge-ok", "review": "badge-warn", "block": "badge-bad"}
RISK_BADGES = {"high": "badge-bad", "medium": "badge-warn", "low": "badge-ok"}


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    # The columns an analyst reads first, narrow enough for a laptop screen; the id and the rest
    # are on the transaction's case page.
    list_display = [
        "occurred_display",
        "amount_display",
        "risk_display",
        "decision_display",
        "status",
        "card_last4",
        "merchant_display",
        "label_display",
    ]
    list_display_links = ["occurred_display"]
    list_filter = [
        "decision",
        "status",
        "is_fraud",
        "channel",
        ("merchant", AutocompleteFilter),
        ("card", AutocompleteFilter),
        "occurred_at",
    ]
    search_fields = [
        "external_id",
        "card__last4",
        "card__external_id",
        "merchant__external_id",
        "merchant__name",
    ]
    list_select_related = ["card", "card__issuer", "merchant"]
    # Counting every transaction again for "N total" doubles the page's cost on a big table.
    show_full_result_count = False
    list_per_page = 50
    ordering = ["-occurred_at", "-pk"]
    actions = ["review_legitimate", "review_fraud"]

    @property
    def media(self):
        return super().media + autocomplete_filter_media(self, "merchant")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # "Select transaction to change" reads wrong: nothing here is changed in a form.
        return super().changelist_view(request, {"title": _("Transactions"), **(extra_context or {})})

    def get_urls(self):
        case = self.admin_site.admin_view(self.case_by_reference)
        return [
            path("case/<path:external_id>/", case, name="transactions_transaction_case"),
            *super().get_urls(),
        ]

    def case_by_reference(self, request, external_id):
        """The case page of the transaction with this id (its external id, as reports and
        backtests name transactions)."""
        tx = self.get_queryset(request).filter(external_id=external_id).first()
        if tx is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, external_id)
        if not self.has_view_or_change_permission(request, tx):
            raise PermissionDenied
        return redirect("admin:transactions_transaction_change", tx.pk)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A transaction is never edited in a form: its page is the case (admin_case), where the
        # analyst's actions go through the services.
        tx = self.get_object(request, unquote(object_id))
        if tx is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, tx):
            raise PermissionDenied
        return case_view(request, self, tx)

    @admin.display(description=_("when"), ordering="occurred_at")
    def occurred_display(self, obj):
        return date_format(localtime(obj.occurred_at), "SHORT_DATETIME_FORMAT")

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj):
        return f"{number_format(obj.amount, 2, force_grouping=True)} {obj.currency}"

    @admin.display(description=_("risk"), ordering="risk_score")
    def risk_display(self, obj):
        if obj.risk_score is None:
            return "—"
        return format_html(
            '<span class="badge {}">{}</span>', RISK_BADGES[risk_level(obj.risk_score)], obj.risk_score
        )

    @admin.display(description=_("decision"), ordering="decision")
    def decision_display(self, obj):
        if not obj.decision:
            return "—"
        return format_html(
            '<span class="badge {}">{}</span>',
            DECISION_BADGES.get(obj.decision, ""),
            obj.get_decision_display(),
        )

    @admin.display(description=_("merchant"), ordering="merchant__name")
    def merchant_display(self, obj):
        return obj.merchant.name or obj.merchant.external_id

    @admin.display(description=_("label"), ordering="is_fraud")
    def label_display(self, obj):
        if obj.is_fraud is None:
            return "—"
        if obj.is_fraud:
            return format_html('<span class="badge badge-bad">{}</span>', _("Fraud"))
        return format_html('<span class="badge badge-ok">{}</span>', _("Legitimate"))

    @admin.display(description=_("card"), ordering="card__last4")
    def card_last4(self, obj):
        if obj.card.last4:
            return f"•••• {obj.card.last4}"
        if obj.card.issuer_id is not None:  # two integrators may both have a card "c1": say whose
            return format_html(
                '{}<br><small class="card-namespace">{}</small>',
                obj.card.display_id,
                card_namespace(obj.card),
            )
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

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A report is read, and settled, on its transaction's case page, beside the card's
        # history and the other reports.
        report = self.get_object(request, unquote(object_id))
        if report is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        return redirect("admin:transactions_transaction_change", report.transaction_id)

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
