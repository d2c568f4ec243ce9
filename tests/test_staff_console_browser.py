"""An analyst's day in the staff console, in each language, on a laptop and on a phone: the queue,
a case read and settled (confirm fraud, freeze the card, block it), the transactions list filtered
on a merchant found by typing, the dashboards. Every page fits the screen without sideways
scrolling; a screenshot of each is kept in test-artifacts/staff-<language>-<width>-<page>.png.
And every page of the console, for a superuser, fits both screens."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from playwright.sync_api import expect

from accounts.tests import factories as users
from conftest import ARTIFACTS
from detection.models import ListEntry
from detection.sentences import reason_sentence
from transactions.models import Card, Transaction
from transactions.tests.factories import CardFactory, FraudReportFactory, MerchantFactory, TransactionFactory
from transactions.tests.test_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"
VELOCITY = {"code": "card_velocity", "params": {"n": 6, "window": "1h"}, "contribution": 2.0}


def fits(page, language, width, name):
    page.wait_for_load_state("load")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"staff-{language}-{width}-{name}.png"), full_page=True)
    overflow = page.evaluate(OVERFLOW)
    assert overflow <= 0, f"{name} is {overflow} px wider than the {width} px window"


def choose_staff_language(page, code):
    page.wait_for_load_state("load")
    with page.expect_navigation():
        page.select_option("#staff-language-select", code)


@pytest.fixture
def a_day():
    """A card that pays small amounts daily, then six payments in an hour, the last held for
    review; another payment reported by its customer."""
    now = timezone.now()
    card = CardFactory(credit_limit=Decimal("20000.00"), fingerprint="a" * 64)
    grocer = MerchantFactory(name="Green Grocer")
    for day in range(20, 0, -1):
        TransactionFactory(
            card=card, merchant=grocer, occurred_at=now - timedelta(days=day), amount=Decimal("18.00")
        )
    crypto = MerchantFactory(name="QuickCrypto Exchange")
    held = TransactionFactory(
        external_id="web_case_0001",
        card=card,
        merchant=crypto,
        occurred_at=now - timedelta(minutes=20),
        decided_at=now - timedelta(minutes=20),
        amount=Decimal("4850.00"),
        status=Transaction.Status.PENDING_REVIEW,
        decision="review",
        risk_score=83,
        reasons=[VELOCITY],
    )
    card.held = held.amount
    card.save()
    FraudReportFactory(transaction=TransactionFactory(merchant=grocer, occurred_at=now - timedelta(days=1)))
    return {"card": card, "held": held, "crypto": crypto}


@pytest.mark.parametrize("viewport", list(VIEWPORTS), ids=list(VIEWPORTS))
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_an_analysts_day_in_every_language_on_every_screen(page, a_day, language, viewport):
    size = VIEWPORTS[viewport]
    page.set_viewport_size(size)
    width = size["width"]
    analyst = users.analyst()
    with translation.override(language):
        velocity = reason_sentence(VELOCITY)

    sign_in(page, analyst)  # an analyst starts on the review queue
    expect(page.get_by_test_id("review-queue")).to_be_visible()
    if language != "en":
        choose_staff_language(page, language)
    expect(page.get_by_test_id("queue-item")).to_have_count(2)
    fits(page, language, width, "queue")

    # The held payment, read as a case: why, against the card's normal, the card's history.
    page.get_by_role("link", name="web_case_0001").first.click()
    expect(page.get_by_test_id("case-reasons")).to_contain_text(velocity)
    expect(page.get_by_test_id("unusual-feature").first).to_be_visible()
    expect(page.get_by_test_id("case-timeline").locator("li")).to_have_count(13)
    fits(page, language, width, "case")

    # Settled: fraud, the card frozen and on the block list.
    page.get_by_test_id("confirm-fraud").click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    page.get_by_test_id("freeze-card").click()
    expect(page.get_by_test_id("unfreeze-card")).to_be_visible()
    page.get_by_test_id("list-form").locator("textarea").fill("Card testing at a crypto exchange")
    page.get_by_test_id("list-add").click()
    expect(page.get_by_test_id("case-listed")).to_be_visible()
    fits(page, language, width, "case-settled")
    held = Transaction.objects.get(pk=a_day["held"].pk)
    assert held.status == Transaction.Status.DECLINED and held.is_fraud is True
    assert Card.objects.get(pk=a_day["card"].pk).status == Card.Status.FROZEN
    assert ListEntry.objects.get().value == a_day["card"].fingerprint

    # The transactions list, filtered on a merchant found by typing part of its name.
    page.goto(reverse("admin:transactions_transaction_changelist"))
    fits(page, language, width, "transactions")
    page.get_by_test_id("autocomplete-filter").first.locator(".select2-selection").click()
    page.locator(".select2-search__field").fill("Crypto")
    # Once the search for "Crypto" has answered (before it, the list of every merchant may show
    # and be redrawn under the click).
    expect(page.locator(".select2-results__option")).to_have_text(["QuickCrypto Exchange"])
    with page.expect_navigation():
        page.locator(".select2-results__option", has_text="QuickCrypto Exchange").click()
    assert f"merchant__id__exact={a_day['crypto'].pk}" in page.url
    expect(page.locator("#result_list tbody tr")).to_have_count(1)

    # The dashboards an analyst reads.
    for name in ("detection_dashboard_traffic", "detection_dashboard_models"):
        page.goto(reverse(f"admin:{name}"))
        expect(page.locator("#content h1")).to_be_visible()
        fits(page, language, width, name.removeprefix("detection_"))
    assert page.console_errors == []  # nothing refused by the content security policy


def console_pages(transaction):
    """Every list and add page of the console, a case and a model admin's change page."""
    urls = [reverse("admin:index"), reverse("admin:transactions_review_queue")]
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        for view in ("changelist", "add"):
            try:
                urls.append(reverse("admin:{}_{}_{}".format(*info, view)))
            except NoReverseMatch:
                continue
    urls.append(reverse("admin:transactions_transaction_change", args=[transaction.pk]))
    urls.append(reverse("admin:transactions_card_change", args=[transaction.card.pk]))
    return urls


@pytest.mark.parametrize("viewport", list(VIEWPORTS), ids=list(VIEWPORTS))
def test_no_page_of_the_console_scrolls_sideways(page, a_day, admin_user, viewport):
    size = VIEWPORTS[viewport]
    page.set_viewport_size(size)
    sign_in(page, admin_user)
    wide = []
    for url in console_pages(a_day["held"]):
        response = page.goto(url)
        if response.status == 403:  # an add page the model refuses (transactions are not added)
            continue
        assert response.status == 200, url
        page.wait_for_load_state("load")
        overflow = page.evaluate(OVERFLOW)
        if overflow > 0:
            wide.append((url, overflow))
            ARTIFACTS.mkdir(exist_ok=True)
            name = re.sub(r"\W+", "-", url).strip("-")
            page.screenshot(path=str(ARTIFACTS / f"staff-wide-{size['width']}-{name}.png"), full_page=True)
    assert wide == []
