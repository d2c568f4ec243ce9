import re
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from accounts.models import AuditEntry
from detection.sentences import reason_sentence
from transactions import services
from transactions.models import Card, FraudReport, Merchant, Transaction
from transactions.tests.factories import AMEX, MASTERCARD, VISA, VISA_2, CardFactory, MerchantFactory

pytestmark = pytest.mark.django_db

NEXT_YEAR = timezone.now().year + 1


def add_card(owner, number=VISA, **overrides):
    data = {"owner": owner, "number": number, "expiry_month": 6, "expiry_year": NEXT_YEAR} | overrides
    return services.card_add(**data)


def submit(card, amount, merchant=None, **overrides):
    return services.transaction_submit(
        card=card, merchant=merchant or MerchantFactory(), amount=amount, **overrides
    )


def fresh(card):
    card.refresh_from_db()
    return card


# --- cards --------------------------------------------------------------------------------------


def test_a_card_keeps_only_brand_six_four_and_fingerprint(customer):
    card = add_card(customer, VISA, cardholder_name=" Alice Doe ", credit_limit="2500")

    assert (card.brand, card.first6, card.last4) == ("visa", "411111", "1111")
    assert len(card.fingerprint) == 64 and "4111111111111111" not in card.fingerprint
    assert card.cardholder_name == "Alice Doe"
    assert card.credit_limit == Decimal("2500.00")
    assert card.owner == customer and card.external_id.startswith("card_")
    stored = " ".join(str(value) for value in Card.objects.values().get().values())
    audit = " ".join(str(entry.after) for entry in AuditEntry.objects.all())
    assert "4111111111111111" not in stored + audit
    assert "1111 1111 1111" not in stored + audit


@pytest.mark.parametrize(("number", "brand"), [(MASTERCARD, "mastercard"), (AMEX, "amex"), (VISA_2, "visa")])
def test_card_brand_comes_from_the_number(customer, number, brand):
    assert add_card(customer, number).brand == brand


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"number": "4111 1111 1111 1112"}, "number", "not valid"),
        ({"number": "4111-abcd"}, "number", "12 to 19 digits"),
        ({"number": "4242"}, "number", "12 to 19 digits"),
        ({"expiry_month": 13}, "expiry_month", "between 1 and 12"),
        ({"expiry_year": timezone.now().year - 1}, "expiry_year", "expired"),
        ({"expiry_year": timezone.now().year + 40}, "expiry_year", "too far"),
        ({"credit_limit": "-5"}, "credit_limit", "more than 0"),
    ],
)
def test_a_bad_card_is_refused_with_a_clear_message_and_nothing_stored(customer, overrides, field, message):
    with pytest.raises(ValidationError) as error:
        add_card(customer, **overrides)

    assert message in " ".join(error.value.message_dict[field])
    assert not Card.objects.exists()


def test_a_card_expiring_this_month_is_still_valid(customer):
    today = timezone.localdate()
    card = add_card(customer, expiry_month=today.month, expiry_year=today.year % 100)

    assert (card.expiry_month, card.expiry_year) == (today.month, today.year)


def test_the_same_card_cannot_be_registered_twice(customer, other_customer):
    add_card(customer, VISA)

    with pytest.raises(ValidationError) as error:
        add_card(other_customer, "4111111111111111")
    # Nothing says that another customer holds it.
    refused = " ".join(error.value.message_dict["number"])
    assert refused == "We could not add this card. Check the number, or contact us if it is yours."
    with pytest.raises(ValidationError) as error:
        add_card(customer, "4111 1111 1111 1111")
    assert error.value.message_dict["number"] == ["You have already added this card."]
    assert Card.objects.count() == 1


def test_freezing_a_card_is_audited_and_declines_its_payments(customer, decision_is):
    decision_is("approve")
    card = add_card(customer)

    services.card_set_status(card=card, status=Card.Status.FROZEN, actor=customer)
    tx = submit(card, "10.00")

    assert tx.status == Transaction.Status.DECLINED
    assert tx.reasons[0]["code"] == services.CARD_FROZEN
    assert fresh(card).balance == 0
    entry = AuditEntry.objects.get(action="card.freeze")
    assert (entry.actor, entry.before["status"], entry.after["status"]) == (customer, "active", "frozen")

    services.card_set_status(card=card, status=Card.Status.ACTIVE, actor=customer)
    assert submit(card, "10.00").status == Transaction.Status.APPROVED
    assert AuditEntry.objects.filter(action="card.unfreeze").count() == 1


def test_card_and_merchant_get_or_create_reuse_what_exists(customer):
    card = services.card_get_or_create(external_id="C-100", owner=customer)
    again = services.card_get_or_create(external_id="C-100")
    merchant = services.merchant_get_or_create(external_id="M-1", name="Cafe", category="5812", country="fr")

    assert card == again and again.owner == customer and card.fingerprint is None
    assert (merchant.name, merchant.country) == ("Cafe", "FR")
    assert services.merchant_get_or_create(external_id="M-1", name="Other") == merchant
    with pytest.raises(ValidationError) as error:
        services.card_get_or_create(external_id="bad id with spaces")
    assert "card_id" in error.value.message_dict


# --- submitting ---------------------------------------------------------------------------------


def test_an_approved_transaction_is_stored_with_its_decision_and_adds_to_the_balance(customer, decision_is):
    decision_is("approve")
    card = CardFactory(owner=customer, credit_limit=Decimal("1000"))
    merchant = MerchantFactory(country="DE")

    tx = submit(card, "120.50", merchant, channel="online", submitted_by=customer)

    tx.refresh_from_db()
    assert (tx.decision, tx.status, tx.risk_score, tx.score) == ("approve", "approved", 5, 0.42)
    assert (tx.model_version, tx.decided_by, tx.submitted_by) == ("test-model-1", "model", customer)
    # Stored as a code and its values, no sentence: each reader gets it in their own language.
    assert tx.reasons == [{"code": "card_velocity", "params": {"n": 1, "window": "1h"}, "contribution": 0.1}]
    assert tx.features == {"amount": 120.5, "card_tx_count_1d": None}  # NaN stored as null
    assert tx.decided_at is not None and tx.external_id.startswith("tx_")
    card = fresh(card)
    assert (card.balance, card.held, card.available_credit) == (Decimal("120.50"), 0, Decimal("879.50"))
    entry = AuditEntry.objects.get(action="transaction.submit")
    assert (entry.actor, entry.target_id) == (customer, str(tx.pk))
    assert (entry.before["card"]["balance"], entry.after["card"]["balance"]) == ("0.00", "120.50")


def test_a_transaction_under_review_holds_its_amount(customer, decision_is):
    decision_is("review")
    card = CardFactory(owner=customer, credit_limit=Decimal("1000"))

    tx = submit(card, "300")

    assert tx.status == Transaction.Status.PENDING_REVIEW
    card = fresh(card)
    assert (card.balance, card.held, card.available_credit) == (0, Decimal("300.00"), Decimal("700.00"))


def test_a_declined_transaction_does_not_touch_the_balance(customer, decision_is):
    decision_is("block")
    card = CardFactory(owner=customer)

    tx = submit(card, "80")

    assert tx.status == Transaction.Status.DECLINED
    assert (fresh(card).balance, fresh(card).held) == (0, 0)


def test_over_the_available_credit_is_declined_by_rule(customer, decision_is):
    decision_is("approve")
    card = CardFactory(owner=customer, credit_limit=Decimal("500"))
    submit(card, "400")

    tx = submit(card, "100.01")

    assert (tx.decision, tx.status, tx.decided_by) == ("block", "declined", "rule")
    assert tx.risk_score is None  # no fraud risk shown for a card that is short of credit
    assert tx.reasons[0]["code"] == services.OVER_CREDIT_LIMIT
    assert tx.reasons[0]["params"] == {}  # no figure of the card's credit
    assert not re.search(r"\d", reason_sentence(tx.reasons[0]))
    assert fresh(card).balance == Decimal("400.00")
    assert submit(card, "100.00").status == Transaction.Status.APPROVED


def test_exactly_the_available_credit_is_approved_whatever_the_balances(customer, decision_is):
    """SQLite keeps decimals as binary floats, in which 1000.00 - 0.07 - 0.07 falls short of 999.86;
    the credit check must still see cents."""
    decision_is("approve")
    card = CardFactory(owner=customer, credit_limit=Decimal("1000.00"))
    Card.objects.filter(pk=card.pk).update(balance=Decimal("0.07"), held=Decimal("0.07"))

    tx = submit(card, "999.86")

    assert (tx.decision, tx.status) == ("approve", Transaction.Status.APPROVED)
    assert (fresh(card).balance, fresh(card).held) == (Decimal("999.93"), Decimal("0.07"))


def test_the_placeholder_or_real_decide_is_called_and_its_verdict_stored(customer):
    card = CardFactory(owner=customer)

    tx = submit(card, "42")

    assert tx.decision in {"approve", "review", "block"}
    assert tx.reasons and all({"code", "params"} <= set(reason) for reason in tx.reasons)
    card = fresh(card)
    assert card.balance + card.held == {"approve": 42, "review": 42, "block": 0}[tx.decision]


def test_a_failing_decide_holds_the_transaction_for_review(customer, decision_is):
    decision_is("approve", raises=RuntimeError("model file missing"))
    card = CardFactory(owner=customer)

    tx = submit(card, "42")

    assert tx.status == Transaction.Status.PENDING_REVIEW
    assert tx.reasons[0]["code"] == services.DECISION_UNAVAILABLE


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"amount": "-5"}, "amount", "more than 0"),
        ({"amount": "0"}, "amount", "more than 0"),
        ({"amount": "1000000.01"}, "amount", "at most"),
        ({"amount": "12.345"}, "amount", "2 decimal places"),
        ({"amount": "twelve"}, "amount", "as a number"),
        ({"amount": "NaN"}, "amount", "as a number"),
        ({"occurred_at": timezone.now() + timedelta(hours=1)}, "occurred_at", "future"),
        ({"channel": "carrier-pigeon"}, "channel", "Choose one of"),
        ({"country": "France"}, "country", "two-letter"),
        ({"currency": "dollars"}, "currency", "three-letter"),
        ({"merchant": None}, "merchant", "Choose a merchant"),
    ],
)
def test_bad_transaction_input_is_refused_and_nothing_stored(
    customer, decision_is, overrides, field, message
):
    decision_is("approve")
    card = CardFactory(owner=customer)
    data = {"card": card, "merchant": MerchantFactory(), "amount": "10"} | overrides

    with pytest.raises(ValidationError) as error:
        services.transaction_submit(**data)

    assert message in " ".join(error.value.message_dict[field])
    assert not Transaction.objects.exists()
    assert fresh(card).balance == 0 and fresh(card).held == 0


def test_a_duplicate_external_id_is_refused(customer, decision_is):
    decision_is("approve")
    card = CardFactory(owner=customer)
    submit(card, "10", external_id="T-1")

    with pytest.raises(ValidationError) as error:
        submit(card, "10", external_id="T-1")

    assert "already exists" in " ".join(error.value.message_dict["external_id"])
    assert Transaction.objects.count() == 1 and fresh(card).balance == Decimal("10.00")


def test_a_small_clock_skew_is_tolerated(customer, decision_is):
    decision_is("approve")
    tx = submit(CardFactory(owner=customer), "10", occurred_at=timezone.now() + timedelta(seconds=30))

    assert tx.pk is not None


# --- concurrency --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_never_overspend_the_credit_limit(decision_is):
    decision_is("approve")
    card = CardFactory(owner=None, credit_limit=Decimal("100.00"))
    merchant = MerchantFactory()
    errors = []
    start = threading.Barrier(6)

    def pay():
        try:
            start.wait()
            for _ in range(4):
                services.transaction_submit(card=card, merchant=merchant, amount="7.00")
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=pay) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    approved = Transaction.objects.filter(status=Transaction.Status.APPROVED)
    declined = Transaction.objects.filter(status=Transaction.Status.DECLINED)
    assert approved.count() + declined.count() == 24
    assert approved.count() == 14  # 14 x 7 = 98 fits under 100; the 15th would not
    assert all(tx.reasons[0]["code"] == services.OVER_CREDIT_LIMIT for tx in declined)
    assert fresh(card).balance == Decimal("98.00")


# --- review -------------------------------------------------------------------------------------


def test_an_analyst_approves_a_held_transaction_and_the_hold_moves_to_the_balance(
    customer, analyst, decision_is
):
    decision_is("review")
    card = CardFactory(owner=customer)
    tx = submit(card, "60")

    services.transaction_review_resolve(
        transaction=tx, actor=analyst, is_fraud=False, note="called the customer"
    )

    tx.refresh_from_db()
    assert (tx.status, tx.is_fraud, tx.label_source) == ("approved", False, "analyst")
    assert (fresh(card).balance, fresh(card).held) == (Decimal("60.00"), 0)
    entry = AuditEntry.objects.get(action="transaction.review_legitimate")
    assert entry.actor == analyst and entry.before["card"]["held"] == "60.00"


def test_an_analyst_declines_a_held_fraud_and_the_hold_is_released(customer, analyst, decision_is):
    decision_is("review")
    card = CardFactory(owner=customer)
    tx = submit(card, "60")

    services.transaction_review_resolve(transaction=tx, actor=analyst, is_fraud=True)

    tx.refresh_from_db()
    assert (tx.status, tx.is_fraud) == ("declined", True) and tx.label_known_at is not None
    assert (fresh(card).balance, fresh(card).held) == (0, 0)
    with pytest.raises(ValidationError):
        services.transaction_review_resolve(transaction=tx, actor=analyst, is_fraud=False)


# --- fraud reports ------------------------------------------------------------------------------


def test_a_customer_reports_fraud_once_and_it_is_audited(customer, decision_is):
    decision_is("approve")
    tx = submit(CardFactory(owner=customer), "35")

    report = services.fraud_report_create(
        transaction=tx, reported_by=customer, source="customer", note="not me"
    )

    assert (report.status, report.source, report.note, report.reported_by) == (
        "open",
        "customer",
        "not me",
        customer,
    )
    assert AuditEntry.objects.filter(action="fraud_report.create", actor=customer).count() == 1
    with pytest.raises(ValidationError) as error:
        services.fraud_report_create(transaction=tx, reported_by=customer, source="customer")
    assert "already has an open" in " ".join(error.value.message_dict["transaction"])
    assert FraudReport.objects.count() == 1


def test_a_report_with_an_unknown_source_or_a_long_note_is_refused(customer):
    tx = Transaction.objects.create(
        external_id="T",
        card=CardFactory(owner=customer),
        merchant=MerchantFactory(),
        amount=1,
        occurred_at=timezone.now(),
    )
    with pytest.raises(ValidationError) as error:
        services.fraud_report_create(transaction=tx, reported_by=customer, source="psychic", note="x" * 2001)
    assert {"source", "note"} <= set(error.value.message_dict)
    assert not FraudReport.objects.exists()


def test_confirming_fraud_labels_the_transaction_and_reverses_the_balance(customer, analyst, decision_is):
    decision_is("approve")
    card = CardFactory(owner=customer)
    keep = submit(card, "20")
    stolen = submit(card, "35")
    report = services.fraud_report_create(transaction=stolen, reported_by=customer, source="customer")

    services.fraud_report_resolve(report=report, resolved_by=analyst, confirmed=True, note="chargeback filed")

    report.refresh_from_db()
    stolen.refresh_from_db()
    assert (report.status, report.resolved_by, report.resolution_note) == (
        "confirmed",
        analyst,
        "chargeback filed",
    )
    assert (stolen.status, stolen.is_fraud, stolen.label_source) == ("confirmed_fraud", True, "customer")
    assert stolen.label_known_at == report.resolved_at
    assert fresh(card).balance == keep.amount
    entry = AuditEntry.objects.get(action="fraud_report.confirm")
    assert entry.actor == analyst
    assert (entry.before["card"]["balance"], entry.after["card"]["balance"]) == ("55.00", "20.00")
    assert entry.after["transaction"]["status"] == "confirmed_fraud"
    with pytest.raises(ValidationError):
        services.fraud_report_resolve(report=report, resolved_by=analyst, confirmed=False)
    with pytest.raises(ValidationError):  # already confirmed: nothing more to report
        services.fraud_report_create(transaction=stolen, reported_by=customer, source="customer")


def test_confirming_fraud_on_a_held_transaction_releases_the_hold(customer, analyst, decision_is):
    decision_is("review")
    card = CardFactory(owner=customer)
    tx = submit(card, "35")
    report = services.fraud_report_create(transaction=tx, reported_by=customer, source="customer")

    services.fraud_report_resolve(report=report, resolved_by=analyst, confirmed=True)

    assert (fresh(card).balance, fresh(card).held) == (0, 0)


def test_rejecting_a_report_labels_the_transaction_legitimate(customer, analyst, decision_is):
    decision_is("approve")
    card = CardFactory(owner=customer)
    tx = submit(card, "35")
    report = services.fraud_report_create(transaction=tx, reported_by=customer, source="chargeback")

    services.fraud_report_resolve(
        report=report, resolved_by=analyst, confirmed=False, note="customer's own purchase"
    )

    tx.refresh_from_db()
    assert (tx.status, tx.is_fraud, tx.label_source) == ("confirmed_legitimate", False, "chargeback")
    assert fresh(card).balance == Decimal("35.00")
    assert AuditEntry.objects.filter(action="fraud_report.reject", actor=analyst).count() == 1
    # A later report on the same transaction is possible again, and confirming it reverses it.
    second = services.fraud_report_create(transaction=tx, reported_by=customer, source="customer")
    services.fraud_report_resolve(report=second, resolved_by=analyst, confirmed=True)
    assert fresh(card).balance == 0


def test_merchant_lookup_refuses_bad_country(customer):
    with pytest.raises(ValidationError):
        services.merchant_get_or_create(external_id="M-2", country="Germany")
    assert not Merchant.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_reports_at_the_same_moment_open_only_one():
    tx = Transaction.objects.create(
        external_id="T-race",
        card=CardFactory(owner=None),
        merchant=MerchantFactory(),
        amount=5,
        occurred_at=timezone.now(),
    )
    outcomes = []
    start = threading.Barrier(4)

    def report():
        try:
            start.wait()
            services.fraud_report_create(transaction=tx, reported_by=None, source="integrator")
            outcomes.append("created")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=report) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["created", "refused", "refused", "refused"]
    assert FraudReport.objects.filter(transaction=tx, status="open").count() == 1


def test_one_payment_form_is_one_payment_even_when_sent_twice(customer, decision_is):
    decision_is("approve")
    card = CardFactory(owner=customer, credit_limit=Decimal("500.00"))
    merchant = MerchantFactory()
    form = {
        "customer": customer,
        "card": card,
        "merchant": merchant,
        "amount": "10.00",
        "payment_key": "k" * 22,
    }

    first = services.customer_payment_submit(**form)
    with pytest.raises(ValidationError) as second:
        services.customer_payment_submit(**form)

    assert "external_id" in second.value.message_dict
    assert list(Transaction.objects.all()) == [first]
    card.refresh_from_db()
    assert card.balance == Decimal("10.00")
