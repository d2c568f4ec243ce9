from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from transactions import services
from transactions.models import FraudReport, Transaction
from transactions.tests.factories import (
    VISA,
    CardFactory,
    FraudReportFactory,
    MerchantFactory,
    TransactionFactory,
)

pytestmark = pytest.mark.django_db

REPORTS = reverse("admin:transactions_fraudreport_changelist")
TRANSACTIONS = reverse("admin:transactions_transaction_changelist")


def test_customers_never_reach_the_transaction_admin(client, customer):
    client.force_login(customer)

    assert client.get(TRANSACTIONS).status_code == 302
    assert client.get(REPORTS).status_code == 302


def test_the_report_queue_lists_open_reports_first(client, analyst):
    resolved = FraudReportFactory(status=FraudReport.Status.REJECTED)
    first_open, second_open = FraudReportFactory(), FraudReportFactory()
    client.force_login(analyst)

    listed = list(client.get(REPORTS).context["cl"].result_list)

    assert listed == [first_open, second_open, resolved]


def test_an_analyst_confirms_fraud_from_the_admin_and_the_balance_is_corrected(
    client, analyst, customer, decision_is
):
    decision_is("approve")
    card = CardFactory(owner=customer)
    kept = services.transaction_submit(card=card, merchant=MerchantFactory(), amount="30")
    stolen = services.transaction_submit(card=card, merchant=MerchantFactory(), amount="70")
    report = services.fraud_report_create(transaction=stolen, reported_by=customer, source="customer")
    client.force_login(analyst)

    response = client.post(
        REPORTS, {"action": "confirm_fraud", ACTION_CHECKBOX_NAME: [report.pk]}, follow=True
    )

    assert "1 item updated." in response.text
    report.refresh_from_db()
    stolen.refresh_from_db()
    card.refresh_from_db()
    assert (report.status, report.resolved_by) == ("confirmed", analyst)
    assert (stolen.status, stolen.is_fraud) == ("confirmed_fraud", True)
    assert card.balance == kept.amount
    assert AuditEntry.objects.filter(action="fraud_report.confirm", actor=analyst).exists()


def test_rejecting_from_the_admin_and_resolving_twice_is_explained(client, analyst, customer):
    report = FraudReportFactory(transaction=TransactionFactory(card=CardFactory(owner=customer)))
    client.force_login(analyst)

    client.post(REPORTS, {"action": "reject", ACTION_CHECKBOX_NAME: [report.pk]})
    again = client.post(REPORTS, {"action": "confirm_fraud", ACTION_CHECKBOX_NAME: [report.pk]}, follow=True)

    report.refresh_from_db()
    assert report.status == FraudReport.Status.REJECTED
    assert report.transaction.is_fraud is False
    assert "already been resolved" in again.text


def test_an_analyst_resolves_the_review_queue_from_the_admin(client, analyst, customer, decision_is):
    decision_is("review")
    card = CardFactory(owner=customer)
    tx = services.transaction_submit(card=card, merchant=MerchantFactory(), amount="45")
    client.force_login(analyst)

    client.post(TRANSACTIONS, {"action": "review_legitimate", ACTION_CHECKBOX_NAME: [tx.pk]})

    tx.refresh_from_db()
    card.refresh_from_db()
    assert tx.status == Transaction.Status.APPROVED
    assert (card.balance, card.held) == (Decimal("45.00"), 0)


def test_transactions_are_searched_by_card_last4_and_filtered_by_decision(client, analyst):
    wanted = TransactionFactory(card=CardFactory(last4="9876"), decision="block", status="declined")
    TransactionFactory(card=CardFactory(last4="1234"))
    client.force_login(analyst)

    by_last4 = client.get(TRANSACTIONS, {"q": "9876"}).context["cl"].result_list
    by_decision = client.get(TRANSACTIONS, {"decision__exact": "block"}).context["cl"].result_list
    by_id = client.get(TRANSACTIONS, {"q": wanted.external_id}).context["cl"].result_list

    assert list(by_last4) == list(by_decision) == list(by_id) == [wanted]


def test_decision_fields_cannot_be_edited_in_the_admin(client, admin_user):
    tx = TransactionFactory(decision="approve", risk_score=10)
    client.force_login(admin_user)

    client.post(
        reverse("admin:transactions_transaction_change", args=[tx.pk]),
        {"decision": "block", "risk_score": 99, "status": "declined", "amount": "1"},
    )

    tx.refresh_from_db()
    assert (tx.decision, tx.risk_score, tx.status, tx.amount) == ("approve", 10, "approved", Decimal("25.00"))


def test_the_card_admin_shows_only_the_masked_number(client, admin_user, customer):
    card = services.card_add(owner=customer, number=VISA, expiry_month=5, expiry_year=timezone.now().year + 2)
    client.force_login(admin_user)

    listing = client.get(reverse("admin:transactions_card_changelist")).text
    detail = client.get(reverse("admin:transactions_card_change", args=[card.pk])).text

    for page in (listing, detail):
        assert "4111 11•• •••• 1111" in page
        assert "4111111111111111" not in page and card.fingerprint not in page


def test_changing_a_credit_limit_in_the_admin_is_audited(client, admin_user, customer):
    card = CardFactory(owner=customer, credit_limit=Decimal("1000"))
    client.force_login(admin_user)

    client.post(reverse("admin:transactions_card_change", args=[card.pk]), {"credit_limit": "2500.00"})

    card.refresh_from_db()
    assert card.credit_limit == Decimal("2500.00")
    entry = AuditEntry.objects.get(action="card.credit_limit")
    assert (entry.actor, entry.before["credit_limit"], entry.after["credit_limit"]) == (
        admin_user,
        "1000.00",
        "2500.00",
    )
