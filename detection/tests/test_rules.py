from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from detection.contracts import Decision, TransactionInput
from detection.models import ListEntry, Rule
from detection.serving.rules import evaluate_lists_and_rules
from detection.tests.history import FrameHistory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def tx(**overrides):
    values = {
        "transaction_id": "t1",
        "occurred_at": NOW,
        "card_id": "card-1",
        "merchant_id": "m-1",
        "amount": Decimal("25.00"),
        "country": "FR",
        "merchant_category": "5411",
        "card_fingerprint": "fp-1",
    }
    return TransactionInput(**{**values, **overrides})


def test_nothing_decides_without_lists_or_rules():
    assert evaluate_lists_and_rules(tx()) is None


def test_allow_list_wins_over_block_list_and_rules():
    ListEntry.objects.create(list_type="allow", kind="card_id", value="card-1", reason="VIP")
    ListEntry.objects.create(list_type="block", kind="merchant_id", value="m-1")
    Rule.objects.create(name="big", kind="amount_above", amount=Decimal(1), action="block")
    hit = evaluate_lists_and_rules(tx())
    assert (hit.source, hit.decision, hit.detail) == ("allow_list", Decision.APPROVE, {"note": "VIP"})


@pytest.mark.parametrize(
    ("kind", "value"),
    [("card_fingerprint", "fp-1"), ("card_id", "card-1"), ("merchant_id", "m-1"), ("country", "fr")],
)
def test_block_list_matches_each_kind(kind, value):
    entry = ListEntry(list_type="block", kind=kind, value=value)
    entry.full_clean()
    entry.save()
    hit = evaluate_lists_and_rules(tx())
    assert (hit.source, hit.decision) == ("block_list", Decision.BLOCK)
    assert (
        evaluate_lists_and_rules(tx(card_fingerprint="x", card_id="x", merchant_id="x", country="DE")) is None
    )


def test_expired_and_inactive_entries_are_ignored():
    ListEntry.objects.create(
        list_type="block", kind="card_id", value="card-1", expires_at=NOW - timedelta(days=400)
    )
    ListEntry.objects.create(list_type="block", kind="merchant_id", value="m-1", active=False)
    assert evaluate_lists_and_rules(tx()) is None


def test_rules_run_in_order_and_the_first_match_decides():
    Rule.objects.create(
        name="late review", kind="amount_above", amount=Decimal(10), action="review", order=20
    )
    Rule.objects.create(name="early block", kind="country_in", values="NG, FR", action="block", order=10)
    Rule.objects.create(
        name="off", kind="amount_above", amount=Decimal(0), action="allow", order=1, active=False
    )
    hit = evaluate_lists_and_rules(tx())
    assert (hit.name, hit.decision) == ("early block", Decision.BLOCK)
    hit = evaluate_lists_and_rules(tx(country="DE"))
    assert (hit.name, hit.decision) == ("late review", Decision.REVIEW)
    assert evaluate_lists_and_rules(tx(country="DE", amount=Decimal("9.99"))) is None


def test_category_rule_matches_case_insensitively():
    Rule.objects.create(name="gambling", kind="category_in", values="7995, casino", action="review")
    assert evaluate_lists_and_rules(tx(merchant_category="Casino")).decision == Decision.REVIEW
    assert evaluate_lists_and_rules(tx(merchant_category="5411")) is None


def test_velocity_rule_counts_the_cards_recent_transactions():
    Rule.objects.create(name="burst", kind="velocity", max_count=3, window_minutes=10, action="block")
    past = pd.DataFrame(
        {
            "transaction_id": ["a", "b", "c", "old", "other"],
            "occurred_at": [NOW - timedelta(minutes=m) for m in (1, 2, 3, 30, 1)],
            "card_id": ["card-1"] * 4 + ["card-2"],
            "merchant_id": "m-1",
            "amount": 1.0,
        }
    )
    history = FrameHistory(past)
    # 3 in the window plus this one = 4 > 3.
    assert evaluate_lists_and_rules(tx(), history=history).decision == Decision.BLOCK
    # card-2 has one before it: 2 is not more than 3.
    assert evaluate_lists_and_rules(tx(card_id="card-2"), history=history) is None


def test_rule_validation_explains_what_is_missing():
    with pytest.raises(ValidationError) as error:
        Rule(name="v", kind="velocity", action="block").full_clean()
    assert set(error.value.message_dict) == {"max_count", "window_minutes"}
    with pytest.raises(ValidationError) as error:
        Rule(name="a", kind="amount_above", action="block").full_clean()
    assert "amount" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        Rule(name="c", kind="country_in", values="France", action="block").full_clean()
    assert "two-letter" in error.value.message_dict["values"][0]
    rule = Rule(name="c", kind="country_in", values="fr,de ; ng", action="block")
    rule.full_clean()
    assert rule.values == "DE, FR, NG"


def test_a_new_rule_applies_at_once_in_this_process():
    assert evaluate_lists_and_rules(tx()) is None
    Rule.objects.create(name="any", kind="amount_above", amount=Decimal(0), action="review")
    assert evaluate_lists_and_rules(tx()).decision == Decision.REVIEW


def test_model_manager_adds_a_rule_in_the_admin_with_clear_errors(client, model_manager):
    client.force_login(model_manager)
    url = reverse("admin:detection_rule_add")
    response = client.post(url, {"name": "burst", "kind": "velocity", "action": "block", "order": 1})
    assert response.status_code == 200
    assert "A velocity rule needs N" in response.content.decode()
    assert not Rule.objects.exists()
    response = client.post(
        url,
        {
            "name": "burst",
            "kind": "velocity",
            "action": "block",
            "order": 1,
            "max_count": 5,
            "window_minutes": 60,
        },
    )
    assert response.status_code == 302
    assert Rule.objects.get().max_count == 5


def test_analyst_can_view_but_not_add_rules(client, analyst):
    client.force_login(analyst)
    assert client.get(reverse("admin:detection_rule_changelist")).status_code == 200
    assert client.get(reverse("admin:detection_rule_add")).status_code == 403
