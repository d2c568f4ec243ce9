import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from detection.models import ListEntry
from transactions.models import Card, FraudReport, Merchant, Transaction
from transactions.tests.factories import (
    MASTERCARD,
    VISA,
    CardFactory,
    FraudReportFactory,
    MerchantFactory,
    TransactionFactory,
)

pytestmark = pytest.mark.django_db

NEXT_YEAR = timezone.now().year + 1


@pytest.fixture
def signed_in(client, customer):
    client.force_login(customer)
    return client


def url(name, *args):
    return reverse(f"transactions:{name}", args=args)


def errors_of(response, field):
    return " ".join(response.context["form"].errors.get(field, []))


@pytest.mark.parametrize(
    "name", ["dashboard", "card_add", "transaction_list", "transaction_new", "report_list"]
)
def test_pages_need_a_signed_in_user(client, name):
    response = client.get(url(name))

    assert response.status_code == 302 and reverse("login") in response.url


# --- dashboard and cards ------------------------------------------------------------------------


def test_the_dashboard_shows_my_cards_balances_and_history_and_nobody_elses(
    signed_in, customer, other_customer
):
    mine = CardFactory(
        owner=customer, first6="411111", last4="1111", balance=Decimal("250.00"), credit_limit=1000
    )
    CardFactory(owner=other_customer, first6="555555", last4="4444")
    TransactionFactory(card=mine, merchant=MerchantFactory(name="Green Grocer"))
    FraudReportFactory(transaction=TransactionFactory(card=mine, merchant=MerchantFactory(name="Shady Shop")))

    page = signed_in.get(url("dashboard")).text

    assert "4111 11•• •••• 1111" in page and "4444" not in page
    assert "250.00" in page and "750.00" in page  # balance and available credit
    assert "pct-25" in page  # the credit bar
    assert "Green Grocer" in page and "Shady Shop" in page
    assert 'data-testid="report-status"' in page


def test_adding_a_card_keeps_no_number_in_the_page_or_database(signed_in, customer):
    response = signed_in.post(
        url("card_add"),
        {"number": VISA, "expiry_month": 4, "expiry_year": NEXT_YEAR, "cardholder_name": "Al"},
    )

    assert response.status_code == 302
    card = Card.objects.get(owner=customer)
    assert (card.brand, card.first6, card.last4) == ("visa", "411111", "1111")
    page = signed_in.get(response.url).text
    assert "Visa •••• 1111" in page and "4111111111111111" not in page and "4111 1111 1111 1111" not in page


@pytest.mark.parametrize(
    ("number", "month", "year", "field", "message"),
    [
        ("4111 1111 1111 1112", 4, NEXT_YEAR, "number", "not valid"),
        ("not a number", 4, NEXT_YEAR, "number", "12 to 19 digits"),
        (VISA, 1, timezone.now().year, "expiry_year", "expired"),
        (VISA, 13, NEXT_YEAR, "expiry_month", "valid choice"),
    ],
)
def test_a_bad_card_shows_a_clear_message_stores_nothing_and_never_echoes_the_number(
    signed_in, number, month, year, field, message
):
    if field == "expiry_year" and timezone.now().month == 1:
        pytest.skip("January: the first month of this year has not passed yet")
    response = signed_in.post(url("card_add"), {"number": number, "expiry_month": month, "expiry_year": year})

    assert response.status_code == 200
    assert message in errors_of(response, field)
    assert not Card.objects.exists()
    assert number not in response.text


def test_a_card_already_registered_is_refused(signed_in, other_customer):
    from transactions.services import card_add

    card_add(owner=other_customer, number=MASTERCARD, expiry_month=1, expiry_year=NEXT_YEAR)

    response = signed_in.post(
        url("card_add"), {"number": MASTERCARD, "expiry_month": 1, "expiry_year": NEXT_YEAR}
    )

    refused = errors_of(response, "number")
    assert "could not add this card" in refused and "registered" not in refused
    assert Card.objects.count() == 1


def test_freezing_and_unfreezing_my_card(signed_in, customer):
    card = CardFactory(owner=customer)

    signed_in.post(url("card_status", card.pk), {"status": "frozen"})
    card.refresh_from_db()
    assert card.status == Card.Status.FROZEN
    assert 'data-testid="unfreeze"' in signed_in.get(url("card_detail", card.pk)).text

    signed_in.post(url("card_status", card.pk), {"status": "active"})
    card.refresh_from_db()
    assert card.status == Card.Status.ACTIVE


def test_another_customers_card_is_404_to_view_or_freeze(signed_in, other_customer):
    card = CardFactory(owner=other_customer)

    assert signed_in.get(url("card_detail", card.pk)).status_code == 404
    assert signed_in.post(url("card_status", card.pk), {"status": "frozen"}).status_code == 404
    card.refresh_from_db()
    assert card.status == Card.Status.ACTIVE


# --- new transaction ----------------------------------------------------------------------------


def pay(client, card, **overrides):
    data = {
        "card": card.pk,
        "merchant": MerchantFactory().pk,
        "new_merchant": "",
        "amount": "25.00",
        "occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "channel": "online",
        "country": "us",
    } | overrides
    return client.post(url("transaction_new"), data)


def test_a_payment_shows_its_verdict_risk_and_reasons(signed_in, customer):
    card = CardFactory(owner=customer)

    response = pay(signed_in, card)

    tx = Transaction.objects.get()
    assert response.status_code == 302 and response.url == url("transaction_detail", tx.pk) + "?submitted=1"
    assert (tx.card, tx.submitted_by, tx.country, tx.amount) == (card, customer, "US", Decimal("25.00"))
    page = signed_in.get(response.url).text
    assert "Your payment was checked." in page
    assert 'data-testid="verdict-label"' in page and f"{tx.risk_score} / 100" in page
    assert tx.reasons and 'data-testid="reason"' in page


def test_what_lowered_the_risk_is_shown_apart_from_the_reasons(signed_in, customer):
    tx = TransactionFactory(
        card=CardFactory(owner=customer),
        reasons=[
            {"code": "amount_vs_card_history", "params": {"ratio": 7.0}, "contribution": 0.4},
            {"code": "new_merchant_for_card", "params": {}, "contribution": -0.05},
        ],
    )
    page = signed_in.get(url("transaction_detail", tx.pk)).text
    raised = re.search(r'data-testid="reasons">(.*?)</ul>', page, re.S).group(1)
    lowered = re.search(r'data-testid="lowering-reasons">(.*?)</ul>', page, re.S).group(1)
    assert "7× this card" in raised and "pays regularly" not in raised
    assert "A merchant this card pays regularly" in lowered and "7×" not in lowered


def test_the_verdict_page_speaks_of_the_decision(signed_in, customer, decision_is):
    decision_is("block", risk_score=97)
    card = CardFactory(owner=customer)

    response = pay(signed_in, card, amount="900")
    page = signed_in.get(response.url).text

    assert "Declined" in page and "97 / 100" in page
    assert "9 transactions on this card in the last hour" in page
    assert "pct-97" in page


def _next_steps(page):
    match = re.search(r'data-testid="next-steps">(.*?)</div>', page, re.S)
    return " ".join(match.group(1).split()) if match else None


@pytest.mark.parametrize(
    ("verdict", "card_fields", "amount", "advice"),
    [
        ("block", {}, "25.00", "call the number on the back of your card"),
        ("approve", {"status": "frozen"}, "25.00", "unfreeze it on the card's page"),
        ("approve", {"credit_limit": Decimal("100")}, "250.00", "not enough credit left"),
        ("review", {}, "25.00", "an analyst checks the payment"),
        ("approve", {}, "25.00", None),
    ],
)
def test_a_customer_is_told_what_to_do_about_a_payment(
    signed_in, customer, decision_is, verdict, card_fields, amount, advice
):
    decision_is(verdict)
    card = CardFactory(owner=customer, **card_fields)

    page = signed_in.get(pay(signed_in, card, amount=amount).url).text

    steps = _next_steps(page)
    assert (steps is None) if advice is None else (advice in steps), steps
    if advice is not None and verdict != "review":
        assert url("card_detail", card.pk) in page or url("dashboard") in page


def test_a_typed_merchant_is_created_with_the_payment(signed_in, customer):
    pay(signed_in, CardFactory(owner=customer), merchant="", new_merchant="Café Lumière")

    tx = Transaction.objects.get()
    assert tx.merchant.name == "Café Lumière" and tx.merchant.external_id == "m_cafe-lumiere"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"amount": "-10"}, "amount", "more than 0"),
        ({"amount": "0"}, "amount", "more than 0"),
        ({"amount": "5000000"}, "amount", "at most"),
        ({"amount": "abc"}, "amount", "as a number"),
        ({"merchant": "999999"}, "merchant", "unknown"),
        ({"merchant": ""}, "merchant", "Pick a merchant or type its name"),
        (
            {"occurred_at": (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")},
            "occurred_at",
            "future",
        ),
        ({"occurred_at": "yesterday-ish"}, "occurred_at", "valid date"),
        ({"country": "X1"}, "country", "two-letter"),
        ({"channel": "telepathy"}, "channel", "valid choice"),
    ],
)
def test_bad_payment_input_shows_a_clear_message_and_stores_nothing(
    signed_in, customer, overrides, field, message
):
    card = CardFactory(owner=customer)

    response = pay(signed_in, card, **overrides)

    assert response.status_code == 200
    assert message in errors_of(response, field)
    assert not Transaction.objects.exists()
    card.refresh_from_db()
    assert card.balance == 0 and card.held == 0


def test_a_typed_merchant_is_not_kept_when_the_payment_is_refused(signed_in, customer):
    response = pay(
        signed_in, CardFactory(owner=customer), merchant="", new_merchant="Ghost Shop", amount="-1"
    )

    assert "more than 0" in errors_of(response, "amount")
    assert not Merchant.objects.filter(name="Ghost Shop").exists()


def test_paying_with_another_customers_card_is_refused(signed_in, other_customer):
    card = CardFactory(owner=other_customer)

    response = pay(signed_in, card)

    assert "valid choice" in errors_of(response, "card")
    assert not Transaction.objects.exists()


def test_without_a_card_the_form_asks_for_one_first(signed_in):
    assert "Add a card first." in signed_in.get(url("transaction_new")).text


# --- list and detail ----------------------------------------------------------------------------


def test_the_list_filters_by_card_verdict_and_period_and_paginates(signed_in, customer, other_customer):
    card_a, card_b = CardFactory(owner=customer), CardFactory(owner=customer)
    now = timezone.now()
    for day in range(25):
        TransactionFactory(card=card_a, occurred_at=now - timedelta(days=day))
    TransactionFactory(card=card_b, status=Transaction.Status.DECLINED, decision="block", occurred_at=now)
    TransactionFactory(card=card_b, occurred_at=now - timedelta(days=60))
    TransactionFactory(card=CardFactory(owner=other_customer))

    def listed(**params):
        return signed_in.get(url("transaction_list"), params).context["page"]

    assert listed().paginator.count == 27
    assert len(listed().object_list) == 20 and len(listed(page=2).object_list) == 7
    assert listed(card=card_b.pk).paginator.count == 2
    assert listed(status="declined").paginator.count == 1
    assert listed(period="7d").paginator.count == 8
    assert listed(card=card_b.pk, period="30d").paginator.count == 1
    # Someone else's card in the filter is not a valid choice: no filter, own rows only.
    assert listed(card=CardFactory(owner=other_customer).pk).paginator.count == 27
    assert "page=2" in signed_in.get(url("transaction_list"), {"status": "approved"}).text


def test_another_customers_transaction_and_report_are_404_by_url_guessing(signed_in, other_customer):
    theirs = TransactionFactory(card=CardFactory(owner=other_customer))
    report = FraudReportFactory(transaction=theirs)

    assert signed_in.get(url("transaction_detail", theirs.pk)).status_code == 404
    assert signed_in.post(url("transaction_report", theirs.pk), {"note": "x"}).status_code == 404
    assert signed_in.get(url("report_detail", report.pk)).status_code == 404
    assert signed_in.get(url("transaction_detail", theirs.pk + 1000)).status_code == 404
    assert FraudReport.objects.count() == 1


def test_reporting_fraud_opens_one_report_that_shows_its_status(signed_in, customer):
    tx = TransactionFactory(card=CardFactory(owner=customer))

    response = signed_in.post(url("transaction_report", tx.pk), {"note": "Card was stolen"}, follow=True)

    report = FraudReport.objects.get()
    assert (report.transaction, report.reported_by, report.source, report.note) == (
        tx,
        customer,
        "customer",
        "Card was stolen",
    )
    assert "Your report is open" in response.text and 'data-testid="report-fraud"' not in response.text
    assert "Open" in signed_in.get(url("report_detail", report.pk)).text

    again = signed_in.post(url("transaction_report", tx.pk), {"note": "again"}, follow=True)
    assert "already has an open fraud report" in again.text
    assert FraudReport.objects.count() == 1


def test_a_too_long_report_note_is_refused(signed_in, customer):
    tx = TransactionFactory(card=CardFactory(owner=customer))

    response = signed_in.post(url("transaction_report", tx.pk), {"note": "x" * 501})

    assert "at most 500 characters" in " ".join(response.context["report_form"].errors["note"])
    assert not FraudReport.objects.exists()


def test_my_reports_list_shows_only_mine(signed_in, customer, other_customer):
    mine = FraudReportFactory(transaction=TransactionFactory(card=CardFactory(owner=customer)))
    FraudReportFactory(transaction=TransactionFactory(card=CardFactory(owner=other_customer)))

    assert list(signed_in.get(url("report_list")).context["page"].object_list) == [mine]
    # Reached from every page's navigation.
    assert f'href="{url("report_list")}" data-testid="nav-reports"' in signed_in.get(url("dashboard")).text


def test_a_declined_payment_can_be_reported_without_talk_of_a_refund(signed_in, customer):
    card = CardFactory(owner=customer)
    declined = TransactionFactory(card=card, status=Transaction.Status.DECLINED, decision="block")
    charged = TransactionFactory(card=card)

    def help_text(tx):
        page = signed_in.get(url("transaction_detail", tx.pk)).text
        return re.search(r'data-testid="report-help">(.*?)</p>', page, re.S).group(1)

    assert "Nothing was charged" in help_text(declined) and "balance" not in help_text(declined)
    assert "comes off your balance" in help_text(charged)


def test_the_pages_speak_chinese(signed_in, customer):
    card = CardFactory(owner=customer)
    signed_in.cookies["django_language"] = "zh-hans"

    dashboard = signed_in.get(url("dashboard")).text
    refused = pay(signed_in, card, amount="-1")

    assert "您的卡片" in dashboard and "欺诈记录" in dashboard
    assert "金额必须大于 0。" in errors_of(refused, "amount")


def test_a_payment_a_list_declined_shows_no_risk_score(signed_in, customer):
    card = CardFactory(owner=customer)
    ListEntry.objects.create(list_type="block", kind="card_id", value=card.external_id, reason="stolen")

    response = pay(signed_in, card)
    tx = Transaction.objects.get()
    page = signed_in.get(response.url).text

    assert (tx.decided_by, tx.status) == ("block_list", Transaction.Status.DECLINED)
    assert tx.risk_score is None  # not in the data either
    assert 'data-testid="risk-score"' not in page and 'data-testid="decided-by-rule"' in page
    # A decision stored with a risk before lists stopped carrying one is not shown with it either.
    Transaction.objects.filter(pk=tx.pk).update(risk_score=97)
    assert ">97</span>" not in signed_in.get(url("transaction_list")).text
    assert 'data-testid="risk-score"' not in signed_in.get(response.url).text


def test_the_same_payment_form_sent_twice_pays_once(signed_in, customer):
    card = CardFactory(owner=customer, credit_limit=Decimal("1000.00"))
    form_page = signed_in.get(url("transaction_new")).text
    key = re.search(r'name="payment_key" value="([^"]+)"', form_page).group(1)
    assert key != re.search(
        r'name="payment_key" value="([^"]+)"', signed_in.get(url("transaction_new")).text
    ).group(1)

    first = pay(signed_in, card, payment_key=key)
    again = pay(signed_in, card, payment_key=key)  # back, then send the form again

    tx = Transaction.objects.get()
    assert first.url == url("transaction_detail", tx.pk) + "?submitted=1"
    assert again.status_code == 302 and again.url == url("transaction_detail", tx.pk)
    assert "was already sent" in signed_in.get(again.url).text
    card.refresh_from_db()
    assert card.balance + card.held == Decimal("25.00")  # charged once
    pay(signed_in, card, payment_key=key + "x")  # another form: another payment
    assert Transaction.objects.count() == 2


@pytest.mark.parametrize(
    "key", ["short", "a" * 44, "../../etc/passwd-xxxxxxx", "abc\x00defghijklmnopqr", "é" * 20]
)
def test_a_tampered_payment_key_is_refused_and_nothing_is_paid(signed_in, customer, key):
    card = CardFactory(owner=customer)
    response = pay(signed_in, card, payment_key=key)
    assert response.status_code == 200 and "This form has expired" in response.text
    assert not Transaction.objects.exists()


def test_reasons_stored_as_bare_sentences_long_ago_still_show(signed_in, customer):
    tx = TransactionFactory(card=CardFactory(owner=customer), reasons=["Much larger than usual."])
    page = signed_in.get(url("transaction_detail", tx.pk))
    assert page.status_code == 200 and "Much larger than usual." in page.text


def test_every_error_of_the_payment_form_shows_at_once(signed_in, customer):
    card = CardFactory(owner=customer)
    response = pay(signed_in, card, merchant="", amount="-3", country="1A")
    assert response.status_code == 200
    assert errors_of(response, "merchant") and errors_of(response, "amount")
    assert "two-letter country code" in errors_of(response, "country")
    assert not Transaction.objects.exists()
