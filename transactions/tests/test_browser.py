"""The customer journey in a real browser, against the live server."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from playwright.sync_api import expect

from accounts.tests import factories as users
from detection.sentences import reason_sentence
from transactions.models import Card, FraudReport, Transaction
from transactions.tests.factories import CardFactory, MerchantFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.slow]

VERDICTS = re.compile(r"Approved|Under review|Declined")


def sign_in(page, user):
    page.goto("/accounts/login/")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", users.PASSWORD)
    # Enter, not the button: the sign-in button's label belongs to the accounts app.
    page.press("input[name=password]", "Enter")
    # Signed in: off the sign-in page, on the page this role starts on.
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


def sign_out(page):
    page.goto("/")
    page.get_by_test_id("sign-out").click()
    expect(page.locator("#main-nav").get_by_role("link", name="Sign in")).to_be_visible()


def pay(page, *, amount, merchant="", new_merchant="", channel="in_store", country=""):
    page.get_by_role("link", name="New payment").first.click()
    if merchant:
        pick_merchant(page, merchant)
    if new_merchant:
        page.fill("#id_new_merchant", new_merchant)
    page.fill("#id_amount", amount)
    page.select_option("#id_channel", channel)
    page.fill("#id_country", country)
    page.get_by_role("button", name="Pay").click()
    expect(page.get_by_text("Your payment was checked.")).to_be_visible()
    expect(page.get_by_test_id("verdict-label")).to_have_text(VERDICTS)
    expect(page.get_by_test_id("reason").first).to_be_visible()
    expect(page.get_by_test_id("risk-score")).to_contain_text("/ 100")


def pick_merchant(page, name):
    """Through the search box static/js/site.js puts on the merchant list: it picks the first
    merchant whose name or kind of shop holds every word typed."""
    page.wait_for_load_state("load")
    page.fill("#id_merchant-search", name)
    expect(page.locator("#id_merchant option:checked")).to_contain_text(name)


def available_credit(page):
    page.get_by_test_id("nav-dashboard").click()
    # Money is grouped by thousands on the pages ("1,000.00").
    return Decimal(page.get_by_test_id("card-available").first.inner_text().replace(",", ""))


def test_a_customer_pays_reports_fraud_and_sees_it_confirmed(page):
    customer, analyst = users.customer(), users.analyst()
    MerchantFactory(name="Green Grocer")
    next_year = timezone.now().year + 1

    sign_in(page, customer)
    page.get_by_test_id("nav-dashboard").click()
    page.get_by_test_id("add-card").click()
    page.fill("#id_number", "4242 4242 4242 4242")
    page.select_option("#id_expiry_month", "4")
    page.select_option("#id_expiry_year", str(next_year))
    page.fill("#id_cardholder_name", "Pat Doe")
    page.get_by_role("button", name="Add card").click()
    expect(page.get_by_test_id("card-number")).to_have_text("4242 42•• •••• 4242")
    assert "4242424242424242" not in page.content()

    pay(page, amount="25.00", merchant="Green Grocer")
    pay(page, amount="4800.00", new_merchant="QuickCrypto Exchange", channel="online", country="NG")
    assert Transaction.objects.count() == 2

    # Report the everyday payment: whatever was decided, its money is on the card.
    page.get_by_role("link", name="Transactions").first.click()
    page.get_by_test_id("transaction-row").filter(has_text="Green Grocer").get_by_role("link").click()
    reported = Transaction.objects.get(merchant__name="Green Grocer")
    page.fill("#id_note", "I was at home all day.")
    page.get_by_test_id("report-fraud").click()
    expect(page.get_by_test_id("report-status")).to_have_text("Open")
    before = available_credit(page)
    expect(page.get_by_test_id("fraud-history")).to_contain_text("Green Grocer")
    sign_out(page)

    sign_in(page, analyst)
    page.goto("/admin/transactions/fraudreport/")
    page.locator("input[name=_selected_action]").first.check()
    page.select_option("select[name=action]", "confirm_fraud")
    page.locator("button[name=index]").click()
    expect(page.get_by_text("1 item updated.")).to_be_visible()
    sign_out(page)

    sign_in(page, customer)
    after = available_credit(page)
    expect(page.get_by_test_id("fraud-history").get_by_test_id("report-status")).to_have_text("Confirmed")
    moved = reported.status in (Transaction.Status.APPROVED, Transaction.Status.PENDING_REVIEW)
    assert after - before == (reported.amount if moved else 0)
    card = Card.objects.get(owner=customer)
    assert after == card.available_credit
    assert FraudReport.objects.get().status == FraudReport.Status.CONFIRMED
    page.get_by_test_id("fraud-history").get_by_role("link").click()
    page.get_by_role("link", name=re.compile("Green Grocer")).click()
    expect(page.get_by_test_id("verdict-label")).to_have_text("Confirmed fraud")
    assert not [error for error in page.console_errors if "Content Security Policy" in error]


def choose_language(page, code):
    """The site's language switcher (it submits itself, once the page's script has run: a page
    whose elements show is not yet a page whose scripts are attached)."""
    page.wait_for_load_state("load")
    with page.expect_navigation():
        page.select_option("#language-select", code)


def velocity_sentence(language, n):
    with translation.override(language):
        return reason_sentence({"code": "card_velocity", "params": {"n": n, "window": "1h"}})


def lowering_sentence(language):
    with translation.override(language):
        return reason_sentence({"code": "new_merchant_for_card", "params": {}, "contribution": -0.05})


def test_each_reader_sees_the_reasons_in_their_own_language(page, decision_is):
    """A payment made in Chinese reads in English to whoever reads English, and the reverse:
    reasons are written when they are shown, not when the payment was decided."""
    # Held for review: 4 payments on the card in the last hour raised the risk; a merchant the card
    # knows lowered it.
    decision_is("review", lowered=True)
    english, chinese = velocity_sentence("en", 4), velocity_sentence("zh-hans", 4)
    assert english == "4 transactions on this card in the last hour" and re.search("[\u4e00-\u9fff]", chinese)
    known_en, known_zh = lowering_sentence("en"), lowering_sentence("zh-hans")
    assert known_en == "A merchant this card pays regularly" and re.search("[\u4e00-\u9fff]", known_zh)
    customer, analyst = users.customer(), users.analyst()
    CardFactory(owner=customer)
    MerchantFactory(name="Green Grocer")

    sign_in(page, customer)
    choose_language(page, "zh-hans")
    page.goto(reverse("transactions:transaction_new"))
    pick_merchant(page, "Green Grocer")
    page.fill("#id_amount", "25.00")
    page.locator("#id_amount").locator("xpath=ancestor::form").locator("[type=submit]").click()
    expect(page.get_by_test_id("reason")).to_have_text([chinese])
    expect(page.get_by_test_id("lowering-reason")).to_have_text([known_zh])
    choose_language(page, "en")  # the same payment, now read in English
    expect(page.get_by_test_id("reason")).to_have_text([english])
    expect(page.get_by_test_id("lowering-reason")).to_have_text([known_en])
    sign_out(page)

    sign_in(page, analyst)  # this browser reads English now
    page.goto(reverse("admin:transactions_review_queue"))
    expect(page.get_by_test_id("queue-reasons").locator("li").first).to_have_text(english)
    expect(page.get_by_test_id("queue-lowering-reason")).to_contain_text(known_en)
    page.goto("/")
    choose_language(page, "zh-hans")
    page.goto(reverse("admin:transactions_review_queue"))
    expect(page.get_by_test_id("queue-reasons").locator("li").first).to_have_text(chinese)
    expect(page.get_by_test_id("queue-lowering-reason")).to_contain_text(known_zh)
    page.goto(reverse("admin:transactions_transaction_change", args=[Transaction.objects.get().pk]))
    expect(page.get_by_test_id("case-reasons")).to_contain_text(chinese)
