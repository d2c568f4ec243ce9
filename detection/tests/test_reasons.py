import numpy as np
import pytest
from django.utils import translation

from detection.sentences import lowers_risk, reason_sentence
from detection.serving.reasons import Explainer, groups_for
from detection.tests.pipelines import train_toy

# Module-scoped fixtures train once for every test here: they stay on one parallel worker.
pytestmark = pytest.mark.xdist_group("reasons_models")

# Fraud follows the first two features (see pipelines.toy_frame); the third is noise.
FEATURES = ["amount_to_card_mean_30d", "card_count_1h", "hour"]


@pytest.fixture(scope="module", params=["logreg", "hgb"])
def explainer(request):
    pipeline, X, y = train_toy(FEATURES, algorithm=request.param)
    return Explainer(pipeline, FEATURES, X[y == 0].median().to_dict())


def test_removing_the_top_reason_lowers_the_score(explainer):
    row = {"amount_to_card_mean_30d": 2.5, "card_count_1h": 0.2, "hour": 0.1}
    score, reasons = explainer.score_and_explain(row)
    assert reasons, "a risky transaction has reasons"
    top = reasons[0]
    assert top.code == "amount_vs_card_history"
    reset = dict(row, amount_to_card_mean_30d=explainer.typical[0])
    reset_score = explainer.predict(np.array([[reset[f] for f in FEATURES]]))[0]
    assert reset_score < score
    assert top.contribution == pytest.approx(score - reset_score, abs=1e-4)
    # Contributions come largest first; noise is never a reason worth telling.
    raised = [r.contribution for r in reasons if not lowers_risk(r)]
    assert raised == sorted(raised, reverse=True)


def test_what_lowered_the_risk_is_told_after_what_raised_it(explainer):
    # A high count but an amount far below the card's usual: the amount speaks for the payment.
    row = {"amount_to_card_mean_30d": -2.5, "card_count_1h": 3.0, "hour": 0.1}
    score, reasons = explainer.score_and_explain(row)
    directions = [lowers_risk(r) for r in reasons]
    assert directions == sorted(directions)  # what raised it first, then what lowered it
    (lowered,) = [r for r in reasons if lowers_risk(r)]
    assert lowered.code == "amount_vs_card_history"
    reset = dict(row, amount_to_card_mean_30d=explainer.typical[0])
    reset_score = explainer.predict(np.array([[reset[f] for f in FEATURES]]))[0]
    assert reset_score > score and lowered.contribution == pytest.approx(score - reset_score, abs=1e-4)
    # Lowering reasons are bounded on their own.
    assert explainer.score_and_explain(row, max_lowering=0)[1] == [r for r in reasons if r is not lowered]


def test_both_drivers_are_reasons_when_both_are_high(explainer):
    _score, reasons = explainer.score_and_explain(
        {"amount_to_card_mean_30d": 2.0, "card_count_1h": 2.0, "hour": 0.0}
    )
    assert {"amount_vs_card_history", "card_velocity"} <= {r.code for r in reasons}


def test_a_typical_transaction_has_no_reasons(explainer):
    typical = dict(zip(FEATURES, explainer.typical, strict=True))
    _score, reasons = explainer.score_and_explain(typical)
    assert reasons == []


def test_one_explanation_reads_in_english_and_in_chinese():
    pipeline, X, y = train_toy(FEATURES, algorithm="logreg")
    explainer = Explainer(pipeline, FEATURES, X[y == 0].median().to_dict())
    row = {"amount_to_card_mean_30d": 6.0, "card_count_1h": 5.0, "hour": 0.0}
    with translation.override("zh-hans"):  # the language of the moment does not matter
        _score, reasons = explainer.score_and_explain(row)
    velocity = {r.code: r.params for r in reasons}["card_velocity"]
    assert (velocity["n"], velocity["window"]) == (5, "1h") and velocity["usual"] < 5
    with translation.override("en"):
        messages = {r.code: reason_sentence(r) for r in reasons}
    assert messages["amount_vs_card_history"] == "Amount is 6× this card's usual spending"
    assert messages["card_velocity"] == "5 transactions on this card in the last hour"
    with translation.override("zh-hans"):
        zh = {r.code: reason_sentence(r) for r in reasons}
    assert (
        "6" in zh["amount_vs_card_history"]
        and zh["amount_vs_card_history"] != messages["amount_vs_card_history"]
    )


def test_batched_codes_match_the_single_row_reasons(explainer):
    rows = np.array([[2.5, 0.2, 0.1], [2.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    scores = explainer.predict(rows)
    codes = explainer.top_codes(rows, scores)
    for row, joined in zip(rows, codes, strict=True):
        _score, reasons = explainer.score_and_explain(dict(zip(FEATURES, row, strict=True)))
        assert joined == ";".join(r.code for r in reasons if not lowers_risk(r))


def test_related_features_are_one_reason():
    groups = groups_for(["card_count_1h", "card_count_1d", "merchant_fraud_rate_7d", "amount"])
    codes = [g.code for g in groups]
    assert codes == ["card_velocity", "merchant_fraud", "amount"]
    assert groups[0].columns == (0, 1)
