"""The dashboards and the retraining runs page, rendered from real data: the SVG charts carry
the figures (decoded from the page, as the browser gets them)."""

import base64
import re
from datetime import timedelta

import pytest
from django.tasks import task_backends
from django.urls import reverse
from django.utils import timezone, translation

from detection.lifecycle import monitoring, retraining
from detection.models import ModelVersion, RetrainingRun
from detection.templatetags.detection_dashboards import iso_date
from detection.tests.lifecycle import strong, weak

MODELS = reverse("admin:detection_dashboard_models")
TRAFFIC = reverse("admin:detection_dashboard_traffic")
RUNS = reverse("admin:detection_retrainingrun_changelist")


def charts(html):
    """{data-testid: svg text} of every chart image on the page."""
    found = {}
    for match in re.finditer(r'src="data:image/svg\+xml;base64,([^"]+)"[^>]*data-testid="([^"]+)"', html):
        found.setdefault(match.group(2), []).append(base64.b64decode(match.group(1)).decode())
    return found


@pytest.fixture
def two_versions(settings, db, model_manager):
    """A stump champion replaced by a logistic regression through two real retraining runs."""
    weak(settings)
    for make in (weak, strong):
        make(settings)
        run, _ = retraining.retraining_request(trigger="manual", requested_by=model_manager, enqueue=False)
        retraining.execute_run(run.pk)
    return list(ModelVersion.objects.order_by("created_at"))


@pytest.mark.slow
def test_models_dashboard_shows_champion_and_challenger_side_by_side(client, model_manager, two_versions):
    stump, champion = two_versions
    client.force_login(model_manager)
    html = client.get(MODELS + f"?version={stump.version}").content.decode()
    assert html.count('data-testid="version-report"') == 2
    assert champion.version in html and stump.version in html
    # The metrics table shows the champion's test average precision as stored.
    assert f"{champion.metrics['test']['average_precision']:.3f}" in html
    assert html.count('data-testid="confusion-matrix"') == 4
    cm = champion.metrics["test"]["confusion_matrix"]
    assert f"<td>{cm['tp']}</td><td>{cm['fn']}</td>" in html
    svgs = charts(html)
    curves = svgs["chart-curves"][0]
    assert champion.version in curves and stump.version in curves  # one line each, in the legend
    assert "Precision-recall" in curves and "ROC" in curves
    top_feature = max(champion.importances, key=champion.importances.get)
    assert any(top_feature in svg for svg in svgs["chart-importances"])
    # The gate's figures of the last run.
    last = RetrainingRun.objects.order_by("-created_at").first()
    assert "Challenger promoted" in html
    assert f"{last.comparison['challenger']['average_precision']:.3f}" in html


def _traffic(champion, *, days, per_day, score):
    from transactions.models import Transaction
    from transactions.tests.factories import (
        CardFactory,
        FraudReportFactory,
        MerchantFactory,
        TransactionFactory,
    )

    card, merchant = CardFactory(), MerchantFactory()
    now = timezone.now()
    made = []
    for day in range(days):
        for i in range(per_day):
            decision = ("approve", "approve", "review", "block")[i % 4]
            made.append(
                TransactionFactory(
                    card=card,
                    merchant=merchant,
                    occurred_at=now - timedelta(days=day, minutes=i),
                    decision=decision,
                    score=score,
                    model_version=champion.version,
                    status=Transaction.Status.PENDING_REVIEW
                    if decision == "review"
                    else Transaction.Status.APPROVED,
                    is_fraud=True if decision == "block" else None,
                    label_known_at=now if decision == "block" else None,
                    label_source="analyst" if decision == "block" else "",
                )
            )
    FraudReportFactory(transaction=made[0])
    return made


@pytest.mark.slow
def test_traffic_dashboard_draws_the_days_and_warns_of_drift(client, analyst, two_versions):
    champion = ModelVersion.objects.get(status=ModelVersion.Status.CHAMPION)
    # Every recent score is 0.9: far from the held-out distribution, where most scores are tiny.
    _traffic(champion, days=5, per_day=8, score=0.9)
    client.force_login(analyst)
    html = client.get(TRAFFIC + "?days=7").content.decode()
    svgs = charts(html)
    decisions = svgs["chart-decisions"][0]
    assert "Approve (20)" in decisions and "Review (10)" in decisions and "Block (10)" in decisions
    assert "Reported (1)" in svgs["chart-reports"][0]
    assert "(10 waiting)" in svgs["chart-queue"][0] or "(11 waiting)" in svgs["chart-queue"][0]
    drift = monitoring.score_drift(champion)
    assert drift["psi"] > monitoring.PSI_WARNING
    assert 'data-testid="psi-warning"' in html
    assert f"PSI {drift['psi']:.3f}" in svgs["chart-drift"][0]
    assert "Recent traffic (40)" in svgs["chart-drift"][0]


def test_drift_is_small_when_recent_scores_look_like_the_reference(db):
    from detection.tests.pipelines import register_toy

    version = register_toy(promote="force")
    version.curves = {
        "test": {
            "roc": {
                "thresholds": [1.0, 0.5, 0.1, 0.0],
                "tpr": [0.0, 0.5, 0.9, 1.0],
                "fpr": [0.0, 0.0, 0.1, 1.0],
            }
        }
    }
    version.metrics = {"test": {"confusion_matrix": {"tp": 10, "fn": 10, "tn": 980, "fp": 0}}}
    reference = monitoring.reference_shares(version)
    assert reference.sum() == pytest.approx(1.0)
    assert monitoring.psi(reference, reference) == pytest.approx(0.0)
    shifted = monitoring.recent_shares([0.95] * 100)
    assert monitoring.psi(reference, shifted) > monitoring.PSI_WARNING


def test_runs_page_shows_a_running_run_with_progress_and_refreshes(client, model_manager, db):
    run, _ = retraining.retraining_request(trigger="manual", enqueue=False)
    RetrainingRun.objects.filter(pk=run.pk).update(
        status=RetrainingRun.Status.RUNNING,
        progress=42,
        stage="Training the challenger",
        heartbeat_at=timezone.now(),
    )
    client.force_login(model_manager)
    html = client.get(RUNS).content.decode()
    assert f"Run #{run.pk} is Running." in html
    assert 'value="42"' in html and "Training the challenger" in html
    assert 'http-equiv="refresh"' in html


def test_runs_page_shows_a_failed_run_with_its_error(client, model_manager, db):
    run, _ = retraining.retraining_request(trigger="manual", enqueue=False)
    retraining._fail(run.pk, "No fraud in the validation period")
    client.force_login(model_manager)
    html = client.get(RUNS).content.decode()
    assert "Failed" in html
    assert "No fraud in the validation period" in html  # in the list, beside the status
    assert (
        "No fraud in the validation period"
        in client.get(reverse("admin:detection_retrainingrun_change", args=[run.pk])).content.decode()
    )
    assert 'http-equiv="refresh"' not in html


def test_train_now_queues_one_run_for_model_managers_only(
    client, settings, model_manager, analyst, db, django_capture_on_commit_callbacks
):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    backend = task_backends["default"]
    backend.clear()
    url = reverse("admin:detection_retrain_now")
    client.force_login(analyst)
    assert client.post(url).status_code == 403
    client.force_login(model_manager)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url, follow=True)
    assert "is queued for the worker" in first.content.decode()
    assert len(backend.results) == 1
    again = client.post(url, follow=True).content.decode()
    assert "a second one was not started" in again
    assert RetrainingRun.objects.count() == 1
    assert RetrainingRun.objects.get().requested_by == model_manager


def _texts(svg):
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_an_empty_traffic_dashboard_has_honest_axes_and_says_there_is_no_data(client, analyst, db):
    client.force_login(analyst)
    html = client.get(TRAFFIC + "?days=7").content.decode()
    svgs = charts(html)
    for name in ("chart-decisions", "chart-reports", "chart-queue"):
        texts = _texts(svgs[name][0])
        # No negative counts (matplotlib writes U+2212), no fractions of a transaction.
        assert not any("\u2212" in text or re.fullmatch(r"\d+\.\d+", text) for text in texts), texts
        assert "0" in texts
    assert "No data for this period." in _texts(svgs["chart-decisions"][0])
    assert "Nothing waits for review." in _texts(svgs["chart-queue"][0])
    assert "No labelled review or block decision in this period." in _texts(svgs["chart-precision"][0])
    assert "0 transactions held for review," in html and "0 open fraud reports." in html


def test_the_selected_period_is_marked_on_the_page_and_the_charts(client, analyst, db):
    client.force_login(analyst)
    html = client.get(TRAFFIC + "?days=7").content.decode()
    assert re.search(r'href="\?days=7" aria-current="page"', html)
    assert not re.search(r'href="\?days=30" aria-current', html)
    today = timezone.localdate()
    decisions = charts(html)["chart-decisions"][0]
    first = (today - timedelta(days=6)).strftime("%B ") + str((today - timedelta(days=6)).day)
    assert f"last 7 days ({first} – {today.strftime('%B')} {today.day})" in decisions


def test_chart_dates_follow_the_readers_language(client, analyst, db):
    client.force_login(analyst)
    client.cookies["django_language"] = "zh-hans"
    decisions = charts(client.get(TRAFFIC + "?days=7").content.decode())["chart-decisions"][0]
    today = timezone.localdate()
    assert f"{today.month:02d}月{today.day}日" in _texts(decisions)


def test_the_dashboard_counts_queue_ages_as_the_queue_does_and_keeps_them_live(client, analyst, db):
    from transactions.models import Transaction
    from transactions.tests.factories import TransactionFactory

    now = timezone.now()
    TransactionFactory(
        occurred_at=now - timedelta(days=2),  # submitted late, held a quarter of an hour ago
        decided_at=now - timedelta(minutes=15),
        status=Transaction.Status.PENDING_REVIEW,
        decision="review",
    )
    client.force_login(analyst)
    html = client.get(TRAFFIC).content.decode()
    assert "The oldest has waited 15 min." in html
    assert 'data-testid="over-sla"' not in html
    assert "1 transaction held for review," in html
    queue_texts = _texts(charts(html)["chart-queue"][0])
    assert "Review queue by age (1 waiting)" in queue_texts
    # The daily figures are cached for a minute; the queue is not.
    TransactionFactory(
        occurred_at=now - timedelta(hours=1),
        decided_at=now - timedelta(hours=1),
        status=Transaction.Status.PENDING_REVIEW,
        decision="review",
    )
    html = client.get(TRAFFIC).content.decode()
    assert "2 transactions held for review," in html and "The oldest has waited 1 h 0 min." in html
    assert 'data-testid="over-sla"' not in html  # 1 h is within the 4 h the queue allows
    assert "Review (1)" in charts(html)["chart-decisions"][0]  # counted a minute ago


def test_the_daily_figures_are_counted_again_once_the_cache_expires(client, analyst, settings, db):
    from transactions.tests.factories import TransactionFactory

    settings.DETECTION_DASHBOARD_CACHE_SECONDS = 0
    client.force_login(analyst)
    assert "Approve (0)" in charts(client.get(TRAFFIC).content.decode())["chart-decisions"][0]
    TransactionFactory(decision="approve")
    assert "Approve (1)" in charts(client.get(TRAFFIC).content.decode())["chart-decisions"][0]


def test_the_dashboard_counts_items_past_the_queues_sla(client, analyst, settings, db):
    from transactions.models import Transaction
    from transactions.tests.factories import TransactionFactory

    settings.TRANSACTIONS_REVIEW_SLA_HOURS = 1
    TransactionFactory(
        decided_at=timezone.now() - timedelta(hours=2),
        status=Transaction.Status.PENDING_REVIEW,
        decision="review",
    )
    client.force_login(analyst)
    assert "1 is past the SLA." in client.get(TRAFFIC).content.decode()


def test_the_models_dashboard_names_the_period_and_draws_each_chart_once(client, model_manager, db):
    from detection.tests.pipelines import register_toy

    version = register_toy(promote="force")
    version.importances = {"f0": 0.12, "f1": 0.03}
    version.save()
    client.force_login(model_manager)
    first = client.get(MODELS).content.decode()
    assert "Metrics on the period: test period" in first
    again = client.get(MODELS).content.decode()
    assert charts(first)["chart-importances"] == charts(again)["chart-importances"]
    client.cookies["django_language"] = "zh-hans"
    chinese = client.get(MODELS).content.decode()
    assert charts(chinese)["chart-importances"] != charts(first)["chart-importances"]  # its own language


def test_stored_dates_read_in_the_readers_format():
    with translation.override("en"):
        assert iso_date("2026-01-15T00:00:00+00:00") == "15 Jan 2026"  # fraudsite/formats/en
    with translation.override("zh-hans"):
        assert iso_date("2026-01-15T00:00:00+00:00") == "2026年1月15日"
    assert iso_date("not a date") == "not a date"
