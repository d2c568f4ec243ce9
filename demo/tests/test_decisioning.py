import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import AuditEntry
from demo import decisioning as demo
from demo import history, users
from detection.contracts import Decision, TransactionInput
from detection.models import ListEntry, Rule
from detection.serving.rules import evaluate_lists_and_rules
from transactions.models import Card

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_demo(monkeypatch):
    monkeypatch.setattr(history, "BANK_CARDS", 40)
    monkeypatch.setattr(history, "BANK_DAYS", 20)
    users.seed(stdout=io.StringIO())
    history.seed(stdout=io.StringIO())


def payment(**fields):
    return TransactionInput(
        **{
            "transaction_id": "t1",
            "occurred_at": timezone.now(),
            "card_id": "sim_C1",
            "merchant_id": "m_corner_cafe",
            "amount": Decimal("12.00"),
            "merchant_category": "5814",
            "country": "US",
            **fields,
        }
    )


def test_the_demo_has_the_fraud_teams_rules_and_lists_once(small_demo):
    out = io.StringIO()
    demo.seed(stdout=out)

    rules = Rule.objects.all()
    assert rules.count() == len(demo.RULES)
    assert all(rule.active for rule in rules)
    assert {rule.kind for rule in rules} == set(Rule.Kind.values)
    allow = ListEntry.objects.filter(list_type=ListEntry.ListType.ALLOW, active=True)
    block = ListEntry.objects.filter(list_type=ListEntry.ListType.BLOCK, active=True)
    assert allow.filter(kind=ListEntry.Kind.MERCHANT_ID).exists()
    assert {entry.kind for entry in block} >= {
        ListEntry.Kind.MERCHANT_ID,
        ListEntry.Kind.COUNTRY,
        ListEntry.Kind.CARD_FINGERPRINT,
    }
    assert all(entry.reason for entry in ListEntry.objects.all())
    # The travelling customer's card is let through for a while only.
    alice_card = Card.objects.filter(owner__email=history.DEMO_CUSTOMERS[0]).order_by("pk").first()
    travel = allow.get(value=alice_card.fingerprint)
    assert timezone.now() < travel.expires_at < timezone.now() + timedelta(days=demo.TRAVEL_DAYS + 1)
    # Written as staff write them: in the audit trail, by the demo's staff.
    assert AuditEntry.objects.filter(action="rule.create").count() == len(demo.RULES)
    assert AuditEntry.objects.filter(action="list_entry.add").count() == ListEntry.objects.count()
    assert set(ListEntry.objects.values_list("created_by__email", flat=True)) == {demo.WRITTEN_BY}
    assert "4 created" in out.getvalue()

    entries, audited = ListEntry.objects.count(), AuditEntry.objects.count()
    demo.seed(stdout=io.StringIO())

    assert Rule.objects.count() == len(demo.RULES)
    assert ListEntry.objects.count() == entries
    assert AuditEntry.objects.count() == audited


def test_the_demo_rules_and_lists_decide(small_demo):
    demo.seed(stdout=io.StringIO())

    assert evaluate_lists_and_rules(payment()) is None
    large = evaluate_lists_and_rules(payment(amount=Decimal("4000.00")))
    assert large.decision == Decision.REVIEW and large.kind == Rule.Kind.AMOUNT_ABOVE
    assert evaluate_lists_and_rules(payment(country="NG")).kind == Rule.Kind.COUNTRY_IN
    assert evaluate_lists_and_rules(payment(merchant_category="4829")).kind == Rule.Kind.CATEGORY_IN
    assert evaluate_lists_and_rules(payment(country="KP")).source == "block_list"
    assert evaluate_lists_and_rules(payment(merchant_id="m_gift_cards_24")).source == "block_list"
    # The allow list comes first: a large fare at the transit operator goes through.
    transit = evaluate_lists_and_rules(payment(merchant_id="m_metro_transit", amount=Decimal("4000.00")))
    assert transit.source == "allow_list" and transit.decision == Decision.APPROVE
