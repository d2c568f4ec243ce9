"""A customer's journey in each language, on a desktop and on a phone: every page fits the
screen (no sideways scrolling), amounts and verdicts stay in view, and a screenshot of each page
is kept in test-artifacts/customer-<language>-<width>-<page>.png for people to look at."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from accounts.tests import factories as users
from conftest import ARTIFACTS
from transactions.models import FraudReport, Transaction
from transactions.tests.factories import CardFactory, MerchantFactory, TransactionFactory
from transactions.tests.test_browser import choose_language, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.slow]

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}

FITS = "document.documentElement.scrollWidth <= window.innerWidth"
# Every element matched is shown and lies wholly inside the window, sideways.
IN_VIEW = """selector => {
  const found = Array.from(document.querySelectorAll(selector));
  return found.length > 0 && found.every((element) => {
    const box = element.getBoundingClientRect();
    return box.width > 0 && box.left >= 0 && box.right <= window.innerWidth;
  });
}"""


def url(name, *args):
    return reverse(f"transactions:{name}", args=args)


class Visit:
    def __init__(self, page, language, width):
        self.page, self.language, self.width = page, language, width

    def check(self, name, *in_view):
        """The page fits the window, what must stay in view does, and a screenshot is kept."""
        self.page.wait_for_load_state("load")
        assert self.page.evaluate(FITS), f"{name} scrolls sideways at {self.width}px"
        for selector in in_view:
            assert self.page.evaluate(IN_VIEW, selector), f"{selector} is out of view on {name}"
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(
            path=str(ARTIFACTS / f"customer-{self.language}-{self.width}-{name}.png"), full_page=True
        )


@pytest.mark.parametrize("viewport", list(VIEWPORTS), ids=list(VIEWPORTS))
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_customer_journey_fits_every_screen_in_every_language(page, language, viewport):
    size = VIEWPORTS[viewport]
    page.set_viewport_size(size)
    visit = Visit(page, language, size["width"])
    customer = users.customer()
    card = CardFactory(owner=customer, credit_limit=Decimal("25000.00"))
    MerchantFactory(name="Corner Coffee", category="5812")
    MerchantFactory(name="Green Grocer", category="5411")
    MerchantFactory(external_id="sim_M000123", name="", category="5818", country="US")
    TransactionFactory(
        card=card,
        merchant=MerchantFactory(
            name="A merchant with a really rather long name, Incorporated", category="4722"
        ),
        amount=Decimal("12345.67"),
        status=Transaction.Status.CONFIRMED_LEGITIMATE,
    )

    page.goto("/accounts/login/")
    if language != "en":
        toggler = page.locator(".navbar-toggler")
        if toggler.is_visible():  # on a phone the switcher is in the folded menu
            toggler.click()
            expect(page.locator("#language-select")).to_be_visible()
        choose_language(page, language)
    visit.check("sign-in")
    sign_in(page, customer)

    page.goto(url("dashboard"))
    expect(page.get_by_test_id("total-balance")).to_be_visible()
    visit.check("overview", "[data-testid=tx-row-amount]", "[data-testid=tx-row-verdict]")

    # A new payment, its merchant found through the search box.
    page.goto(url("transaction_new"))
    search = page.get_by_test_id("merchant-search")
    search.fill("coffee")
    expect(page.locator("#id_merchant option:checked")).to_have_text(re.compile(r"^Corner Coffee — "))
    expect(page.get_by_test_id("merchant-search-status")).to_contain_text("1")
    search.press("Enter")  # chooses; does not send the half-filled form
    expect(page.locator("#id_merchant")).to_be_focused()
    page.fill("#id_amount", "1234.50")
    visit.check("new-payment")
    page.locator("#submit-id-submit").click()

    expect(page.get_by_test_id("verdict-label")).to_be_visible()
    expect(page.get_by_test_id("tx-amount")).to_contain_text("1,234.50")
    tx = Transaction.objects.get(merchant__name="Corner Coffee")
    assert tx.amount == Decimal("1234.50")
    visit.check("verdict", "[data-testid=tx-amount]", "[data-testid=verdict-label]")

    page.goto(url("transaction_list"))
    row = page.get_by_test_id("transaction-row").filter(has_text="Corner Coffee")
    expect(row.get_by_test_id("tx-row-amount")).to_contain_text("1,234.50")
    visit.check("transactions", "[data-testid=tx-row-amount]", "[data-testid=tx-row-verdict]")

    # Report it as fraud, from the list.
    row.get_by_role("link").click()
    page.fill("#id_note", "Not me.")
    page.get_by_test_id("report-fraud").click()
    expect(page.get_by_test_id("report").get_by_test_id("report-status")).to_be_visible()
    assert FraudReport.objects.filter(transaction=tx, status=FraudReport.Status.OPEN).exists()
    visit.check("reported", "[data-testid=tx-amount]", "[data-testid=verdict-label]")

    page.goto(url("report_list"))
    expect(page.get_by_test_id("report-row")).to_have_count(1)
    visit.check(
        "reports", "[data-testid=report-row] .amount", "[data-testid=report-row] [data-testid=report-status]"
    )
    page.get_by_test_id("report-row").get_by_role("link").click()
    visit.check("report", "[data-testid=report-amount]", "[data-testid=report-status]")

    page.goto(url("dashboard"))
    expect(page.get_by_test_id("dashboard-report")).to_have_count(1)
    visit.check("overview-reported", "[data-testid=dashboard-report] .amount")

    page.goto(url("card_detail", card.pk))
    visit.check("card", "[data-testid=tx-row-amount]", "[data-testid=tx-row-verdict]")
    page.goto(reverse("profile"))
    visit.check("profile")

    assert not [error for error in page.console_errors if "Content Security Policy" in error]


@pytest.mark.parametrize("viewport", list(VIEWPORTS), ids=list(VIEWPORTS))
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_api_keys_page_fits_every_screen(page, language, viewport):
    size = VIEWPORTS[viewport]
    page.set_viewport_size(size)
    visit = Visit(page, language, size["width"])
    integrator = users.integrator()
    sign_in(page, integrator)
    page.context.add_cookies([{"name": "django_language", "value": language, "url": page.url}])

    page.goto(reverse("api_keys"))
    page.fill("#id_name", "Checkout terminal of the flagship store, second floor")
    page.locator("#submit-id-submit").click()
    expect(page.get_by_test_id("new-key-value")).to_be_visible()
    expect(page.get_by_test_id("key-row")).to_have_count(1)
    visit.check("api-keys", "[data-testid=key-row] .badge", "[data-testid^=revoke-]")
