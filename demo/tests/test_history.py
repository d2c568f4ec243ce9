import io
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from demo import history as demo
from demo import users as accounts_demo
from transactions.models import Card, FraudReport, Transaction

pytestmark = pytest.mark.django_db


def test_the_demo_gives_the_demo_customers_cards_and_months_of_history_once(monkeypatch):
    monkeypatch.setattr(demo, "BANK_CARDS", 40)
    monkeypatch.setattr(demo, "BANK_DAYS", 20)
    accounts_demo.seed(stdout=io.StringIO())
    demo.seed(stdout=io.StringIO())
    counts = Transaction.objects.count()

    for email in demo.DEMO_CUSTOMERS:
        customer = User.objects.get(email=email)
        cards = list(Card.objects.filter(owner=customer))
        assert len(cards) == 2 and all(card.masked_number and card.fingerprint for card in cards)
        history = Transaction.objects.filter(card__owner=customer)
        first = history.order_by("occurred_at").first().occurred_at
        assert timezone.now() - first > timedelta(days=80)
        assert history.filter(is_fraud=True, status=Transaction.Status.CONFIRMED_FRAUD).exists()
        for card in cards:
            assert 0 < card.balance <= card.credit_limit
    assert FraudReport.objects.filter(status=FraudReport.Status.CONFIRMED).exists()
    # The demo integrator's cards are its own, under its own ids, with what it submitted.
    integrator = User.objects.get(email=demo.DEMO_INTEGRATOR)
    issued = Card.objects.filter(issuer=integrator)
    assert sorted(card.display_id for card in issued) == demo.INTEGRATOR_CARDS
    assert set(Transaction.objects.filter(card__in=issued).values_list("submitted_by", flat=True)) == {
        integrator.pk
    }

    demo.seed(stdout=io.StringIO())

    assert Transaction.objects.count() == counts
    assert Card.objects.filter(owner__isnull=False).count() == 4
    assert issued.count() == 2


def test_the_simulated_bank_traffic_knows_only_the_labels_known_by_now(monkeypatch):
    monkeypatch.setattr(demo, "BANK_CARDS", 40)
    monkeypatch.setattr(demo, "BANK_DAYS", 20)
    now = timezone.now()

    demo.seed(stdout=io.StringIO())

    traffic = Transaction.objects.filter(external_id__startswith="sim_")
    assert Card.objects.filter(owner__isnull=True, issuer__isnull=True).count() == 40
    assert traffic.count() > 40 * 20 * 0.3
    assert not traffic.filter(occurred_at__gte=now).exists()
    assert not traffic.filter(label_known_at__gt=timezone.now()).exists()
    # The last week's transactions are not all labelled yet, as in a live bank.
    assert traffic.filter(occurred_at__gte=now - timedelta(days=2), is_fraud__isnull=True).exists()
    assert traffic.filter(is_fraud=True).exists()
