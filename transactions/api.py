"""Transactions, fraud reports, decisions without storing, and batch scoring, for integrators,
customers and analysts. Views validate input, call one service or selector, and render."""

from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction as db_transaction
from django.db.models import Q
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import generics, parsers, renderers, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import Role
from api.errors import api_error_response, django_validation_error_to_drf
from api.idempotency import idempotent, record_response
from api.models import ApiJob
from api.pagination import NewestFirstPagination
from api.permissions import (
    HasRole,
    IsAnalyst,
    IsIntegrator,
    request_has_role,
    role_permission,
)
from api.schema import AUTH_ERRORS, IDEMPOTENCY_KEY, errors
from api.serializers import ReusedFieldsMixin
from core import plausible
from core.validators import refuse_card_number
from detection import jobs
from detection.contracts import CARD_KEY_SEPARATOR, TransactionInput
from detection.sentences import lowers_risk, reason_sentence
from detection.serving import scoring
from transactions import conf, directory
from transactions.models import NOTE_MAX_LENGTH, Card, Decision, FraudReport, Merchant, Transaction
from transactions.selectors import fraud_reports_for, transaction_get_for, transactions_for
from transactions.services import (
    card_get_or_create,
    fraud_report_create,
    fraud_report_resolve,
    merchant_get_or_create,
    transaction_submitting,
)

# ---- serializers ---------------------------------------------------------------------------


class ReasonSerializer(ReusedFieldsMixin, serializers.Serializer):
    """Why: one reason of a decision."""

    code = serializers.CharField(help_text="Stable, machine-readable, e.g. `amount_vs_card_history`.")
    message = serializers.SerializerMethodField(
        help_text="A plain sentence, written in the request's language (Accept-Language) when it is read."
    )
    params = serializers.SerializerMethodField(
        help_text="The values the sentence speaks of, by name (e.g. `ratio`, `window`); empty for "
        "reasons recorded before they were kept."
    )
    direction = serializers.SerializerMethodField(
        help_text="`raises`: the reason raised the risk or decided; `lowers`: a factor that spoke for "
        "the payment (listed after those that raised it)."
    )

    @extend_schema_field(OpenApiTypes.STR)
    def get_message(self, reason):
        return reason_sentence(reason)

    @extend_schema_field({"type": "string", "enum": ["raises", "lowers"]})
    def get_direction(self, reason):
        return "lowers" if lowers_risk(reason) else "raises"

    @extend_schema_field({"type": "object", "additionalProperties": True})
    def get_params(self, reason):
        params = reason.get("params") if isinstance(reason, dict) else reason.params
        return params or {}


class DecisionFieldsMixin(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Decision.choices, help_text="approve, review or block.")
    risk_score = serializers.IntegerField(min_value=0, max_value=100, allow_null=True)
    score = serializers.FloatField(allow_null=True, help_text="The model's probability of fraud, 0–1.")
    model_version = serializers.CharField(allow_blank=True)
    decided_by = serializers.CharField(
        allow_blank=True, help_text="allow_list, block_list, rule, model or fallback."
    )
    model_fallback_from = serializers.CharField(
        allow_blank=True,
        help_text="Empty normally. When not empty, the champion named here could not be loaded (its "
        "artifact was refused, e.g. a checksum mismatch) and `model_version`, an earlier champion, "
        "scored instead.",
    )
    reasons = ReasonSerializer(many=True)


class StrictCharField(serializers.CharField):
    """A string, and only a string: `12` or `true` is a client bug, not an id."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def _amount_schema():
    return {
        "type": "string",
        "format": "decimal",
        # More than zero: a non-zero digit before the point, or zeros and non-zero cents.
        "pattern": r"^(?:[0-9]*[1-9][0-9]*(?:\.[0-9]{1,2})?|[0-9]*\.(?:0[1-9]|[1-9][0-9]?))$",
        "description": f"More than 0 and at most TRANSACTIONS_MAX_AMOUNT ({plausible.max_amount()} by "
        "default), with at most 2 decimal places, in ASCII digits. A JSON number is accepted too.",
        "example": "129.90",
    }


@extend_schema_field(
    {
        "oneOf": [
            _amount_schema(),
            {
                "type": "number",
                "minimum": 0,
                "exclusiveMinimum": True,
                "maximum": float(plausible.max_amount()),
                "multipleOf": 0.01,
            },
        ]
    }
)
class AmountField(serializers.Field):
    """An amount as every entry point reads it (core.plausible): ASCII digits, more than 0, at
    most the maximum, cents. DRF's DecimalField would read '４２' as 42."""

    def to_internal_value(self, data):
        try:
            return plausible.clean_amount(data)
        except DjangoValidationError as error:
            raise ValidationError(error.messages) from None

    def to_representation(self, value):
        return str(value)


class OccurredAtField(serializers.DateTimeField):
    """A date-time from the earliest plausible moment to now (plus clock skew), in ASCII digits:
    Django's parser reads '２０２６' as 2026."""

    def to_internal_value(self, value):
        try:
            plausible.check_ascii_date_text(value)
            return plausible.clean_occurred_at(super().to_internal_value(value))
        except DjangoValidationError as error:
            raise ValidationError(error.messages) from None


# Identifiers and names are refused when they hold a card number (core.validators): we never
# store one. The message does not quote the value.
NO_CARD_NUMBER = [refuse_card_number]


class TransactionInputSerializer(ReusedFieldsMixin, serializers.Serializer):
    """A transaction to decide (and, on POST /transactions/, to store)."""

    transaction_id = StrictCharField(
        max_length=64,
        required=False,
        validators=NO_CARD_NUMBER,
        help_text="Your unique id; generated when omitted. A duplicate is refused (400). "
        "Never a card number.",
    )
    card_id = StrictCharField(
        max_length=64,
        validators=NO_CARD_NUMBER,
        help_text="Your card or customer identifier (never a card number). Unknown ids are created.",
    )
    merchant_id = serializers.CharField(
        max_length=64,
        validators=NO_CARD_NUMBER,
        help_text="Merchant or terminal id (never a card number). Unknown ids are created.",
    )
    amount = AmountField()
    currency = serializers.RegexField(
        r"^[A-Z]{3}$", required=False, default="USD", help_text="ISO 4217, e.g. EUR."
    )
    occurred_at = OccurredAtField(
        required=False,
        help_text="ISO 8601; default: now. Not before TRANSACTIONS_EARLIEST_OCCURRED_AT (2000-01-01 by "
        "default), not in the future (beyond a few minutes of clock skew).",
    )
    channel = serializers.ChoiceField(
        choices=Transaction.Channel.choices,
        required=False,
        # DRF's message quotes the value, and an idempotent request's error answer is stored.
        error_messages={"invalid_choice": _("Choose one of: in store, online, contactless, ATM.")},
    )
    country = serializers.RegexField(r"^[A-Z]{2}$", required=False, help_text="ISO 3166-1 alpha-2.")
    merchant_name = serializers.CharField(max_length=200, required=False, validators=NO_CARD_NUMBER)
    merchant_category = serializers.CharField(
        max_length=32, required=False, validators=NO_CARD_NUMBER, help_text="MCC."
    )

    def validate_card_id(self, value):
        if any(not ch.isprintable() for ch in value):
            raise ValidationError(_("Send your own card identifier, never a card number."))
        return value


class TransactionOutputSerializer(ReusedFieldsMixin, DecisionFieldsMixin, serializers.Serializer):
    """A stored transaction with its decision."""

    id = serializers.IntegerField(source="pk")
    transaction_id = serializers.CharField(source="external_id")
    card_id = serializers.CharField(
        source="card.display_id", help_text="Your own id of the card (the bank's id of its customers' cards)."
    )
    merchant_id = serializers.CharField(source="merchant.external_id")
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    channel = serializers.CharField(allow_blank=True)
    country = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=Transaction.Status.choices)
    decision = serializers.CharField(
        allow_blank=True, help_text="approve, review or block; empty for imported history."
    )
    decided_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class DecisionOutputSerializer(ReusedFieldsMixin, DecisionFieldsMixin, serializers.Serializer):
    """A decision that was not stored."""


class ReportInputSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=NOTE_MAX_LENGTH, required=False, default="", allow_blank=True)
    source = serializers.ChoiceField(
        choices=[FraudReport.Source.INTEGRATOR, FraudReport.Source.CHARGEBACK],
        required=False,
        help_text="Integrators only: `integrator` (default) or `chargeback`.",
    )


class ReportOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    transaction_id = serializers.CharField(source="transaction.external_id")
    source = serializers.ChoiceField(choices=FraudReport.Source.choices)
    status = serializers.ChoiceField(choices=FraudReport.Status.choices)
    note = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolution_note = serializers.CharField(allow_blank=True)


class ReportResolveSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[FraudReport.Status.CONFIRMED, FraudReport.Status.REJECTED],
        help_text="`confirmed`: it was fraud; `rejected`: the transaction was legitimate.",
    )
    note = serializers.CharField(max_length=NOTE_MAX_LENGTH, required=False, default="", allow_blank=True)


class BatchInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV in the canonical transaction format (UTF-8, header row).")


class BatchOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.ChoiceField(choices=ApiJob.Status.choices)
    progress = serializers.FloatField(help_text="0–1.")
    total = serializers.IntegerField(help_text="Rows in the file.")
    processed = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    result_url = serializers.SerializerMethodField(help_text="The scored CSV, once `status` is succeeded.")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_result_url(self, job) -> str | None:
        if job.status != ApiJob.Status.SUCCEEDED:
            return None
        request = self.context.get("request")
        path = f"/api/v1/batches/{job.public_id}/result/"
        return request.build_absolute_uri(path) if request else path


# ---- transactions --------------------------------------------------------------------------


class TransactionFilter(filters.FilterSet):
    card = filters.CharFilter(method="filter_card", help_text="Card id, as `card_id` shows it.")
    merchant = filters.CharFilter(field_name="merchant__external_id", help_text="Merchant id.")
    decision = filters.ChoiceFilter(choices=Decision.choices)
    status = filters.ChoiceFilter(choices=Transaction.Status.choices)
    occurred_after = filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Transaction
        fields = []

    def filter_card(self, queryset, name, value):
        """The caller's own card first (an integrator's id is a key in its namespace: one indexed
        equality), the bank's card of that id, and for staff any integrator's card shown so."""
        request = self.request
        match = Q(card__external_id=value)
        if request is not None and request_has_role(request, Role.INTEGRATOR):
            match |= Q(card__external_id=Card.key_for(value, issuer_id=request.user.pk))
        if request is not None and request_has_role(request, Role.ANALYST, Role.MODEL_MANAGER):
            match |= Q(card__issuer__isnull=False, card__external_id__endswith=CARD_KEY_SEPARATOR + value)
        return queryset.filter(match)


class TransactionPagination(NewestFirstPagination):
    ordering = ("-occurred_at", "-id")


EXAMPLE_TRANSACTION = {
    "transaction_id": "tx_2026_000123",
    "card_id": "card_8f3a",
    "merchant_id": "m_4521",
    "amount": "129.90",
    "currency": "EUR",
    "occurred_at": "2026-11-20T14:03:00Z",
    "channel": "online",
    "country": "FR",
}
EXAMPLE_DECIDED = {
    "id": 1042,
    **EXAMPLE_TRANSACTION,
    "status": "pending_review",
    "decision": "review",
    "risk_score": 71,
    "score": 0.71,
    "model_version": "2026-11-18.1",
    "decided_by": "model",
    "model_fallback_from": "",
    "reasons": [
        {
            "code": "amount_vs_card_history",
            "message": "Amount is 9× this card's usual spending",
            "params": {"ratio": 9.0},
            "direction": "raises",
        },
        {
            "code": "merchant_volume",
            "message": "Usual activity at this merchant in the last 30 days",
            "params": {"window": "30d"},
            "direction": "lowers",
        },
    ],
    "decided_at": "2026-11-20T14:03:00.041Z",
    "created_at": "2026-11-20T14:03:00.041Z",
}


# The services name some fields as the models do; the API names them as the CSV format does.
SERVICE_FIELDS = {"external_id": "transaction_id", "merchant_country": "country"}


@contextmanager
def _submitting(*, data, user):
    """Resolve the card (in the submitting integrator's own namespace) and the merchant, then let
    the service decide and store, all or nothing; the stored transaction is yielded inside the
    database transaction that stores it."""
    try:
        with _submitting_atomically(data=data, user=user) as tx:
            yield tx
    except DjangoValidationError as error:
        if hasattr(error, "error_dict"):
            error = DjangoValidationError(
                {SERVICE_FIELDS.get(key, key): value for key, value in error.error_dict.items()}
            )
        raise error from None


@contextmanager
def _submitting_atomically(*, data, user):
    def submitting(card, merchant):
        return transaction_submitting(
            card=card,
            merchant=merchant,
            amount=data["amount"],
            occurred_at=data.get("occurred_at"),
            currency=data.get("currency", "USD"),
            channel=data.get("channel", ""),
            country=data.get("country", ""),
            external_id=data.get("transaction_id"),
            submitted_by=user,
        )

    # Known card and merchant (the usual case): the service decides outside any transaction and
    # locks only to store, so deciding never holds a lock (on SQLite, the database's).
    # The card is looked up by its key in the submitter's namespace: the same one indexed lookup
    # (or cache hit) whether or not anyone else uses this id, so nothing tells them apart.
    card = directory.lookup(Card, Card.key_for(data["card_id"], issuer_id=user.pk))
    if card is not None and card.issuer_id != user.pk:
        card = None  # never lend out another namespace's card: the service refuses it below
    merchant = directory.lookup(Merchant, data["merchant_id"])
    if card is not None and merchant is not None:
        with submitting(card, merchant) as tx:
            yield tx
        return
    # A new card or merchant is created together with its first transaction, or not at all.
    with db_transaction.atomic():
        card = card or card_get_or_create(external_id=data["card_id"], issuer=user)
        merchant = merchant or merchant_get_or_create(
            external_id=data["merchant_id"],
            name=data.get("merchant_name", ""),
            category=data.get("merchant_category", ""),
            country=data.get("country", ""),
        )
        with submitting(card, merchant) as tx:
            yield tx


@extend_schema_view(
    get=extend_schema(
        operation_id="transactions_list",
        summary="List transactions",
        description="Newest first, cursor-paginated. Integrators see the transactions they submitted, "
        "customers those of their cards, analysts all.",
        responses={200: TransactionOutputSerializer(many=True), **errors(400, *AUTH_ERRORS)},
        tags=["transactions"],
    ),
)
class TransactionListCreateView(generics.ListAPIView):
    serializer_class = TransactionOutputSerializer
    filterset_class = TransactionFilter
    pagination_class = TransactionPagination

    def get_throttles(self):
        self.throttle_scope = "submit" if self.request.method == "POST" else "read"
        return super().get_throttles()

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsIntegrator()]
        return super().get_permissions()

    def get_queryset(self):
        return transactions_for(self.request.user).select_related("card", "merchant")

    @extend_schema(
        operation_id="transactions_create",
        summary="Submit a transaction and get its decision",
        description="Decides at once (lists, rules, then the model) and stores the transaction with its "
        "decision and reasons. Send an `Idempotency-Key` so that retries never decide twice. Unknown "
        "`card_id` and `merchant_id` values are created on first use. `review` holds the amount "
        "against the card's credit until an analyst decides; `block` declines.",
        parameters=[IDEMPOTENCY_KEY],
        request=TransactionInputSerializer,
        responses={
            201: OpenApiResponse(TransactionOutputSerializer, description="Decided and stored."),
            **errors(400, *AUTH_ERRORS, 409, 413, 415, 422),
        },
        examples=[
            OpenApiExample("Online purchase", value=EXAMPLE_TRANSACTION, request_only=True),
            OpenApiExample(
                "Held for review", value=EXAMPLE_DECIDED, response_only=True, status_codes=["201"]
            ),
        ],
        tags=["transactions"],
    )
    @idempotent(records_within_work=True)
    def post(self, request):
        serializer = TransactionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with _submitting(data=serializer.validated_data, user=request.user) as tx:
            response = Response(TransactionOutputSerializer(tx).data, status=status.HTTP_201_CREATED)
            record_response(request, response)  # in the payment's transaction: the key is claimed with it
        return response


class TransactionDetailView(APIView):
    throttle_scope = "read"

    @extend_schema(
        operation_id="transactions_retrieve",
        summary="Read a transaction and its decision",
        description="`id` is our numeric id or your `transaction_id`. Someone else's transaction is 404.",
        responses={200: TransactionOutputSerializer, **errors(404, *AUTH_ERRORS)},
        tags=["transactions"],
    )
    def get(self, request, id):
        return Response(TransactionOutputSerializer(transaction_get_for(request.user, id)).data)


ReportersPermission = role_permission(Role.CUSTOMER, Role.INTEGRATOR, Role.ANALYST)


def _report_source(request, requested):
    if request_has_role(request, Role.ANALYST):
        return FraudReport.Source.ANALYST
    if request_has_role(request, Role.INTEGRATOR):
        return requested or FraudReport.Source.INTEGRATOR
    return FraudReport.Source.CUSTOMER


class TransactionReportsView(APIView):
    permission_classes = [ReportersPermission]
    throttle_scope = "read"
    pagination_class = None

    @extend_schema(
        operation_id="transactions_reports_list",
        summary="Fraud reports of a transaction",
        responses={200: ReportOutputSerializer(many=True), **errors(404, *AUTH_ERRORS)},
        tags=["reports"],
    )
    def get(self, request, id):
        tx = transaction_get_for(request.user, id)
        return Response(ReportOutputSerializer(tx.reports.select_related("transaction"), many=True).data)

    @extend_schema(
        operation_id="transactions_reports_create",
        summary="Report a transaction as fraud",
        description="Opens a fraud report for an analyst to resolve. Customers report their own "
        "transactions, integrators those they submitted.",
        request=ReportInputSerializer,
        responses={201: ReportOutputSerializer, **errors(400, 404, *AUTH_ERRORS)},
        examples=[
            OpenApiExample(
                "Chargeback", value={"source": "chargeback", "note": "Cardholder dispute"}, request_only=True
            )
        ],
        tags=["reports"],
    )
    def post(self, request, id):
        tx = transaction_get_for(request.user, id)
        serializer = ReportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = fraud_report_create(
            transaction=tx,
            reported_by=request.user,
            source=_report_source(request, serializer.validated_data.get("source")),
            note=serializer.validated_data["note"],
        )
        return Response(ReportOutputSerializer(report).data, status=status.HTTP_201_CREATED)


# ---- the analysts' queue -------------------------------------------------------------------


class ReportFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=FraudReport.Status.choices)
    source = filters.ChoiceFilter(choices=FraudReport.Source.choices)

    class Meta:
        model = FraudReport
        fields = []


@extend_schema_view(
    get=extend_schema(
        operation_id="reports_list",
        summary="The fraud report queue",
        description="Analysts only. Filter `status=open` for the work queue.",
        responses={200: ReportOutputSerializer(many=True), **errors(400, *AUTH_ERRORS)},
        tags=["reports"],
    ),
)
class ReportListView(generics.ListAPIView):
    permission_classes = [IsAnalyst]
    serializer_class = ReportOutputSerializer
    filterset_class = ReportFilter
    throttle_scope = "read"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return FraudReport.objects.none()
        return fraud_reports_for(self.request.user).select_related("transaction")


class ReportDetailView(APIView):
    permission_classes = [IsAnalyst]
    throttle_scope = "read"

    def get_object(self, request, pk):
        return get_object_or_404(fraud_reports_for(request.user).select_related("transaction"), pk=pk)

    @extend_schema(
        operation_id="reports_retrieve",
        summary="Read a fraud report",
        responses={200: ReportOutputSerializer, **errors(404, *AUTH_ERRORS)},
        tags=["reports"],
    )
    def get(self, request, pk):
        return Response(ReportOutputSerializer(self.get_object(request, pk)).data)

    @extend_schema(
        operation_id="reports_resolve",
        summary="Resolve a fraud report",
        description="Confirm (the transaction becomes confirmed fraud and is labelled) or reject it.",
        request=ReportResolveSerializer,
        responses={200: ReportOutputSerializer, **errors(400, 404, *AUTH_ERRORS)},
        examples=[
            OpenApiExample(
                "Confirm", value={"status": "confirmed", "note": "Cardholder confirmed"}, request_only=True
            )
        ],
        tags=["reports"],
    )
    def patch(self, request, pk):
        report = self.get_object(request, pk)
        serializer = ReportResolveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = fraud_report_resolve(
            report=report,
            resolved_by=request.user,
            confirmed=serializer.validated_data["status"] == FraudReport.Status.CONFIRMED,
            note=serializer.validated_data["note"],
        )
        return Response(ReportOutputSerializer(report).data)


# ---- deciding without storing --------------------------------------------------------------


def _card_issuer(request):
    """Whose card ids the caller speaks: an integrator its own namespace's, staff the cards' keys."""
    return request.user if request_has_role(request, Role.INTEGRATOR) else None


def _decision_preview(data, *, issuer=None):
    """What detection would decide now, reading (never creating) the card and merchant. An
    integrator's `card_id` names its own card only: another party's history, lists and credit are
    never read, and an id nobody of theirs uses reads as a new card, whoever else uses it."""
    issuer_id = issuer.pk if issuer is not None else None
    key = Card.key_for(data["card_id"], issuer_id=issuer_id)
    card = directory.lookup(Card, key)
    if card is not None and issuer_id is not None and card.issuer_id != issuer_id:
        raise DjangoValidationError({"card_id": _("This card id cannot be used; choose another one.")})
    merchant = directory.lookup(Merchant, data["merchant_id"])
    occurred_at = data.get("occurred_at") or timezone.now()
    return scoring.decide(
        TransactionInput(
            transaction_id=data.get("transaction_id") or "preview",
            occurred_at=occurred_at,
            card_id=key,
            merchant_id=data["merchant_id"],
            amount=data["amount"],
            currency=data.get("currency", "USD"),
            merchant_category=data.get("merchant_category") or (merchant.category if merchant else ""),
            channel=data.get("channel", ""),
            country=data.get("country") or (merchant.country if merchant else ""),
            card_fingerprint=(card.fingerprint or "") if card else "",
        )
    )


class ScorePermission(HasRole):
    roles = (Role.INTEGRATOR, Role.ANALYST)


class ScoreView(APIView):
    permission_classes = [ScorePermission]
    throttle_scope = "submit"

    @extend_schema(
        operation_id="decisions_score",
        summary="Decide without storing",
        description="The decision the transaction would get now, with its reasons; nothing is stored "
        "and no balance changes. Integrators and analysts.",
        request=TransactionInputSerializer,
        responses={200: DecisionOutputSerializer, **errors(400, *AUTH_ERRORS, 415)},
        examples=[OpenApiExample("Online purchase", value=EXAMPLE_TRANSACTION, request_only=True)],
        tags=["decisions"],
    )
    def post(self, request):
        serializer = TransactionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        decision = _decision_preview(serializer.validated_data, issuer=_card_issuer(request))
        return Response(DecisionOutputSerializer(decision).data)


# ---- batches -------------------------------------------------------------------------------


class BatchPermission(HasRole):
    roles = (Role.INTEGRATOR, Role.ANALYST, Role.MODEL_MANAGER)


def _jobs_for(user):
    return ApiJob.objects.filter(owner=user, kind=ApiJob.Kind.BATCH_SCORE)


class BatchCreateView(APIView):
    permission_classes = [BatchPermission]
    parser_classes = [parsers.MultiPartParser]
    throttle_scope = "batch"

    @extend_schema(
        operation_id="batches_create",
        summary="Score a CSV file in the background",
        description="Upload a CSV in the canonical transaction format (`transaction_id, occurred_at, "
        "card_id, merchant_id, amount` required; `currency, merchant_category, channel, country` "
        "optional). Every row is checked first: a file with a bad row is refused with the line "
        "numbers and nothing is stored. Each transaction is scored with the history in the file "
        "before it. Poll `GET /batches/{id}/`, then download `result_url`. Limit: 10 MB.",
        request={"multipart/form-data": BatchInputSerializer},
        responses={202: BatchOutputSerializer, **errors(400, *AUTH_ERRORS, 413, 415)},
        tags=["batches"],
    )
    def post(self, request):
        serializer = BatchInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        if upload.size > conf.batch_max_bytes():
            return api_error_response(
                "file_too_large",
                _("The file is larger than the %(mb)d MB limit.")
                % {"mb": conf.batch_max_bytes() // (1024 * 1024)},
                status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        try:
            job = jobs.batch_start(owner=request.user, upload=upload)
        except DjangoValidationError as error:
            raise django_validation_error_to_drf(error) from None
        job.refresh_from_db()
        return Response(
            BatchOutputSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED
        )


class BatchDetailView(APIView):
    permission_classes = [BatchPermission]
    throttle_scope = "read"

    @extend_schema(
        operation_id="batches_retrieve",
        summary="Status and progress of a batch",
        responses={200: BatchOutputSerializer, **errors(404, *AUTH_ERRORS)},
        tags=["batches"],
    )
    def get(self, request, id):
        job = get_object_or_404(_jobs_for(request.user), public_id=id)
        return Response(BatchOutputSerializer(job, context={"request": request}).data)


class CSVRenderer(renderers.BaseRenderer):
    """Lets clients ask for `Accept: text/csv`; errors still go out as JSON bytes."""

    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return renderers.JSONRenderer().render(data)


class BatchResultView(APIView):
    permission_classes = [BatchPermission]
    renderer_classes = [renderers.JSONRenderer, CSVRenderer]
    throttle_scope = "read"

    @extend_schema(
        operation_id="batches_result",
        summary="Download the scored CSV",
        description="Columns `transaction_id, score, risk_score, decision, reasons` (reasons `;`-joined codes). "
        "404 until the batch has succeeded.",
        responses={
            (200, "text/csv"): OpenApiResponse(bytes, description="The scored CSV."),
            **errors(404, *AUTH_ERRORS),
        },
        tags=["batches"],
    )
    def get(self, request, id):
        job = get_object_or_404(_jobs_for(request.user), public_id=id, status=ApiJob.Status.SUCCEEDED)
        response = FileResponse(
            job.result_file.open("rb"),
            content_type="text/csv",
            as_attachment=True,
            filename=f"batch-{job.public_id}-scores.csv",
        )
        return response
