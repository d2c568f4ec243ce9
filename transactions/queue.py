"""The analysts' review queue: transactions held for review and transactions with an open fraud
report, oldest first, each with the card's recent history, its age and where it stands against
the SLA (`conf.review_sla_hours`).

One definition of when an item entered the queue, `entered_at`, read by the queue page and the
traffic dashboard alike: a fraud report when it was filed; a held payment when it was decided
(the decision put it there, and a payment may be submitted long after it occurred); a payment
stored without a decision time (imported), when it occurred.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, F, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.durations import duration_text
from transactions import conf
from transactions.models import FraudReport, Transaction

HISTORY_ITEMS = 5
SHOW_ALL, SHOW_MINE, SHOW_UNASSIGNED = "all", "mine", "unassigned"
SHOWS = (SHOW_ALL, SHOW_MINE, SHOW_UNASSIGNED)
# Where an item stands against the SLA: under half of it, past half, past it.
SLA_OK, SLA_DUE, SLA_LATE = "ok", "due", "late"


def queued_transactions():
    """Every transaction waiting for an analyst, annotated with `report_at` (when its open report
    was filed, or None) and `entered_at`. Both halves are found through their status indexes."""
    first_open_report = (
        FraudReport.objects.filter(transaction=OuterRef("pk"), status=FraudReport.Status.OPEN)
        .order_by("created_at")
        .values("created_at")[:1]
    )
    held = Transaction.objects.filter(status=Transaction.Status.PENDING_REVIEW).values("pk")
    reported = FraudReport.objects.filter(status=FraudReport.Status.OPEN).values("transaction_id")
    return (
        Transaction.objects.filter(Q(pk__in=held) | Q(pk__in=reported))
        .annotate(report_at=Subquery(first_open_report))
        .annotate(entered_at=Coalesce(F("report_at"), F("decided_at"), F("occurred_at")))
    )


def sla() -> timedelta:
    return timedelta(hours=conf.review_sla_hours())


def sla_state(age: timedelta, limit: timedelta) -> str:
    if age >= limit:
        return SLA_LATE
    return SLA_DUE if age >= limit / 2 else SLA_OK


@dataclass
class QueueItem:
    transaction: Transaction
    report: FraudReport | None
    since: datetime
    age: timedelta
    sla_state: str
    history: list = field(default_factory=list)

    @property
    def kind(self):
        return "report" if self.report is not None else "review"

    @property
    def age_text(self):
        return duration_text(self.age)


@dataclass(frozen=True)
class QueueCounts:
    waiting: int
    reports: int
    held: int
    unassigned: int
    mine: int
    late: int


def queue_counts(*, user=None, now=None) -> QueueCounts:
    """How much waits: in all, by kind, unassigned, assigned to `user`, past the SLA."""
    now = now or timezone.now()
    mine = {"mine": Count("pk", filter=Q(assigned_to=user))} if user is not None else {}
    counts = queued_transactions().aggregate(
        waiting=Count("pk"),
        reports=Count("pk", filter=Q(report_at__isnull=False)),
        unassigned=Count("pk", filter=Q(assigned_to__isnull=True)),
        late=Count("pk", filter=Q(entered_at__lte=now - sla())),
        **mine,
    )
    return QueueCounts(
        waiting=counts["waiting"],
        reports=counts["reports"],
        held=counts["waiting"] - counts["reports"],
        unassigned=counts["unassigned"],
        mine=counts.get("mine", 0),
        late=counts["late"],
    )


def queue_entries() -> list[dict]:
    """[{"entered_at", "kind"}] of every waiting item, oldest first (the dashboard's histogram)."""
    rows = queued_transactions().order_by("entered_at").values_list("entered_at", "report_at")
    return [
        {"entered_at": entered, "kind": "review" if report is None else "report"} for entered, report in rows
    ]


def review_queue(
    *, user=None, show=SHOW_ALL, limit=50, with_history=True, now=None
) -> tuple[list[QueueItem], QueueCounts]:
    """(the oldest `limit` items of those shown, the queue's counts). `show` picks everyone's
    items, `user`'s or nobody's."""
    now = now or timezone.now()
    limit_age = sla()
    open_reports = Prefetch(
        "reports",
        queryset=FraudReport.objects.filter(status=FraudReport.Status.OPEN).order_by("created_at"),
        to_attr="open_reports",
    )
    queued = queued_transactions()
    if show == SHOW_MINE:
        queued = queued.filter(assigned_to=user)
    elif show == SHOW_UNASSIGNED:
        queued = queued.filter(assigned_to__isnull=True)
    queued = (
        queued.select_related("card", "merchant", "assigned_to")
        .prefetch_related(open_reports)
        .order_by("entered_at", "pk")[:limit]
    )
    items = []
    for tx in queued:
        age = now - tx.entered_at
        items.append(
            QueueItem(
                transaction=tx,
                report=tx.open_reports[0] if tx.open_reports else None,
                since=tx.entered_at,
                age=age,
                sla_state=sla_state(age, limit_age),
            )
        )
    if with_history:
        for item in items:
            tx = item.transaction
            item.history = list(
                Transaction.objects.filter(card_id=tx.card_id, occurred_at__lt=tx.occurred_at)
                .select_related("merchant")
                .order_by("-occurred_at")[:HISTORY_ITEMS]
            )
    return items, queue_counts(user=user, now=now)
