"""The review queue in a real browser: it fits a laptop (1280 px) and a phone (390 px) without
scrolling sideways, with long ids, notes and reasons (screenshots kept in test-artifacts/)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from accounts.tests.factories import PASSWORD
from conftest import ARTIFACTS
from transactions.models import Transaction
from transactions.tests.factories import CardFactory, FraudReportFactory, MerchantFactory, TransactionFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LONG_REASON = "Much larger than usual for this card, at a merchant this card never used, far from home."


@pytest.fixture
def busy_queue(admin_user):
    now = timezone.now()
    merchant = MerchantFactory(name="QuickCrypto Exchange International Holdings Limited")
    for i in range(6):
        card = CardFactory(credit_limit=Decimal("5000.00"))
        for day in range(1, 6):
            TransactionFactory(card=card, merchant=merchant, occurred_at=now - timedelta(days=day, hours=i))
        held = TransactionFactory(
            external_id=f"web_payment_with_a_long_identifier_{i:04d}_0123456789abcdef",
            card=card,
            merchant=merchant,
            occurred_at=now - timedelta(hours=2 * i + 1),
            decided_at=now - timedelta(hours=2 * i + 1),
            status=Transaction.Status.PENDING_REVIEW,
            decision="review",
            risk_score=60 + i,
            amount=Decimal("1234567.89"),
            reasons=[{"code": "amount_high", "message": LONG_REASON}] * 3,
            assigned_to=admin_user if i % 2 else None,
        )
        if i % 3 == 0:
            FraudReportFactory(transaction=held, note="I never bought crypto; my card was in my wallet. " * 4)


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_the_queue_fits_the_screen_without_sideways_scrolling(page, admin_user, busy_queue, width, height):
    page.set_viewport_size({"width": width, "height": height})
    page.goto("/admin/")
    page.get_by_label("Email address").fill(admin_user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(reverse("admin:transactions_review_queue"))
    expect(page.get_by_test_id("queue-item")).to_have_count(6)
    expect(page.get_by_test_id("count-waiting")).to_contain_text("6")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"review_queue_{width}.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{overflow} px wider than the {width} px window"
    assert page.console_errors == []  # nothing refused by the CSP
