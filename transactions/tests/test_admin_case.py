"""A transaction's page in the staff console reads as a case, and its actions go through the
services: labels, the card's status and the lists change, with the audit trail, and nothing else."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from detection.models import ListEntry
from transactions import services
from transactions.models import Card, FraudReport, Transaction
from transactions.tests.factories import CardFactory, FraudReportFactory, MerchantFactory, TransactionFactory


def case_url(tx):
    return reverse("admin:transactions_transaction_change", args=[tx.pk])


@pytest.fixture
def history(db):
    """A card that pays about 20.00 every day for a month, then 900.00 held for review."""
    card = CardFactory(credit_limit=Decimal("5000.00"), fingerprint="f" * 64)
    now = timezone.now()
    for day in range(30, 0, -1):
        TransactionFactory(card=card, occurred_at=now - timedelta(days=day), amount=Decimal("20.00"))
    held = TransactionFactory(
        card=card,
        occurred_at=now - timedelta(minutes=5),
        amount=Decimal("900.00"),
        status=Transaction.Status.PENDING_REVIEW,
        decision="review",
        risk_score=81,
        reasons=[
            {"code": "amount_vs_card_history", "params": {"ratio": 45.0}, "contribution": 2.1},
            {"code": "new_merchant_for_card", "params": {}, "contribution": -0.4},
        ],
    )
    card.held = Decimal("900.00")
    card.save()
    return {"card": card, "held": held}


def test_the_case_reads_decision_reasons_features_and_timeline(client, analyst, history):
    held = history["held"]
    client.force_login(analyst)
    page = client.get(case_url(held))
    assert page.status_code == 200
    body = page.content.decode()
    # Decision and reasons as sentences, both directions; no raw JSON of features or reasons.
    assert "900.00 USD" in body and "risk 81 / 100" in body
    assert "Amount is 45× this card’s usual spending" in body.replace("'", "’").replace("&#x27;", "’")
    assert "A merchant this card pays regularly" in body and "(lowered the risk)" in body
    assert '"code"' not in body and "amount_zscore_30d" not in body.split("Every feature the model read")[0]
    # Features against the card's normal: the amount is far from the card's 20.00, so it is marked.
    case = page.context["case"]
    amount = next(row for row in case.features if row.name == "amount")
    assert amount.value == 900.0 and amount.normal == 20.0 and amount.unusual
    count = next(row for row in case.features if row.name == "card_count_1h")
    assert not count.unusual
    # The card's history, newest first, this payment first of all.
    assert [tx.pk for tx in case.timeline[:2]] == [
        held.pk,
        Transaction.objects.filter(amount=20).latest("occurred_at").pk,
    ]
    assert len(case.timeline) == 13  # this one and the 12 before it


def test_the_case_of_a_transaction_imported_without_features_computes_them(client, analyst, history):
    """Imported history has no stored features: the card's are computed with the decision's own
    definition, so the case still compares the payment with the card's normal."""
    held = history["held"]
    assert held.features == {}
    client.force_login(analyst)
    case = client.get(case_url(held)).context["case"]
    values = {row.name: row.value for row in case.features}
    assert values["card_count_7d"] == 7 and values["amount_to_card_mean_30d"] == 45.0


def test_confirm_fraud_from_the_case_settles_the_review(client, analyst, history):
    held = history["held"]
    client.force_login(analyst)
    response = client.post(case_url(held), {"action": "confirm_fraud", "note": "Customer denies it"})
    assert response.status_code == 302
    held.refresh_from_db()
    assert held.status == Transaction.Status.DECLINED and held.is_fraud is True
    history["card"].refresh_from_db()
    assert history["card"].held == 0
    assert AuditEntry.objects.filter(action="transaction.review_fraud", note="Customer denies it").exists()


def test_confirm_from_the_case_settles_an_open_report(client, analyst):
    report = FraudReportFactory()
    client.force_login(analyst)
    client.post(case_url(report.transaction), {"action": "confirm_legitimate"})
    report.refresh_from_db()
    assert report.status == FraudReport.Status.REJECTED and report.resolved_by == analyst


def test_an_approved_payment_found_to_be_fraud_is_reported_and_confirmed(client, analyst):
    card = CardFactory(balance=Decimal("100.00"))
    tx = TransactionFactory(card=card, amount=Decimal("60.00"))
    client.force_login(analyst)
    client.post(case_url(tx), {"action": "confirm_fraud"})
    tx.refresh_from_db()
    card.refresh_from_db()
    assert tx.status == Transaction.Status.CONFIRMED_FRAUD and card.balance == Decimal("40.00")
    report = tx.reports.get()
    assert report.source == FraudReport.Source.ANALYST and report.status == FraudReport.Status.CONFIRMED


def test_nothing_to_confirm_as_legitimate_is_said_and_changes_nothing(client, analyst):
    tx = TransactionFactory()
    client.force_login(analyst)
    page = client.post(case_url(tx), {"action": "confirm_legitimate"}, follow=True)
    assert "Nothing waits for a decision on this transaction." in page.content.decode()
    tx.refresh_from_db()
    assert tx.status == Transaction.Status.APPROVED and tx.is_fraud is None


def test_an_analyst_freezes_the_card_from_the_case(client, analyst, history):
    client.force_login(analyst)
    page = client.post(case_url(history["held"]), {"action": "freeze_card"}, follow=True)
    assert "The card is frozen" in page.content.decode()
    history["card"].refresh_from_db()
    assert history["card"].status == Card.Status.FROZEN
    assert AuditEntry.objects.filter(target_type="transactions.card", actor=analyst).exists()
    # ... and the next payment on it is declined.
    tx = services.transaction_submit(card=history["card"], merchant=MerchantFactory(), amount=Decimal("5.00"))
    assert tx.status == Transaction.Status.DECLINED


def test_the_card_and_the_merchant_go_on_a_list_from_the_case(client, analyst, history):
    held = history["held"]
    client.force_login(analyst)
    client.post(
        case_url(held), {"action": "list_add", "target": "card", "list_type": "block", "reason": "Stolen"}
    )
    entry = ListEntry.objects.get()
    assert (entry.kind, entry.value, entry.created_by) == ("card_fingerprint", "f" * 64, analyst)
    assert AuditEntry.objects.filter(action="list_entry.add", actor=analyst).exists()
    # The list applies to the card's next payment.
    tx = services.transaction_submit(card=history["card"], merchant=MerchantFactory(), amount=Decimal("5.00"))
    assert tx.decision == "block" and tx.decided_by == "block_list"
    # A second time is refused with a clear message; a bad target stores nothing.
    page = client.post(
        case_url(held), {"action": "list_add", "target": "card", "list_type": "block"}, follow=True
    )
    assert "already on that list" in page.content.decode()
    page = client.post(
        case_url(held), {"action": "list_add", "target": "bank\x00", "list_type": "block"}, follow=True
    )
    assert "Choose what to put on which list." in page.content.decode()
    client.post(case_url(held), {"action": "list_add", "target": "merchant", "list_type": "allow"})
    assert ListEntry.objects.filter(
        list_type="allow", kind="merchant_id", value=held.merchant.external_id
    ).exists()
    assert ListEntry.objects.count() == 2


def test_a_reason_with_a_card_number_is_stored_masked(client, analyst, history):
    client.force_login(analyst)
    client.post(
        case_url(history["held"]),
        {
            "action": "list_add",
            "target": "card",
            "list_type": "block",
            "reason": "same as 4111 1111 1111 1111",
        },
    )
    assert "4111 1111 1111 1111" not in ListEntry.objects.get().reason


@pytest.mark.parametrize("action", ["freeze_card", "list_add", "confirm_fraud"])
def test_a_model_manager_reads_the_case_but_cannot_act(client, model_manager, history, action):
    """Model managers may read transactions; labels and the card's status are the analysts'."""
    client.force_login(model_manager)
    page = client.get(case_url(history["held"]))
    assert page.status_code == 200 and 'value="freeze_card"' not in page.content.decode()
    if action == "list_add":  # model managers may edit the lists: only freezing and labels are refused
        return
    assert client.post(case_url(history["held"]), {"action": action}).status_code == 403
    history["held"].refresh_from_db()
    history["card"].refresh_from_db()
    assert history["held"].status == Transaction.Status.PENDING_REVIEW
    assert history["card"].status == Card.Status.ACTIVE


def test_an_unknown_action_is_refused_with_a_message(client, analyst, history):
    client.force_login(analyst)
    page = client.post(case_url(history["held"]), {"action": "drop_table"}, follow=True)
    assert "Choose an action." in page.content.decode()


def test_a_missing_transaction_redirects_with_a_message(client, analyst):
    client.force_login(analyst)
    page = client.get(reverse("admin:transactions_transaction_change", args=[987654]), follow=True)
    assert page.status_code == 200 and "doesn’t exist" in page.content.decode()


def test_an_item_settled_by_someone_else_meanwhile_is_not_overturned(client, analyst, history):
    """Two analysts open the same held payment; the first approves it. The second, still looking
    at it as a queued item, confirms fraud: refused, and the first verdict stands."""
    held = history["held"]
    services.transaction_review_resolve(transaction=held, actor=analyst, is_fraud=False)
    client.force_login(analyst)
    page = client.post(case_url(held), {"action": "confirm_fraud", "queued": "1"}, follow=True)
    assert "Someone settled this item meanwhile" in page.content.decode()
    held.refresh_from_db()
    assert held.status == Transaction.Status.APPROVED and held.is_fraud is False and not held.reports.exists()


def test_a_fraud_report_opens_on_its_transactions_case(client, analyst):
    report = FraudReportFactory(note="Not me")
    client.force_login(analyst)
    response = client.get(reverse("admin:transactions_fraudreport_change", args=[report.pk]), follow=True)
    assert response.redirect_chain[-1][0] == case_url(report.transaction)
    assert "Not me" in response.content.decode()
