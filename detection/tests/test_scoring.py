from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from django.utils import translation

from detection.contracts import Decision, TransactionInput
from detection.ml.features import FEATURE_NAMES
from detection.models import ListEntry, ModelVersion, Rule
from detection.sentences import reason_sentence
from detection.serving import registry
from detection.serving.scoring import band, by_row_chunks, decide, explainer_for, score_frame
from detection.tests.history import FrameHistory
from detection.tests.pipelines import register_feature_model, simulated, trained_on_features

# The module trains one model for all its tests: they stay on one parallel worker.
pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("scoring_model")]


def as_input(row) -> TransactionInput:
    return TransactionInput(
        transaction_id=row["transaction_id"],
        occurred_at=row["occurred_at"].to_pydatetime(),
        card_id=row["card_id"],
        merchant_id=row["merchant_id"],
        amount=Decimal(str(row["amount"])),
        currency=row["currency"],
        merchant_category=row["merchant_category"],
        channel=row["channel"],
        country=row["country"],
    )


@pytest.fixture(scope="module")
def history():
    return FrameHistory(simulated())


def riskiest_late_rows(count=3):
    """Late transactions (with history before them) the model finds most suspicious."""
    pipeline, frame, X, _y = trained_on_features()
    late = frame["occurred_at"] >= frame["occurred_at"].min() + pd.Timedelta(days=20)
    scores = pd.Series(pipeline.predict_proba(X[FEATURE_NAMES])[:, 1], index=frame.index)[late]
    return frame.loc[scores.nlargest(count).index]


def test_without_a_model_everything_goes_to_review_with_no_model(history):
    decision = decide(as_input(simulated().iloc[-1]), history=history)
    assert decision.decision == Decision.REVIEW
    assert decision.decided_by == "fallback"
    assert decision.score is None
    assert [r.code for r in decision.reasons] == ["no_model"]


def test_the_champion_decides_with_its_bands_features_and_reasons(history):
    version = register_feature_model()
    row = riskiest_late_rows(1).iloc[0]
    decision = decide(as_input(row), history=history)
    assert decision.decided_by == "model"
    assert decision.model_version == version.version
    assert 0 <= decision.score <= 1
    assert decision.risk_score == round(100 * decision.score)
    assert decision.decision == band(decision.score, version.thresholds)
    assert set(decision.features) == set(FEATURE_NAMES)
    assert decision.reasons and decision.reasons[0].contribution >= 0
    assert all(reason_sentence(r) for r in decision.reasons)


def test_online_and_batch_scores_agree(history):
    register_feature_model()
    frame = simulated()
    picked = riskiest_late_rows(3)
    batch = score_frame(frame).set_index("transaction_id")
    for _index, row in picked.iterrows():
        online = decide(as_input(row), history=history)
        assert online.score == pytest.approx(batch.loc[row["transaction_id"], "score"], abs=1e-6)
        assert online.decision == batch.loc[row["transaction_id"], "decision"]


def test_lists_and_rules_decide_before_the_model(history):
    register_feature_model()
    row = riskiest_late_rows(1).iloc[0]
    ListEntry.objects.create(list_type="allow", kind="card_id", value=row["card_id"], reason="known good")
    decision = decide(as_input(row), history=history)
    assert (decision.decision, decision.decided_by) == (Decision.APPROVE, "allow_list")
    assert decision.score is not None, "the model's opinion is still recorded"
    assert decision.risk_score is None, "a list decided: there is no fraud risk to tell"
    assert decision.rule_hits[0]["detail"] == {"note": "known good"}
    ListEntry.objects.all().delete()
    Rule.objects.create(name="everything", kind="amount_above", amount=Decimal(-1), action="block")
    decision = decide(as_input(row), history=history)
    assert (decision.decision, decision.decided_by) == (Decision.BLOCK, "rule")
    assert decision.reasons[0].code == "rule" and decision.risk_score is None


def test_rules_still_apply_without_a_model(history):
    Rule.objects.create(name="big", kind="amount_above", amount=Decimal(0), action="block")
    decision = decide(as_input(simulated().iloc[-1]), history=history)
    assert (decision.decision, decision.decided_by) == (Decision.BLOCK, "rule")


def test_a_corrupt_champion_falls_back_then_to_review(history):
    first = register_feature_model(ap=0.1)
    second = register_feature_model(ap=0.2)
    assert ModelVersion.objects.get(status="champion") == second
    registry.artifact_full_path(second).write_bytes(b"garbage")
    row = as_input(simulated().iloc[-1])
    assert decide(row, history=history).model_version == first.version
    registry.artifact_full_path(first).write_bytes(b"garbage too")
    registry.clear_cache()
    decision = decide(row, history=history)
    assert (decision.decision, decision.decided_by) == (Decision.REVIEW, "fallback")
    assert decision.reasons[0].code == "no_model"


def test_a_promotion_changes_the_serving_version(history):
    first = register_feature_model(ap=0.5)
    second = register_feature_model(ap=0.1, thresholds={"review": 0.0, "block": 1.01})
    row = as_input(simulated().iloc[-1])
    assert decide(row, history=history).model_version == first.version
    registry.promote_version(second, actor=None)
    decision = decide(row, history=history)
    assert decision.model_version == second.version
    assert decision.decision == Decision.REVIEW  # its review threshold of 0 flags everything


def test_a_decision_taken_in_english_reads_in_chinese(history):
    register_feature_model()
    row = as_input(riskiest_late_rows(1).iloc[0])
    with translation.override("en"):
        decision = decide(row, history=history)
        english = reason_sentence(decision.reasons[0])
    with translation.override("zh-hans"):
        chinese = reason_sentence(decision.reasons[0])
    assert decision.reasons and not any("\u4e00" <= ch <= "\u9fff" for ch in english)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese)


def test_score_frame_limits_rows_and_explains_flagged_ones():
    register_feature_model()
    frame = simulated()
    late = (frame["occurred_at"] >= frame["occurred_at"].max() - pd.Timedelta(days=5)).to_numpy()
    result = score_frame(frame, rows=late)
    assert list(result.columns) == ["transaction_id", "score", "risk_score", "decision", "reasons"]
    assert len(result) == late.sum()
    assert result["score"].between(0, 1).all()
    assert (result["risk_score"] == np.rint(result["score"] * 100)).all()
    flagged = result[result["decision"] != Decision.APPROVE]
    assert len(flagged) > 0
    assert (flagged["reasons"] != "").mean() > 0.5


def test_scores_and_reasons_by_row_chunks_are_those_of_one_call(monkeypatch):
    from threadpoolctl import threadpool_info

    register_feature_model()
    explainer = explainer_for(registry.serving_model())
    _pipeline, _frame, X, _y = trained_on_features()
    matrix = X[FEATURE_NAMES].to_numpy(dtype=float)[:9_000]
    assert len(matrix) == 9_000  # several chunks
    scores = explainer.predict(matrix)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert np.array_equal(by_row_chunks(explainer.predict, matrix), scores)
    top = np.argsort(-scores)[:5_000]
    chunked = by_row_chunks(explainer.top_codes, matrix[top], scores[top])
    assert chunked.tolist() == explainer.top_codes(matrix[top], scores[top]).tolist()

    def threads(rows):  # each chunk runs the model on one OpenMP thread
        return np.array(
            [[i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"]] * len(rows)
        )

    counts = by_row_chunks(threads, matrix)
    assert counts.shape == (9_000, 1) and (counts == 1).all()


def test_score_frame_applies_lists_and_velocity_rules_like_decide(history):
    register_feature_model()
    frame = simulated()
    Rule.objects.create(
        name="burst", kind="velocity", max_count=2, window_minutes=60, action="block", order=1
    )
    result = score_frame(frame).set_index("transaction_id")
    blocked = result[result["reasons"].str.startswith("rule")]
    assert len(blocked) > 0
    for _index, row in frame[frame["transaction_id"].isin(blocked.index[:5])].iterrows():
        assert decide(as_input(row), history=history).decided_by == "rule"
    calm = frame[~frame["transaction_id"].isin(blocked.index)].iloc[-5:]
    for _index, row in calm.iterrows():
        assert decide(as_input(row), history=history).decided_by != "rule"


def test_score_frame_without_any_model_says_so():
    with pytest.raises(registry.RegistryError, match="no usable champion"):
        score_frame(simulated())
