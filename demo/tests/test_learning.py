"""seed_learning_demo: history in the database, the new pattern unconfirmed, its reports queued."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from transactions.models import FraudReport, Transaction
from transactions.queue import review_queue


def test_the_new_pattern_waits_in_the_queue_unconfirmed(db):
    out = StringIO()
    call_command(
        "seed_learning_demo",
        "--customers=60",
        "--merchants=40",
        "--days=20",
        "--pattern-day=8",
        "--rate=400",
        "--json",
        stdout=out,
        stderr=StringIO(),
    )
    summary = json.loads(out.getvalue())
    assert summary["imported"] == Transaction.objects.count() > 0
    assert summary["pattern_frauds"] > 0
    assert summary["reports_opened"] == summary["pattern_frauds"]
    reported = Transaction.objects.filter(reports__status=FraudReport.Status.OPEN)
    assert reported.count() == summary["pattern_frauds"]
    # Nobody confirmed them yet: no label, and they are ATM withdrawals.
    assert set(reported.values_list("is_fraud", flat=True)) == {None}
    assert set(reported.values_list("channel", flat=True)) == {"atm"}
    # Older frauds of known patterns arrive labelled, as a bank's history would.
    assert Transaction.objects.filter(is_fraud=True, label_source="import").exists()
    _items, counts = review_queue(with_history=False)
    assert counts.waiting == counts.reports == summary["pattern_frauds"]


def test_bad_arguments_are_clear_errors(db):
    with pytest.raises(CommandError, match="--pattern-day"):
        call_command(
            "seed_learning_demo", "--days=10", "--pattern-day=10", stdout=StringIO(), stderr=StringIO()
        )
