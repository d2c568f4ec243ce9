"""Backtests from the staff console (detection.admin_lifecycle.BacktestRunAdmin): started from a
rule's, a list entry's or a model version's page with a period, followed while they run, read as
a report with charts and the transactions that change, and a rule enabled from the report with
the backtest in the audit trail."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from detection import services
from detection.models import BacktestRun, ModelVersion, Rule
from detection.tests.pipelines import register_feature_model
from detection.tests.test_backtest import PERIOD, world  # noqa: F401  (a fixture)
from transactions.models import Transaction

pytestmark = pytest.mark.django_db

NEW = reverse("admin:detection_backtest_new")
RULE_FORM = {
    "name": "Big spenders",
    "kind": "amount_above",
    "action": "block",
    "order": "50",
    "active": "on",
    "amount": "150",
    "max_count": "",
    "window_minutes": "",
    "values": "",
}


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _period_form(change, start, end):
    return {"_step": "period", "change": json.dumps(change), "start": start, "end": end}


def _finished_run(change, *, requested_by=None, listed=60):
    """A finished run with a report of the engine's shape (figures made up, per day, and
    `listed` transactions that change)."""
    days = [
        {"day": f"2025-01-{d:02d}", "alerts": d, "frauds_caught": 1, "frauds_missed": 0, "false_alarms": 2}
        for d in (27, 28)
    ]
    figures = {
        "frauds_caught": 3,
        "frauds_caught_amount": 1234.5,
        "frauds_missed": 1,
        "alerts_per_day": 7.5,
        "false_alarms": 4,
        "per_day": days,
    }
    report = {
        "as_of": "2025-01-30T00:00:00+00:00",
        "transactions": 500,
        "known_frauds": 4,
        "days": 2,
        "production": figures,
        "baseline": figures,
        "candidate": {**figures, "frauds_caught": 4, "frauds_missed": 0},
        "changes": {
            "count": listed + 5,
            "cards": 9,
            "by_move": {"approve→block": listed + 5},
            "listed": [
                {
                    "transaction_id": f"tx_{i:04d}",
                    "occurred_at": "2025-01-27T10:00:00+00:00",
                    "card_id": "card_1",
                    "amount": 200.0 + i,
                    "known_fraud": i == 0,
                    "baseline_decision": "approve",
                    "candidate_decision": "block",
                    "candidate_by": "rule",
                    "candidate_hit": "Big spenders",
                    "baseline_score": 0.1,
                    "candidate_score": 0.1,
                }
                for i in range(listed)
            ],
        },
    }
    return BacktestRun.objects.create(
        requested_by=requested_by,
        period_start=PERIOD[0],
        period_end=PERIOD[1],
        change=change,
        status=BacktestRun.Status.SUCCEEDED,
        progress=100,
        report=report,
    )


def test_a_new_rule_is_backtested_from_its_page_read_and_enabled(
    world,  # noqa: F811
    model_manager,
    django_capture_on_commit_callbacks,
):
    client = _client(model_manager)
    add_page = client.get(reverse("admin:detection_rule_add")).content.decode()
    assert 'data-testid="backtest"' in add_page and f'formaction="{NEW}"' in add_page

    # The form's unsaved values, sent by the Backtest button, become the candidate.
    page = client.post(NEW, {**RULE_FORM, "_backtest_source": "rule"}).content.decode()
    assert "Big spenders" in page and "Amount above" in page and 'name="start"' in page
    default_start = (timezone.localdate() - timedelta(days=30)).isoformat()
    assert f'value="{default_start}"' in page  # the last 30 days unless told
    change = json.loads(re.search(r'name="change" value="([^"]*)"', page).group(1).replace("&quot;", '"'))
    assert change == {
        "rule": {
            "name": "Big spenders",
            "kind": "amount_above",
            "action": "block",
            "order": 50,
            "active": True,
            "amount": "150",
            "max_count": None,
            "window_minutes": None,
            "values": "",
            "mode": "live",  # posted without a mode, as a page from before shadow and rollout
            "rollout_percent": None,
        }
    }
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(NEW, _period_form(change, "2025-01-27", "2025-01-28"))
    run = BacktestRun.objects.get()
    assert started.status_code == 302 and started.url == reverse(
        "admin:detection_backtestrun_change", args=[run.pk]
    )
    assert run.requested_by == model_manager and run.status == BacktestRun.Status.SUCCEEDED
    assert (run.period_start, run.period_end) == PERIOD

    report = client.get(started.url).content.decode()
    assert 'http-equiv="refresh"' not in report  # finished: no more refreshing
    figures = run.report["candidate"]
    assert "Frauds missed" in report and f">{figures['frauds_missed']}<" in report
    assert report.count('src="data:image/svg+xml;base64,') == 4  # the charts per day
    changes = run.report["changes"]
    assert changes["count"] > 0 and f"{changes['count']} transactions change decision" in report
    first = changes["listed"][0]["transaction_id"]
    case = reverse("admin:transactions_transaction_case", args=[first])
    assert f'href="{case}"' in report
    tx = Transaction.objects.get(external_id=first)
    assert client.get(case).url == reverse("admin:transactions_transaction_change", args=[tx.pk])

    applied = client.post(reverse("admin:detection_backtest_apply", args=[run.pk]))
    rule = Rule.objects.get(name="Big spenders")
    assert applied.url == reverse("admin:detection_rule_change", args=[rule.pk])
    assert rule.active and rule.action == "block" and str(rule.amount) == "150.00"
    entry = AuditEntry.objects.get(action="rule.create", target_id=str(rule.pk))
    assert entry.actor == model_manager and entry.after["backtest"] == run.pk
    assert f"backtest #{run.pk}" in entry.note
    again = client.get(started.url).content.decode()
    assert 'data-testid="backtest-applied"' in again and 'data-testid="backtest-apply"' not in again


@pytest.mark.parametrize(
    ("start", "end", "says"),
    [
        ("2025-01-28", "2025-01-27", "end on or after its first day"),
        ("2025-01-01", "2025-06-01", "at most 92 days"),
        (None, "tomorrow", "cannot be in the future"),
        ("", "2025-01-27", "This field is required"),
    ],
)
def test_a_wrong_period_is_explained_and_nothing_is_queued(model_manager, start, end, says):
    if end == "tomorrow":
        start = timezone.localdate().isoformat()
        end = (timezone.localdate() + timedelta(days=1)).isoformat()
    change = {"bands": {"block": 1.0}}
    page = _client(model_manager).post(NEW, _period_form(change, start, end))
    assert page.status_code == 200 and says in page.content.decode()
    assert not BacktestRun.objects.exists()


def test_without_a_champion_the_page_says_what_to_do(model_manager):
    page = _client(model_manager).post(
        NEW, _period_form({"bands": {"block": 1.0}}, "2025-01-27", "2025-01-28")
    )
    assert "train or promote one" in page.content.decode() and not BacktestRun.objects.exists()


def test_a_rule_edited_on_its_page_and_a_list_entry_and_a_model_are_candidates(model_manager):
    rule = services.rule_create(actor=None, name="Big", kind="amount_above", action="review", amount=700)
    client = _client(model_manager)
    change_page = client.get(reverse("admin:detection_rule_change", args=[rule.pk])).content.decode()
    assert f'name="_backtest_rule" value="{rule.pk}"' in change_page
    edited = client.post(
        NEW, {**RULE_FORM, "name": "Big", "_backtest_source": "rule", "_backtest_rule": rule.pk}
    )
    assert f"&quot;id&quot;: {rule.pk}" in edited.content.decode()
    wrong = client.post(NEW, {**RULE_FORM, "amount": "", "_backtest_source": "rule"}).content.decode()
    assert "needs an amount" in wrong and 'name="start"' not in wrong

    entry = {
        "list_type": "block",
        "kind": "country",
        "value": "BR",
        "reason": "",
        "expires_at_0": "",
        "expires_at_1": "",
    }
    assert 'data-testid="backtest"' in client.get(reverse("admin:detection_listentry_add")).content.decode()
    listed = client.post(NEW, {**entry, "active": "on", "_backtest_source": "list_entry"}).content.decode()
    assert "&quot;list_add&quot;" in listed and "Block list" in listed

    version = register_feature_model(promote="force")
    model_page = client.get(
        reverse("admin:detection_modelversion_change", args=[version.pk])
    ).content.decode()
    link = f"{NEW}?source=model&amp;version={version.version}"
    assert link in model_page
    chosen = client.get(link.replace("&amp;", "&")).content.decode()
    assert "Model version" in chosen and version.version in chosen
    assert ModelVersion.objects.count() == 1


def test_a_running_backtest_refreshes_its_page_with_its_progress(analyst):
    run = BacktestRun.objects.create(
        period_start=PERIOD[0],
        period_end=PERIOD[1],
        change={"bands": {"block": 1}},
        status=BacktestRun.Status.RUNNING,
        progress=50,
        stage="Scoring",
    )
    page = _client(analyst).get(reverse("admin:detection_backtestrun_change", args=[run.pk])).content.decode()
    assert '<meta http-equiv="refresh" content="2">' in page
    assert 'value="50"' in page and "Scoring" in page


def test_the_changes_are_paginated_and_analysts_read_but_do_not_enable(analyst, model_manager):
    run = _finished_run(
        {"rule": {"kind": "amount_above", "amount": 150, "action": "block", "name": "Big spenders"}}
    )
    url = reverse("admin:detection_backtestrun_change", args=[run.pk])
    client = _client(analyst)
    first = client.get(url).content.decode()
    assert first.count('data-testid="changed-transaction"') == 25
    assert "tx_0000" in first and "tx_0025" not in first and "Page 1 of 3" in first
    assert "5 more are not listed" in first
    last = client.get(url, {"p": 3}).content.decode()
    assert last.count('data-testid="changed-transaction"') == 10 and "tx_0059" in last
    assert "1,234.50" in first  # money with two decimals
    assert 'data-testid="backtest-apply"' not in first
    assert client.post(reverse("admin:detection_backtest_apply", args=[run.pk])).status_code == 403
    assert not Rule.objects.exists()
    assert 'data-testid="backtest-apply"' in _client(model_manager).get(url).content.decode()


def test_applying_an_edit_records_before_and_after_and_refuses_a_stale_one(model_manager):
    rule = services.rule_create(actor=None, name="Big", kind="amount_above", action="review", amount=700)
    run = _finished_run({"rule": {"id": rule.pk, "amount": "300"}})
    client = _client(model_manager)
    assert (
        "Apply this change"
        in client.get(reverse("admin:detection_backtestrun_change", args=[run.pk])).content.decode()
    )
    client.post(reverse("admin:detection_backtest_apply", args=[run.pk]))
    rule.refresh_from_db()
    assert str(rule.amount) == "300.00"
    entry = AuditEntry.objects.get(action="rule.change")
    assert entry.before["amount"] == "700.00" and entry.after["amount"] == "300.00"
    assert entry.after["backtest"] == run.pk
    twice = client.post(reverse("admin:detection_backtest_apply", args=[run.pk]), follow=True)
    assert "applied already" in twice.content.decode()

    # A backtest older than the rule's last change no longer describes it.
    stale = _finished_run({"rule": {"id": rule.pk, "amount": "100"}})
    BacktestRun.objects.filter(pk=stale.pk).update(created_at=datetime(2025, 1, 1, tzinfo=UTC))
    refused = client.post(reverse("admin:detection_backtest_apply", args=[stale.pk]), follow=True)
    assert "backtest it again" in refused.content.decode()
    rule.refresh_from_db()
    assert str(rule.amount) == "300.00"
    # A change of another kind is applied from its report too, under its own label.
    bands = _finished_run({"bands": {"block": 0.5}})
    page = client.get(reverse("admin:detection_backtestrun_change", args=[bands.pk])).content.decode()
    assert 'data-testid="backtest-apply"' in page and "Use these thresholds" in page
