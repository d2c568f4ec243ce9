"""Reads of the transactions app, always scoped to who is asking.

Customers see their own cards and everything on them; analysts, model managers and superusers
see everything; integrators see what they submitted and the cards of their own namespace (see
`Card`). A row outside the scope does not exist for the asker (404), so ids cannot be probed.
"""

from dataclasses import dataclass, field

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.roles import Role, has_role, user_roles
from core.text import is_ascii_digits
from transactions.categories import SIMULATED_PREFIX
from transactions.models import Card, FraudReport, Merchant, Transaction

RECENT_TRANSACTIONS = 10
# Fraud reports on the overview: every open one, then the latest closed ones up to this many.
RECENT_REPORTS = 5
# Primary keys are 64-bit: a longer run of digits names no row (and int() of thousands of digits
# raises). ASCII digits only: '¹'.isdigit() is True, but int('¹') fails.
MAX_PK_DIGITS = 18


def _sees_everything(user):
    return has_role(user, Role.ANALYST) or has_role(user, Role.MODEL_MANAGER)  # superusers pass too


def _transaction_scope(user):
    """The Q that limits transactions to `user`, or None for no limit; Q(pk__in=[]) for nothing."""
    if not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    if _sees_everything(user):
        return None
    roles = set(user_roles(user))
    scope = Q(pk__in=[])
    if Role.CUSTOMER in roles:
        scope |= Q(card__owner=user)
    if Role.INTEGRATOR in roles:
        scope |= Q(submitted_by=user)
    return scope


def transactions_for(user) -> QuerySet[Transaction]:
    transactions = Transaction.objects.select_related("card", "merchant")
    scope = _transaction_scope(user)
    return transactions if scope is None else transactions.filter(scope)


def transaction_get_for(user, pk_or_external_id) -> Transaction:
    """One transaction by its external id or, failing that, its numeric primary key."""
    transactions = transactions_for(user)
    value = str(pk_or_external_id)
    found = transactions.filter(external_id=value).first()
    if found is None and is_ascii_digits(value) and len(value) <= MAX_PK_DIGITS:
        found = transactions.filter(pk=int(value)).first()
    if found is None:
        raise Http404("No such transaction.")
    return found


def fraud_reports_for(user) -> QuerySet[FraudReport]:
    reports = FraudReport.objects.select_related(
        "transaction", "transaction__card", "transaction__merchant", "reported_by", "resolved_by"
    )
    scope = _transaction_scope(user)
    if scope is None:
        return reports
    visible = Transaction.objects.filter(scope).values("pk")
    return reports.filter(Q(transaction__in=visible) | Q(reported_by=user))


def open_report_of(transaction) -> FraudReport | None:
    return transaction.reports.filter(status=FraudReport.Status.OPEN).first()


@dataclass
class CardSummary:
    card: Card
    transaction_count: int

    @property
    def used_percent(self):
        return self.card.used_percent


@dataclass
class CustomerDashboard:
    cards: list[CardSummary] = field(default_factory=list)
    recent_transactions: list[Transaction] = field(default_factory=list)
    # Every open report, then the latest closed ones (RECENT_REPORTS); all of them on their page.
    fraud_reports: list[FraudReport] = field(default_factory=list)
    report_count: int = 0

    @property
    def total_balance(self):
        return sum((summary.card.balance for summary in self.cards), start=0)

    @property
    def total_available(self):
        return sum((summary.card.available_credit for summary in self.cards), start=0)

    @property
    def open_reports(self):
        return sum(1 for report in self.fraud_reports if report.status == FraudReport.Status.OPEN)


def customer_dashboard(user) -> CustomerDashboard:
    """What a customer sees first: their own cards (balance, limit, available credit), their
    latest transactions and their fraud history. Only the cards they own, whatever their role."""
    if not user.is_authenticated:
        return CustomerDashboard()
    cards = (
        Card.objects.filter(owner=user)
        .annotate(transaction_count=Count("transactions"))
        .order_by("created_at", "pk")
    )
    recent = (
        Transaction.objects.filter(card__owner=user)
        .select_related("card", "merchant")
        .order_by("-occurred_at", "-pk")[:RECENT_TRANSACTIONS]
    )
    reports = customer_reports(user)
    open_reports = list(reports.filter(status=FraudReport.Status.OPEN))
    closed = list(reports.exclude(status=FraudReport.Status.OPEN)[:RECENT_REPORTS])
    return CustomerDashboard(
        cards=[CardSummary(card=card, transaction_count=card.transaction_count) for card in cards],
        recent_transactions=list(recent),
        fraud_reports=open_reports + closed,
        report_count=reports.count(),
    )


# --- the customer's own pages: only what the signed-in person owns, whatever their roles ---------


def customer_cards(user) -> QuerySet[Card]:
    if not user.is_authenticated:
        return Card.objects.none()
    return Card.objects.filter(owner=user).order_by("created_at", "pk")


def customer_transactions(user, *, card=None, status="", since=None) -> QuerySet[Transaction]:
    if not user.is_authenticated:
        return Transaction.objects.none()
    transactions = Transaction.objects.filter(card__owner=user).select_related("card", "merchant")
    if card is not None:
        transactions = transactions.filter(card=card)
    if status:
        transactions = transactions.filter(status=status)
    if since is not None:
        transactions = transactions.filter(occurred_at__gte=since)
    return transactions.order_by("-occurred_at", "-pk")


def customer_payment_by_key(user, payment_key) -> Transaction | None:
    """The payment this customer already made from the form with this key, if any."""
    return customer_transactions(user).filter(external_id=Transaction.web_payment_id(payment_key)).first()


def customer_transaction_get(user, pk) -> Transaction:
    return get_object_or_404(customer_transactions(user), pk=pk)


def customer_card_get(user, pk) -> Card:
    return get_object_or_404(customer_cards(user), pk=pk)


def customer_reports(user) -> QuerySet[FraudReport]:
    if not user.is_authenticated:
        return FraudReport.objects.none()
    return (
        FraudReport.objects.filter(transaction__card__owner=user)
        .select_related("transaction", "transaction__merchant", "transaction__card")
        .order_by("-created_at", "-pk")
    )


def customer_report_get(user, pk) -> FraudReport:
    return get_object_or_404(customer_reports(user), pk=pk)


def merchant_choices():
    """Merchants for the payment form: those with a real name first, by name; those known only
    by an id (simulated or imported traffic) after them."""
    known_by_id = Q(name="") | Q(name__startswith=SIMULATED_PREFIX)
    return Merchant.objects.annotate(
        known_by_id=Case(When(known_by_id, then=Value(1)), default=Value(0), output_field=IntegerField())
    ).order_by("known_by_id", "name", "category", "country", "external_id")
