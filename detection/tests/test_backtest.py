"""Backtests (detection.lifecycle.backtest): the replay reproduces what production decided, sees
no label before it was known, and measures a change against the baseline.

A real history: 26 days of simulated transactions imported, then two days submitted one by one
through `transaction_submit` with a real champion (trained on simulated features), a velocity
rule, an amount rule and a merchant on the block list active. Their frauds are reported after
the period, so a replay that read labels early would not reproduce the stored decisions."""

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.tests.api_clients import error_of, session_client
from detection import conf, jobs, services
from detection.lifecycle import backtest
from detection.ml import simulator
from detection.models import BacktestRun, Rule
from detection.tests.pipelines import register_feature_model
from transactions.importing import transactions_import
from transactions.models import Card, Merchant, Transaction
from transactions.services import transaction_submit

pytestmark = pytest.mark.django_db

DAYS = 28
ONLINE_DAYS = 2
START = datetime(2025, 1, 1, tzinfo=UTC)
PERIOD = (START + timedelta(days=DAYS - ONLINE_DAYS), START + timedelta(days=DAYS))


@pytest.fixture
def world(tmp_path):
    frame = simulator.simulate(
        customers=80,
        merchants=25,
        days=DAYS,
        seed=21,
        start=START,
        patterns={
            "compromised_terminal": {"rate": 300},
            "stolen_card": {"rate": 150},
            "card_testing": {"rate": 80},
        },
    )
    before = frame[frame["occurred_at"] < PERIOD[0]]
    path = tmp_path / "history.csv"
    simulator.write_csv(before, path)
    transactions_import(path=path, progress=False)
    Card.objects.update(credit_limit=Decimal("1000000"))
    version = register_feature_model(promote="force")
    services.rule_create(
        actor=None, name="Fast card", kind=Rule.Kind.VELOCITY, action="block", max_count=4, window_minutes=30
    )
    services.rule_create(
        actor=None, name="Big", kind=Rule.Kind.AMOUNT_ABOVE, action="review", amount=Decimal("700"), order=200
    )
    period = frame[frame["occurred_at"] >= PERIOD[0]]
    busiest = period["merchant_id"].value_counts().index[3]
    services.list_entry_add(list_type="block", kind="merchant_id", value=busiest, actor=None)
    cards = {c.external_id: c for c in Card.objects.all()}
    merchants = {m.external_id: m for m in Merchant.objects.all()}
    for row in period.itertuples():
        card = cards.get(row.card_id) or Card.objects.create(
            external_id=row.card_id, credit_limit=Decimal("1000000")
        )
        cards[row.card_id] = card
        merchant = merchants.get(row.merchant_id) or Merchant.objects.create(
            external_id=row.merchant_id, category=row.merchant_category, country=row.country
        )
        merchants[row.merchant_id] = merchant
        transaction_submit(
            card=card,
            merchant=merchant,
            amount=Decimal(f"{row.amount:.2f}"),
            occurred_at=row.occurred_at.to_pydatetime(),
            channel=row.channel,
            country=row.country,
            external_id=row.transaction_id,
        )
    # The period's frauds are reported after it: no decision above could see them.
    reported = period[period["is_fraud"] == 1]["transaction_id"].tolist()
    Transaction.objects.filter(external_id__in=reported).update(
        is_fraud=True, label_known_at=PERIOD[1] + timedelta(hours=1)
    )
    return {"frame": frame, "version": version, "blocked_merchant": busiest, "reported": reported}


def _french_ids():
    return set(Transaction.objects.filter(country="FR").values_list("external_id", flat=True))


def _run(change, **kwargs):
    return backtest.backtest_stored(
        start=PERIOD[0], end=PERIOD[1], change=change, as_of=PERIOD[1] + timedelta(days=1), **kwargs
    )


def test_replaying_the_current_configuration_reproduces_the_stored_decisions(world):
    steps = []
    outcome = _run({"bands": {"block": 1.0}}, progress=lambda percent, stage: steps.append(percent))
    result = outcome.result
    stored = pd.DataFrame.from_records(
        Transaction.objects.filter(occurred_at__gte=PERIOD[0]).values(
            "external_id", "decision", "score", "risk_score", "model_version", "decided_by"
        )
    )
    assert len(result) == len(stored) == len(world["frame"][world["frame"]["occurred_at"] >= PERIOD[0]])
    same = result["production_model_version"] == world["version"].version
    assert same.all()
    # Every way of deciding is represented: the model's bands, the rules and the list.
    by = result["production_decided_by"].value_counts()
    assert {"model", "rule", "block_list"} <= set(by.index) and by["rule"] >= 2
    assert set(result.loc[result["production_decided_by"] == "model", "production_decision"]) >= {
        "approve",
        "review",
    }
    assert (result["baseline_decision"] == result["production_decision"]).all()
    assert (result["baseline_by"] == result["production_decided_by"]).all()
    assert (result["baseline_score"].to_numpy() == result["production_score"].to_numpy()).all()
    risk_backtest, risk_stored = (
        result["baseline_risk_score"].to_numpy(),
        result["production_risk_score"].to_numpy(),
    )
    assert np.array_equal(risk_backtest, risk_stored, equal_nan=True)
    assert outcome.report["baseline_agrees_with_production"] == len(result)
    assert steps[-1] == 100 and steps == sorted(steps)


def test_labels_not_yet_known_change_no_backtest_result(world):
    """Blank every label not yet known at a moment: the transactions up to that moment are
    decided and scored as before (features read labels only once known)."""
    delay = conf.label_delay()
    history = services.stored_history(label_delay=delay)
    reference = _run({"rule": {"kind": "country_in", "values": "US, BR", "action": "block"}}).result
    moments = [PERIOD[0] + timedelta(hours=9), PERIOD[0] + timedelta(hours=30), PERIOD[1]]
    for moment in moments:
        blanked = history.copy()
        later = blanked["label_known_at"] >= moment
        assert later.any()
        blanked.loc[later, "is_fraud"] = pd.NA
        blanked.loc[later, "label_known_at"] = pd.NaT
        outcome = backtest.backtest(
            start=PERIOD[0],
            end=PERIOD[1],
            change={"rule": {"kind": "country_in", "values": "US, BR", "action": "block"}},
            history=lambda blanked=blanked, **bounds: blanked[
                (blanked["occurred_at"] >= bounds["start"]) & (blanked["occurred_at"] < bounds["end"])
            ],
            decisions=services.stored_decisions,
            label_delay=delay,
        )
        upto = (reference["occurred_at"] <= moment).to_numpy()
        assert upto.sum() > 0
        for column in (
            "baseline_decision",
            "candidate_decision",
            "baseline_score",
            "candidate_score",
            "candidate_by",
        ):
            assert reference.loc[upto, column].tolist() == outcome.result.loc[upto, column].tolist(), (
                moment,
                column,
            )


def test_labels_known_early_would_change_the_result(world):
    """The leakage test's counterpart: the same history with every label known at once does
    change scores, so the test above would see a leak."""
    delay = conf.label_delay()
    history = services.stored_history(label_delay=delay)
    reference = _run({"bands": {"block": 1.0}}).result
    leaked = history.copy()
    leaked.loc[leaked["is_fraud"] == 1, "label_known_at"] = leaked["occurred_at"] + timedelta(seconds=1)
    outcome = backtest.backtest(
        start=PERIOD[0],
        end=PERIOD[1],
        change={"bands": {"block": 1.0}},
        history=lambda **bounds: leaked[
            (leaked["occurred_at"] >= bounds["start"]) & (leaked["occurred_at"] < bounds["end"])
        ],
        decisions=services.stored_decisions,
        label_delay=delay,
    )
    assert (reference["baseline_score"] != outcome.result["baseline_score"]).any()


def test_the_report_measures_a_change_against_the_baseline(world):
    outcome = _run(
        {"list_remove": [{"list_type": "block", "kind": "merchant_id", "value": world["blocked_merchant"]}]}
    )
    report, result = outcome.report, outcome.result
    listed = result["baseline_by"] == "block_list"
    assert listed.any() and not (result["candidate_by"] == "block_list").any()
    changed = result["baseline_decision"] != result["candidate_decision"]
    assert report["changes"]["count"] == int(changed.sum()) > 0
    assert sum(report["changes"]["by_move"].values()) == report["changes"]["count"]
    assert all(move.startswith("block→") for move in report["changes"]["by_move"])
    assert {row["transaction_id"] for row in report["changes"]["listed"]} == set(
        result.loc[changed, "transaction_id"]
    )
    # Labels as known at the report's time: the period's frauds reported after it count.
    assert report["known_frauds"] == len(world["reported"]) > 0
    base, cand = report["baseline"], report["candidate"]
    assert base["frauds_caught"] + base["frauds_missed"] == report["known_frauds"]
    assert base["blocked"] - cand["blocked"] == report["changes"]["count"]
    fraud = result["transaction_id"].isin(world["reported"]).to_numpy()
    alert = result["baseline_decision"].isin(["review", "block"]).to_numpy()
    amounts = result["amount"].to_numpy()
    assert base["frauds_caught_amount"] == pytest.approx(amounts[alert & fraud].sum())
    assert base["frauds_missed_amount"] == pytest.approx(amounts[~alert & fraud].sum())
    assert base["false_alarms"] == int((alert & ~fraud).sum())
    assert base["cards_alerted"] == result.loc[alert, "card_id"].nunique()
    assert len(base["per_day"]) == ONLINE_DAYS == report["days"]
    assert sum(day["alerts"] for day in base["per_day"]) == int(alert.sum())
    assert base["alerts_per_day"] == pytest.approx(alert.sum() / ONLINE_DAYS)
    # Before the period's labels were known, every transaction looked legitimate.
    early = backtest.build_report(result, as_of=PERIOD[1])
    assert early["known_frauds"] == 0 and early["baseline"]["false_alarms"] == int(alert.sum())


def test_a_rule_a_model_and_bands_as_candidates(world):
    rule = Rule.objects.get(name="Big")
    edited = _run({"rule": {"id": rule.pk, "amount": "100"}})
    assert (edited.result["candidate_hit"] == "Big").sum() > (edited.result["baseline_hit"] == "Big").sum()
    off = _run({"rule": {"id": rule.pk, "active": False}})
    assert not (off.result["candidate_hit"] == "Big").any()
    strict = _run({"bands": {"review": 0.0}})
    model_rows = strict.result["candidate_by"] == "model"
    assert (strict.result.loc[model_rows, "candidate_decision"] != "approve").all()
    other = register_feature_model(algorithm="logreg", promote="never")
    challenger = _run({"model": other.version})
    assert challenger.report["candidate_model"] == other.version
    assert (challenger.result["candidate_score"] != challenger.result["baseline_score"]).any()


def test_a_list_entry_expires_at_each_transactions_time(world):
    middle = PERIOD[0] + timedelta(days=1)
    outcome = _run(
        {
            "list_add": [
                {"list_type": "allow", "kind": "country", "value": "fr", "expires_at": middle.isoformat()}
            ]
        }
    )
    result = outcome.result
    allowed = result["candidate_by"] == "allow_list"
    assert allowed.any()
    assert (result.loc[allowed, "occurred_at"] < middle).all()
    # Before it expired, the entry took every French transaction (the allow list comes first).
    early_french = (result["occurred_at"] < middle) & result["transaction_id"].isin(_french_ids())
    assert allowed[early_french].all()


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({}, "exactly one change"),
        ({"rule": {"kind": "amount_above", "action": "block"}}, "needs an amount"),
        ({"rule": {"id": 99999, "amount": "5"}}, "no rule with the id"),
        ({"rule": {"colour": "red"}}, "Unknown rule fields"),
        ({"bands": {"review": 2}}, "between 0 and 1"),
        ({"bands": {"review": 0.9, "block": 0.1}}, "cannot be above"),
        (
            {"list_add": [{"list_type": "block", "kind": "card_id", "value": "4111111111111111"}]},
            "card number",
        ),
        (
            {"list_remove": [{"list_type": "block", "kind": "country", "value": "ZZ"}]},
            "Not on the active lists",
        ),
        ({"model": "nope"}, "no model version"),
    ],
)
def test_a_wrong_change_is_explained(change, says):
    register_feature_model(promote="force")
    config = backtest.current_configuration()
    with pytest.raises(ValidationError) as error:
        backtest.apply_change(config, change)
    assert says.lower() in " ".join(error.value.messages).lower()


def test_the_command_and_the_worker_task_record_the_run(world, django_capture_on_commit_callbacks):
    out, err = StringIO(), StringIO()
    change = json.dumps({"kind": "amount_above", "amount": 150, "action": "block"})
    call_command(
        "backtest", "--from", "2025-01-27", "--to", "2025-01-29", "--rule", change, stdout=out, stderr=err
    )
    text = out.getvalue()
    run = BacktestRun.objects.get()
    assert run.status == BacktestRun.Status.SUCCEEDED and run.progress == 100
    assert run.change == {"rule": {"kind": "amount_above", "amount": 150, "action": "block"}}
    assert f"Backtest #{run.pk}" in text and "frauds missed" in text and "approve → block" in text
    assert (
        run.report["changes"]["count"] > 0
        and run.report["candidate"]["blocked"] > run.report["baseline"]["blocked"]
    )

    with django_capture_on_commit_callbacks(execute=True):
        queued = jobs.backtest_start(
            requested_by=None, start=PERIOD[0], end=PERIOD[1], change={"bands": {"block": 1.0}}
        )
    queued.refresh_from_db()
    assert queued.status == BacktestRun.Status.SUCCEEDED and queued.progress == 100
    assert queued.report["baseline_agrees_with_production"] == queued.report["transactions"]


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--from", "yesterday", "--to", "2025-01-29", "--bands", "{}"], "--from must be an ISO date"),
        (
            ["--from", "2025-01-29", "--to", "2025-01-27", "--bands", '{"block": 1}'],
            "--from must be before --to",
        ),
        (["--from", "2025-01-27", "--to", "2025-01-29", "--rule", "{kind: 1}"], "--rule must be JSON"),
        (["--from", "2025-01-27", "--to", "2025-01-29", "--bands", '{"block": "high"}'], "between 0 and 1"),
        (["--from", "2025-01-27", "--to", "2025-01-29", "--model", "v9999"], "no model version v9999"),
    ],
)
def test_the_command_explains_a_wrong_argument(arguments, says):
    register_feature_model(promote="force")
    with pytest.raises(CommandError, match=re.escape(says)):
        call_command("backtest", *arguments, stdout=StringIO(), stderr=StringIO())
    assert not BacktestRun.objects.exists()


def test_without_a_champion_the_command_says_what_to_do():
    with pytest.raises(CommandError, match="train or promote one"):
        call_command(
            "backtest",
            "--from",
            "2025-01-27",
            "--to",
            "2025-01-29",
            "--bands",
            '{"block": 1}',
            stdout=StringIO(),
        )


def test_the_api_starts_a_backtest_and_reports_it(
    world, analyst, customer, django_capture_on_commit_callbacks
):
    client = session_client(analyst)
    body = {
        "start": PERIOD[0].isoformat(),
        "end": PERIOD[1].isoformat(),
        "change": {"rule": {"kind": "amount_above", "amount": 50, "action": "block"}},
    }
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post("/api/v1/backtests/", body, format="json")
    assert started.status_code == 202 and started.json()["status"] == "queued"
    polled = client.get(f"/api/v1/backtests/{started.json()['id']}/").json()
    assert polled["status"] == "succeeded" and polled["progress"] == 100
    assert polled["report"]["baseline_agrees_with_production"] == polled["report"]["transactions"]
    run = BacktestRun.objects.get()
    assert run.requested_by == analyst

    # The staff console shows the run with its figures and the transactions that change.
    client.force_login(analyst)
    assert str(run.pk) in client.get(reverse("admin:detection_backtestrun_changelist")).content.decode()
    page = client.get(reverse("admin:detection_backtestrun_change", args=[run.pk])).content.decode()
    assert "Frauds missed" in page and "transactions change decision" in page
    changed = polled["report"]["changes"]["listed"]
    assert changed and all(row["transaction_id"] in page for row in changed[:10])

    wrong = client.post("/api/v1/backtests/", body | {"change": {"bands": {"review": 7}}}, format="json")
    assert wrong.status_code == 400 and "between 0 and 1" in " ".join(error_of(wrong)["fields"]["change"])
    assert session_client(customer).post("/api/v1/backtests/", body, format="json").status_code == 403
    assert client.get("/api/v1/backtests/999999/").status_code == 404
