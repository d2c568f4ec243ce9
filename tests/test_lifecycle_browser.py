"""The learning loop's staff pages in a real browser: the review queue, the dashboards with their
charts (screenshots kept in test-artifacts/), and Train now; all under the site's CSP."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.tests.factories import PASSWORD
from conftest import ARTIFACTS
from detection.lifecycle import retraining
from detection.models import ModelVersion, RetrainingRun
from detection.tests.lifecycle import strong, weak

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def loop_data(settings, tmp_path, admin_user):
    from transactions.models import Transaction
    from transactions.tests.factories import CardFactory, FraudReportFactory, TransactionFactory

    settings.DETECTION_MODELS_DIR = tmp_path / "models"
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    for make in (weak, strong):
        make(settings)
        run, _ = retraining.retraining_request(trigger="manual", requested_by=admin_user, enqueue=False)
        retraining.execute_run(run.pk)
    champion = ModelVersion.objects.get(status=ModelVersion.Status.CHAMPION)
    card = CardFactory()
    now = timezone.now()
    for i in range(40):
        decision = ("approve", "approve", "approve", "review", "block")[i % 5]
        TransactionFactory(
            card=card,
            occurred_at=now - timedelta(hours=3 * i + 1),
            decision=decision,
            score=0.002 * i,
            risk_score=min(99, 2 * i),
            model_version=champion.version,
            status=Transaction.Status.DECLINED if decision == "block" else Transaction.Status.APPROVED,
        )
    held = TransactionFactory(
        card=card,
        occurred_at=now - timedelta(minutes=30),
        decision="review",
        risk_score=71,
        status=Transaction.Status.PENDING_REVIEW,
        reasons=[{"code": "amount_high", "message": "Much larger than usual for this card."}],
    )
    FraudReportFactory(transaction=TransactionFactory(card=card, occurred_at=now - timedelta(days=1)))
    return {"champion": champion, "held": held}


def _charts_rendered(page):
    images = page.locator("img.dash-chart")
    assert images.count() >= 1
    widths = images.evaluate_all("(imgs) => imgs.map((img) => img.complete ? img.naturalWidth : 0)")
    assert all(width > 100 for width in widths), widths


def test_staff_work_the_queue_watch_the_dashboards_and_train(page, admin_user, loop_data):
    page.goto("/admin/")
    page.get_by_label("Email address").fill(admin_user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # The queue, from the admin index.
    page.get_by_role("link", name="Review queue").click()
    held = loop_data["held"]
    row = page.locator(f'[data-testid="queue-item"][data-transaction="{held.external_id}"]')
    expect(row).to_contain_text("Much larger than usual for this card.")
    row.locator("textarea").fill("Customer confirmed by phone")
    row.get_by_role("button", name="Confirm fraud").click()
    expect(page.get_by_text("1 item updated.")).to_be_visible()
    held.refresh_from_db()
    assert held.is_fraud is True

    # The models dashboard: champion and challenger side by side, with their charts.
    page.goto("/admin/")
    page.get_by_role("link", name="Models dashboard").click()
    expect(page.get_by_text("Challenger promoted").first).to_be_visible()
    expect(page.get_by_role("heading", name=loop_data["champion"].version)).to_be_visible()
    _charts_rendered(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard_models.png"), full_page=True)

    # The traffic dashboard.
    page.goto("/admin/")
    page.get_by_role("link", name="Traffic and drift dashboard").click()
    expect(page.get_by_test_id("queue-summary")).to_contain_text("open fraud report")
    _charts_rendered(page)
    page.screenshot(path=str(ARTIFACTS / "dashboard_traffic.png"), full_page=True)

    # Train now: queued for the worker, never run inside the request.
    page.goto("/admin/")
    page.get_by_role("link", name="Retraining runs").first.click()
    page.get_by_test_id("train-now").click()
    expect(page.get_by_text("is queued for the worker")).to_be_visible()
    expect(page.get_by_test_id("run-status")).to_contain_text("Queued")
    assert RetrainingRun.objects.filter(status=RetrainingRun.Status.QUEUED).count() == 1
    page.screenshot(path=str(ARTIFACTS / "retraining_runs.png"), full_page=True)

    assert [e for e in page.console_errors if "Content Security Policy" in e] == []
