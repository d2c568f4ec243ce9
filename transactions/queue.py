"""The analysts' review queue: transactions held for review and transactions with an open fraud
report, oldest first, each with the card's recent history."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Prefetch, Q

from transactions.models import FraudReport, Transaction

HISTORY_ITEMS = 5


@dataclass
class QueueItem:
    transaction: Transaction
    report: FraudReport | None
    since: datetime
    history: list = field(default_factory=list)

    @property
    def kind(self):
        return "report" if self.report is not None else "review"


def review_queue(*, assigned_to=None, limit=50, with_history=True) -> tuple[list[QueueItem], int]:
    """(the oldest `limit` items, how many wait in all). An item is a transaction pending review
    or with an open report; it waits since its report was filed or since it occurred."""
    open_reports = Prefetch(
        "reports", queryset=FraudReport.objects.filter(status=FraudReport.Status.OPEN), to_attr="open_reports"
    )
    queued = Transaction.objects.filter(
        Q(status=Transaction.Status.PENDING_REVIEW) | Q(reports__status=FraudReport.Status.OPEN)
    ).distinct()
    if assigned_to is not None:
        queued = queued.filter(assigned_to=assigned_to)
    queued = queued.select_related("card", "merchant", "assigned_to").prefetch_related(open_reports)
    items = []
    for tx in queued:
        report = tx.open_reports[0] if tx.open_reports else None
        items.append(
            QueueItem(transaction=tx, report=report, since=report.created_at if report else tx.occurred_at)
        )
    items.sort(key=lambda item: (item.since, item.transaction.pk))
    total = len(items)
    items = items[:limit]
    if with_history:
        for item in items:
            tx = item.transaction
            item.history = list(
                Transaction.objects.filter(card_id=tx.card_id, occurred_at__lt=tx.occurred_at)
                .select_related("merchant")
                .order_by("-occurred_at")[:HISTORY_ITEMS]
            )
    return items, total
