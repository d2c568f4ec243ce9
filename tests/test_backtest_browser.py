"""A model manager backtests a new rule in the staff console, in a real browser: the rule's add
page, the period, the run followed while a real `db_worker` runs it, the report (figures and a
chart), a transaction that changes opened on its case page, and the rule enabled from the report
with the backtest in the audit trail. Screenshots in test-artifacts/backtest-*.png."""

import json
import os
import re

import pytest
from django.db import connection
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import AuditEntry
from conftest import ARTIFACTS
from detection.models import BacktestRun, Rule
from detection.tests.test_backtest import PERIOD, world  # noqa: F401  (a fixture)
from tests.test_staff_console_browser import OVERFLOW
from tests.test_worker import DB_TASKS, ROOT, _manage
from transactions.tests.test_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def models_dir(settings, tmp_path):
    """The champion's artifact where this process and the worker both look."""
    settings.DETECTION_MODELS_DIR = tmp_path / "models"
    settings.TASKS = DB_TASKS
    return settings.DETECTION_MODELS_DIR


def _worker_until_idle(models_dir):
    env = {
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "WORKER_DB_NAME": str(connection.settings_dict["NAME"]),
        "WORKER_TASKS": json.dumps(DB_TASKS),
        "WORKER_SETTINGS": json.dumps({"DETECTION_MODELS_DIR": str(models_dir)}),
        "OMP_NUM_THREADS": "1",
    }
    worker = _manage(
        "db_worker", "--batch", "--no-startup-delay", "--queue-name", "*", env={**os.environ, **env}
    )
    output, _ = worker.communicate(timeout=300)
    assert worker.returncode == 0, output
    return output


def _shot(page, name):
    page.wait_for_load_state("load")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"backtest-{name}.png"), full_page=True)
    assert page.evaluate(OVERFLOW) <= 0, f"{name} scrolls sideways"


def test_a_model_manager_backtests_a_new_rule_reads_the_report_and_enables_it(
    page,
    models_dir,
    world,  # noqa: F811
    model_manager,
):
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, model_manager)

    # A new rule, written but not saved, backtested from its page.
    page.goto(reverse("admin:detection_rule_add"))
    page.fill("#id_name", "Big spenders")
    page.select_option("#id_kind", "amount_above")
    page.select_option("#id_action", "block")
    page.fill("#id_amount", "150")
    page.get_by_test_id("backtest").click()
    expect(page.get_by_test_id("backtest-candidate")).to_contain_text("Big spenders")
    page.fill("#id_start", PERIOD[0].date().isoformat())
    page.fill("#id_end", "2025-01-28")
    _shot(page, "period")
    page.get_by_test_id("backtest-start").click()

    # Queued for the worker: the page says so and refreshes itself.
    expect(page.get_by_test_id("backtest-progress")).to_be_visible()
    run = BacktestRun.objects.get()
    assert run.status == BacktestRun.Status.QUEUED
    assert not Rule.objects.filter(name="Big spenders").exists()
    _worker_until_idle(models_dir)
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.SUCCEEDED, run.error

    # The report, once the page has refreshed: figures against production and a chart per day.
    expect(page.get_by_test_id("backtest-figures")).to_be_visible(timeout=20_000)
    figures = page.get_by_test_id("backtest-figures")
    expect(figures).to_contain_text("Production")
    expect(figures).to_contain_text("Frauds missed")
    caught = run.report["candidate"]["frauds_caught"]
    expect(figures.locator("tr", has_text="Frauds caught (review or block)").locator("td").last).to_have_text(
        str(caught)
    )
    chart = page.get_by_test_id("chart-alerts")
    expect(chart).to_be_visible()
    assert chart.evaluate("(img) => img.complete ? img.naturalWidth : 0") > 100
    count = run.report["changes"]["count"]
    assert count > 0
    expect(page.get_by_test_id("changes-count")).to_contain_text(f"{count} transaction")
    _shot(page, "report")

    # A transaction that changes, opened on its case page.
    row = page.get_by_test_id("changed-transaction").first
    external_id = row.locator("a").inner_text()
    row.locator("a").click()
    expect(page).to_have_url(re.compile(r"/admin/transactions/transaction/\d+/change/"))
    expect(page.locator("#content")).to_contain_text(external_id)
    page.go_back()

    # Enabled from the report.
    page.get_by_test_id("backtest-apply").click()
    expect(page.locator(".messagelist .success")).to_contain_text(f"backtest #{run.pk}")
    rule = Rule.objects.get(name="Big spenders")
    assert rule.active and rule.kind == "amount_above" and str(rule.amount) == "150.00"
    entry = AuditEntry.objects.get(action="rule.create", target_id=str(rule.pk))
    assert entry.actor == model_manager and entry.after["backtest"] == run.pk
    page.goto(reverse("admin:detection_backtestrun_change", args=[run.pk]))
    expect(page.get_by_test_id("backtest-applied")).to_be_visible()
    assert [e for e in page.console_errors if "Content Security Policy" in e] == []
