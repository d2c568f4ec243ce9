"""The whole demo, small: every part runs, in order, and a second run adds nothing."""

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import AuditEntry
from demo import history
from demo import model as demo_model
from detection.models import ListEntry, ModelVersion, Rule
from transactions.models import FraudReport, Transaction
from transactions.queue import review_queue

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_seed_demo_loads_every_part_and_a_second_run_adds_nothing(monkeypatch):
    monkeypatch.setattr(history, "BANK_CARDS", 40)
    monkeypatch.setattr(history, "BANK_DAYS", 20)
    monkeypatch.setattr(demo_model, "SIM_CUSTOMERS", 300)
    monkeypatch.setattr(demo_model, "SIM_MERCHANTS", 150)
    out = StringIO()
    call_command("seed_demo", "--quiet-logins", stdout=out)

    champion = ModelVersion.objects.get(status=ModelVersion.Status.CHAMPION)
    challenger = ModelVersion.objects.exclude(pk=champion.pk).get()
    assert challenger.status == ModelVersion.Status.CANDIDATE
    assert challenger.algorithm != champion.algorithm
    # Same data, same periods: the two are measured on the same test week.
    assert (challenger.test_start, challenger.test_end) == (champion.test_start, champion.test_end)
    assert challenger.created_by.email == "manager@example.com"
    assert Rule.objects.filter(active=True).exists() and ListEntry.objects.exists()
    _items, waiting = review_queue(with_history=False)
    assert waiting >= 20
    for title in ("rules and allow/block lists", "challenger", "a day of review queue"):
        assert f"Demo: {title}" in out.getvalue()

    counts = [
        model.objects.count()
        for model in (ModelVersion, Rule, ListEntry, Transaction, FraudReport, AuditEntry)
    ]
    call_command("seed_demo", "--quiet-logins", stdout=StringIO())

    assert [
        model.objects.count()
        for model in (ModelVersion, Rule, ListEntry, Transaction, FraudReport, AuditEntry)
    ] == counts
