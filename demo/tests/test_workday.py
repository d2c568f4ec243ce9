import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from accounts.models import AuditEntry, User
from demo import decisioning, history, users, workday
from transactions.models import Card, FraudReport, Transaction
from transactions.queue import review_queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_demo(monkeypatch):
    monkeypatch.setattr(history, "BANK_CARDS", 40)
    monkeypatch.setattr(history, "BANK_DAYS", 20)
    users.seed(stdout=io.StringIO())
    history.seed(stdout=io.StringIO())
    decisioning.seed(stdout=io.StringIO())


def test_the_queue_holds_a_working_day_once(small_demo):
    before = timezone.now()
    workday.seed(stdout=io.StringIO())

    items, waiting = review_queue(with_history=False, limit=100)
    assert 20 <= waiting <= 40
    ages = [before - item.since for item in items]
    assert all(timedelta(0) <= age < timedelta(days=1) for age in ages)
    assert max(ages) - min(ages) > timedelta(hours=18)  # spread over the day
    kinds = {item.kind for item in items}
    assert kinds == {"review", "report"}
    sources = set(FraudReport.objects.filter(status=FraudReport.Status.OPEN).values_list("source", flat=True))
    assert sources == set(FraudReport.Source.values)
    analyst = User.objects.get(email=workday.ANALYST)
    _mine, taken = review_queue(assigned_to=analyst, with_history=False)
    assert 0 < taken < waiting
    assert AuditEntry.objects.filter(action="transaction.assign", actor=analyst).count() == taken
    # The demo customers see a report of theirs waiting.
    assert FraudReport.objects.filter(
        status=FraudReport.Status.OPEN, reported_by__email__in=history.DEMO_CUSTOMERS
    ).exists()
    # Each payment was submitted and decided: what is held sits in its card's hold.
    for card in Card.objects.filter(transactions__external_id__startswith=workday.PREFIX).distinct():
        pending = card.transactions.filter(status=Transaction.Status.PENDING_REVIEW)
        assert card.held == (pending.aggregate(total=Sum("amount"))["total"] or Decimal("0"))
    assert AuditEntry.objects.filter(action="transaction.submit").count() == len(workday.plan())

    counts = Transaction.objects.count(), FraudReport.objects.count(), AuditEntry.objects.count()
    out = io.StringIO()
    workday.seed(stdout=out)

    assert (Transaction.objects.count(), FraudReport.objects.count(), AuditEntry.objects.count()) == counts
    assert "already there" in out.getvalue()


def test_the_rules_hold_the_days_risky_payments(small_demo):
    workday.seed(stdout=io.StringIO())

    held = Transaction.objects.filter(
        external_id__startswith=workday.PREFIX, reports__isnull=True, status=Transaction.Status.PENDING_REVIEW
    )
    assert held.count() == sum(count for count, *_ in workday.HELD) + 2
    assert set(held.values_list("decided_by", flat=True)) == {"rule"}
