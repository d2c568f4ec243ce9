"""Shadow and staged rollout (detection.serving.buckets, rules' modes, the model on trial,
ShadowVerdict, detection.lifecycle.shadow): a shadow never decides and is recorded; a rollout
decides for the same cards every time, about its share of them, alike online and vectorised; the
backtest still reproduces production with a rollout rule; the report compares as labels arrive.

A real history: simulated days imported, a real champion, then one day submitted one by one
through `transaction_submit`."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from accounts.tests.api_clients import error_of, session_client
from detection import services
from detection.contracts import TransactionInput
from detection.lifecycle import backtest, shadow
from detection.ml import simulator
from detection.models import Mode, Rule, ShadowVerdict
from detection.serving import buckets, registry, rules
from detection.tests.pipelines import register_feature_model
from transactions.importing import transactions_import
from transactions.models import Card, Merchant, Transaction
from transactions.services import transaction_submit

pytestmark = pytest.mark.django_db

DAYS = 12
START = datetime(2025, 3, 1, tzinfo=UTC)
PERIOD = (START + timedelta(days=DAYS - 1), START + timedelta(days=DAYS))


@pytest.fixture
def world(tmp_path):
    frame = simulator.simulate(
        customers=70,
        merchants=20,
        days=DAYS,
        seed=5,
        start=START,
        patterns={"compromised_terminal": {"rate": 300}, "stolen_card": {"rate": 150}},
    )
    path = tmp_path / "history.csv"
    simulator.write_csv(frame[frame["occurred_at"] < PERIOD[0]], path)
    transactions_import(path=path, progress=False)
    Card.objects.update(credit_limit=Decimal("1000000"))
    champion = register_feature_model(promote="force")
    return {"period": frame[frame["occurred_at"] >= PERIOD[0]], "champion": champion}


def _submit(period):
    cards = {c.external_id: c for c in Card.objects.all()}
    merchants = {m.external_id: m for m in Merchant.objects.all()}
    for row in period.itertuples():
        if row.card_id not in cards:
            cards[row.card_id] = Card.objects.create(external_id=row.card_id, credit_limit=Decimal("1000000"))
        if row.merchant_id not in merchants:
            merchants[row.merchant_id] = Merchant.objects.create(
                external_id=row.merchant_id, category=row.merchant_category, country=row.country
            )
        transaction_submit(
            card=cards[row.card_id],
            merchant=merchants[row.merchant_id],
            amount=Decimal(f"{row.amount:.2f}"),
            occurred_at=row.occurred_at.to_pydatetime(),
            channel=row.channel,
            country=row.country,
            external_id=row.transaction_id,
        )
    return Transaction.objects.filter(occurred_at__gte=PERIOD[0])


def _rule(**fields):
    rule = services.rule_create(actor=None, **fields)
    rules.clear_cache()
    return rule


# --- Buckets ------------------------------------------------------------------------------------


def test_buckets_are_deterministic_alike_online_and_vectorised_and_close_to_the_share():
    cards = np.array([f"card-{i}" for i in range(20_000)], dtype=object)
    key = buckets.rule_key(7)
    online = np.array([buckets.card_bucket(card, key) for card in cards])
    vectorised = buckets.card_buckets(np.concatenate([cards, cards[::-1]]), key)
    assert np.array_equal(vectorised[: len(cards)], online)
    assert np.array_equal(vectorised[len(cards) :], online[::-1])  # by card, whatever the row
    assert online.min() >= 0 and online.max() <= 99
    for percent in (1, 10, 30, 50, 99):
        share = buckets.in_rollout_mask(cards, key, percent).mean()
        assert abs(share - percent / 100) < 0.012, (percent, share)
        assert [buckets.in_rollout(c, key, percent) for c in cards[:500]] == list(
            buckets.in_rollout_mask(cards[:500], key, percent)
        )
    # Raising the share only adds cards; another rollout takes other cards.
    assert not (buckets.in_rollout_mask(cards, key, 10) & ~buckets.in_rollout_mask(cards, key, 30)).any()
    other = buckets.in_rollout_mask(cards, buckets.rule_key(8), 30)
    assert (other != buckets.in_rollout_mask(cards, key, 30)).mean() > 0.3


def test_a_rollout_rule_online_and_vectorised_agree_row_by_row(world):
    frame = world["period"]
    rule = _rule(
        name="Half", kind=Rule.Kind.AMOUNT_ABOVE, action="review", amount=Decimal("0"), **_rollout(50)
    )
    check = rules.snapshot().checks[-1]
    assert check.id == rule.pk
    online = np.array(
        [check.applies(_input(row)) and check.matches(_input(row)) is not None for row in frame.itertuples()]
    )
    gate = check.applies_mask(frame)
    assert np.array_equal(online, check.mask(frame) & gate)
    assert 0.25 < online.mean() < 0.75


def _rollout(percent):
    return {"mode": Mode.ROLLOUT, "rollout_percent": percent}


def _input(row):
    return TransactionInput(
        transaction_id=row.transaction_id,
        occurred_at=row.occurred_at.to_pydatetime(),
        card_id=row.card_id,
        merchant_id=row.merchant_id,
        amount=Decimal(f"{row.amount:.2f}"),
        country=row.country,
        merchant_category=row.merchant_category,
        channel=row.channel,
    )


# --- Validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "percent", "message"),
    [
        (Mode.ROLLOUT, None, "needs the share"),
        (Mode.ROLLOUT, 0, "1 to 99"),
        (Mode.ROLLOUT, 100, "1 to 99"),
        (Mode.SHADOW, 20, "only for a rollout"),
        (Mode.LIVE, 20, "only for a rollout"),
    ],
)
def test_a_mode_and_its_percentage_are_validated(mode, percent, message):
    with pytest.raises(ValidationError) as error:
        services.rule_create(
            actor=None,
            name="x",
            kind=Rule.Kind.AMOUNT_ABOVE,
            action="block",
            amount=1,
            mode=mode,
            rollout_percent=percent,
        )
    assert message in " ".join(error.value.message_dict["rollout_percent"])


def test_a_rule_is_live_unless_told_otherwise():
    rule = services.rule_create(actor=None, name="x", kind=Rule.Kind.AMOUNT_ABOVE, action="block", amount=1)
    assert rule.mode == Mode.LIVE and rule.rollout_percent is None


def test_only_one_challenger_and_never_the_champion_on_trial(world):
    champion = world["champion"]
    champion.trial_mode = Mode.SHADOW
    with pytest.raises(ValidationError, match="only a challenger"):
        champion.full_clean()
    first = register_feature_model(algorithm="logreg", promote="never")
    first.trial_mode = Mode.SHADOW
    first.full_clean()
    first.save()
    second = register_feature_model(algorithm="logreg", promote="never")
    second.trial_mode, second.rollout_percent = Mode.ROLLOUT, 10
    with pytest.raises(ValidationError, match="one trial at a time"):
        second.full_clean()


# --- Rules on trial -------------------------------------------------------------------------------


def test_a_shadow_rule_never_decides_and_its_verdicts_are_recorded(world):
    rule = _rule(
        name="Everything", kind=Rule.Kind.AMOUNT_ABOVE, action="block", amount=Decimal("0"), mode=Mode.SHADOW
    )
    stored = _submit(world["period"])
    assert stored.count() == len(world["period"])
    assert not stored.filter(decided_by="rule").exists()
    assert stored.exclude(decision="block").exists()
    verdicts = {v.transaction_id: v for v in ShadowVerdict.objects.filter(rule_id=rule.pk)}
    assert set(verdicts) == set(stored.values_list("external_id", flat=True))
    for tx in stored:
        verdict = verdicts[tx.external_id]
        assert verdict.mode == Mode.SHADOW and not verdict.applied
        assert verdict.decision == "block" and verdict.hit == "Everything" and verdict.decided_by == "rule"
    # The same submissions without the shadow rule decide the same (a replay of what is live).
    outcome = backtest.backtest_stored(start=PERIOD[0], end=PERIOD[1], change={"bands": {"block": 1.0}})
    assert (outcome.result["baseline_decision"] == outcome.result["production_decision"]).all()


def test_a_rollout_rule_decides_for_its_cards_only_and_the_backtest_still_reproduces_production(world):
    rule = _rule(
        name="Big half", kind=Rule.Kind.AMOUNT_ABOVE, action="review", amount=Decimal("20"), **_rollout(50)
    )
    stored = _submit(world["period"])
    key = buckets.rule_key(rule.pk)
    by_rule = stored.filter(decided_by="rule")
    assert by_rule.exists()
    for tx in stored.select_related("card"):
        applies = buckets.in_rollout(tx.card.external_id, key, 50)
        verdict = ShadowVerdict.objects.get(rule_id=rule.pk, transaction_id=tx.external_id)
        assert verdict.applied == applies
        if tx.decided_by == "rule":
            assert applies and tx.amount > 20
        if not applies and tx.amount > 20 and tx.decided_by == "model":
            assert verdict.decision == "review"  # what the rule would have done for this card
    outcome = backtest.backtest_stored(
        start=PERIOD[0],
        end=PERIOD[1],
        change={"rule": {"id": rule.pk, "mode": "live", "rollout_percent": None}},
    )
    result = outcome.result
    assert (result["baseline_decision"] == result["production_decision"]).all()
    assert (result["baseline_by"] == result["production_decided_by"]).all()
    assert (result["baseline_score"].to_numpy() == result["production_score"].to_numpy()).all()
    # Live for every card: only cards outside the share change.
    changed = result[result["baseline_decision"] != result["candidate_decision"]]
    assert len(changed) and not any(buckets.in_rollout(card, key, 50) for card in changed["card_id"])


def test_the_report_compares_a_shadow_rule_as_labels_arrive(world):
    rule = _rule(
        name="Large", kind=Rule.Kind.AMOUNT_ABOVE, action="block", amount=Decimal("60"), mode=Mode.SHADOW
    )
    stored = _submit(world["period"])
    before = shadow.trial_report(rule_id=rule.pk, start=PERIOD[0], end=PERIOD[1])
    assert before["known_frauds"] == 0 and before["transactions"] == stored.count()
    assert before["baseline_agrees_with_production"] == stored.count()
    assert (
        before["candidate"]["blocked"]
        >= stored.filter(amount__gt=60).exclude(decided_by__endswith="list").count()
        > 0
    )
    frauds = world["period"][world["period"]["is_fraud"] == 1]["transaction_id"].tolist()
    assert frauds
    Transaction.objects.filter(external_id__in=frauds).update(is_fraud=True, label_known_at=PERIOD[1])
    after = shadow.trial_report(rule_id=rule.pk, start=PERIOD[0], end=PERIOD[1])
    assert after["known_frauds"] == len(frauds)
    big_frauds = stored.filter(external_id__in=frauds, amount__gt=60)
    assert after["candidate"]["frauds_blocked"] >= big_frauds.count()
    assert after["candidate"]["frauds_caught"] >= after["baseline"]["frauds_caught"]
    assert after["production"] == after["baseline"]
    # Judged before the labels became known, nothing is fraud yet.
    early = shadow.trial_report(rule_id=rule.pk, start=PERIOD[0], end=PERIOD[1], as_of=PERIOD[1])
    assert early["known_frauds"] == 0
    out = StringIO()
    call_command(
        "shadow_report",
        "--rule",
        str(rule.pk),
        "--from",
        "2025-03-12",
        "--to",
        "2025-03-13",
        "--json",
        stdout=out,
    )
    assert json.loads(out.getvalue())["candidate"] == after["candidate"]
    with pytest.raises(CommandError, match="Nothing was recorded"):
        call_command("shadow_report", "--rule", str(rule.pk), "--from", "2025-01-01", "--to", "2025-01-02")


# --- A challenger on trial ------------------------------------------------------------------------


def _on_trial(version, mode, percent=None):
    version.trial_mode, version.rollout_percent = mode, percent
    version.full_clean()
    version.save()
    registry.clear_cache()


def test_a_shadow_model_never_decides_and_is_recorded_and_reported(world):
    challenger = register_feature_model(algorithm="logreg", promote="never")
    _on_trial(challenger, Mode.SHADOW)
    stored = _submit(world["period"])
    assert set(stored.values_list("model_version", flat=True)) == {world["champion"].version}
    verdicts = ShadowVerdict.objects.filter(model_version=challenger.version)
    assert verdicts.count() == stored.count() and not verdicts.filter(applied=True).exists()
    champion_scores = dict(stored.values_list("external_id", "score"))
    assert any(abs(v.score - champion_scores[v.transaction_id]) > 1e-6 for v in verdicts)
    report = shadow.trial_report(model_version=challenger.version, start=PERIOD[0], end=PERIOD[1])
    assert report["baseline"] == report["production"] and report["trial"]["modes"] == [Mode.SHADOW]


def test_a_model_rollout_lets_the_challenger_decide_for_its_cards(world):
    challenger = register_feature_model(algorithm="logreg", promote="never")
    _on_trial(challenger, Mode.ROLLOUT, 40)
    stored = _submit(world["period"]).select_related("card")
    key = buckets.model_key(challenger.version)
    for tx in stored:
        expected = (
            challenger.version
            if buckets.in_rollout(tx.card.external_id, key, 40)
            else world["champion"].version
        )
        assert tx.model_version == expected
        verdict = ShadowVerdict.objects.get(model_version=challenger.version, transaction_id=tx.external_id)
        assert verdict.applied == (expected == challenger.version)
    assert len({tx.model_version for tx in stored}) == 2
    report = shadow.trial_report(model_version=challenger.version, start=PERIOD[0], end=PERIOD[1])
    assert set(report["arms"]) == {"rollout", "control"}
    assert (
        report["arms"]["rollout"]["transactions"] + report["arms"]["control"]["transactions"]
        == stored.count()
    )
    assert report["trial"]["applied"] == stored.filter(model_version=challenger.version).count()


def test_the_rule_and_model_pages_show_the_trial_and_its_report(world, admin_client):
    rule = _rule(
        name="Large", kind=Rule.Kind.AMOUNT_ABOVE, action="block", amount=Decimal("60"), mode=Mode.SHADOW
    )
    _submit(world["period"].head(30))
    ShadowVerdict.objects.update(occurred_at=datetime.now(UTC) - timedelta(days=1))
    Transaction.objects.filter(occurred_at__gte=PERIOD[0]).update(
        occurred_at=datetime.now(UTC) - timedelta(days=1)
    )
    page = admin_client.get(f"/admin/detection/rule/{rule.pk}/change/")
    assert page.status_code == 200
    assert b'data-testid="trial-report"' in page.content and b"rollout_percent" in page.content
    page = admin_client.get(f"/admin/detection/modelversion/{world['champion'].pk}/change/")
    assert page.status_code == 200 and b"trial_mode" in page.content


def test_the_api_lists_what_is_on_trial_and_reports_it(world, analyst, customer, integrator):
    rule = _rule(
        name="Large", kind=Rule.Kind.AMOUNT_ABOVE, action="block", amount=Decimal("60"), mode=Mode.SHADOW
    )
    _rule(name="Live one", kind=Rule.Kind.AMOUNT_ABOVE, action="review", amount=Decimal("5000"))
    challenger = register_feature_model(algorithm="logreg", promote="never")
    _on_trial(challenger, Mode.ROLLOUT, 30)
    _submit(world["period"])
    client = session_client(analyst)
    listed = client.get("/api/v1/trials/").json()
    assert [(r["id"], r["mode"]) for r in listed["rules"]] == [(rule.pk, Mode.SHADOW)]
    assert [(m["version"], m["mode"], m["rollout_percent"]) for m in listed["models"]] == [
        (challenger.version, Mode.ROLLOUT, 30)
    ]
    period = {"start": PERIOD[0].isoformat(), "end": PERIOD[1].isoformat()}
    answer = client.get("/api/v1/trials/report", {"rule": rule.pk} | period)
    assert answer.status_code == 200
    expected = shadow.trial_report(rule_id=rule.pk, start=PERIOD[0], end=PERIOD[1])
    assert (
        answer.json()["candidate"] == expected["candidate"] and answer.json()["trial"]["rule_id"] == rule.pk
    )
    model = client.get("/api/v1/trials/report", {"model_version": challenger.version} | period).json()
    assert set(model["arms"]) == {"rollout", "control"}

    def refused(query):
        answer = client.get("/api/v1/trials/report", query)
        assert answer.status_code == 400, (query, answer.content)
        error = error_of(answer)
        return " ".join([error["message"], *(m for messages in error["fields"].values() for m in messages)])

    assert "either a rule or a model version" in refused(period)
    assert "either a rule or a model version" in refused({"rule": rule.pk, "model_version": "x"} | period)
    assert "Nothing was recorded" in refused({"rule": rule.pk, "start": "2025-01-01", "end": "2025-01-02"})
    assert "after its start" in refused(
        {"rule": rule.pk, "start": PERIOD[1].isoformat(), "end": PERIOD[0].isoformat()}
    )
    assert "at most 31 days" in refused({"rule": rule.pk, "start": "2025-01-01", "end": "2025-03-01"})
    for junk in ("¹", "1;DROP", "٣", "9" * 40, "-1", "1\x00"):
        refused({"rule": junk} | period)
    refused({"model_version": "v\x00"} | period)
    refused({"model_version": "v" * 400} | period)
    assert session_client(customer).get("/api/v1/trials/").status_code == 403
    assert session_client(integrator).get("/api/v1/trials/report", {"rule": rule.pk}).status_code == 403
