"""The online path's fast predictor gives the champion's own scores, or stands aside."""

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesClassifier

from detection.ml import fast_predict, training
from detection.serving.reasons import Explainer
from detection.tests.pipelines import toy_frame

NAMES = [f"f{i}" for i in range(6)]


def _fitted(algorithm, *, missing=False):
    """One of the training module's real candidates, fitted on toy data."""
    _, _, params = training.CANDIDATES[algorithm]
    X, y = toy_frame(NAMES, n=3000, seed=4)
    X = X.to_numpy().copy()
    if missing:
        X[np.random.default_rng(1).random(X.shape) < 0.1] = np.nan
    return training._build(algorithm, params, seed=0).fit(X, y)


def _rows(n, *, missing):
    rows = np.random.default_rng(7).normal(scale=2.0, size=(n, len(NAMES)))
    if missing:
        rows[np.random.default_rng(8).random(rows.shape) < 0.2] = np.nan
    return rows


@pytest.mark.parametrize(
    ("algorithm", "missing"),
    [
        ("hist_gradient_boosting", False),
        ("hist_gradient_boosting", True),
        ("random_forest", False),
        ("random_forest", True),
        ("logistic_regression", False),
    ],
)
def test_fast_scores_equal_scikit_learns(algorithm, missing):
    model = _fitted(algorithm, missing=missing)
    fast = fast_predict.compile_model(model, len(NAMES), lambda m: model.predict_proba(m)[:, 1])
    assert fast is not None
    rows = _rows(400, missing=missing)
    np.testing.assert_allclose(fast(rows), model.predict_proba(rows)[:, 1], rtol=0, atol=1e-12)


def test_explainer_scores_a_decision_as_the_model_does():
    model = _fitted("hist_gradient_boosting")
    explainer = Explainer(model, NAMES, dict.fromkeys(NAMES, 0.0))
    row = dict.fromkeys(NAMES, 1.5)
    score, reasons = explainer.score_and_explain(row)
    expected = model.predict_proba(np.array([[1.5] * len(NAMES)]))[0, 1]
    assert score == pytest.approx(expected, abs=1e-12)
    assert reasons  # the risky columns were reset to typical and the score dropped


def test_a_model_it_cannot_vouch_for_keeps_scikit_learns_predict():
    X, y = toy_frame(NAMES, n=500, seed=2)
    other = ExtraTreesClassifier(n_estimators=5, random_state=0).fit(X.to_numpy(), y)
    assert fast_predict.compile_model(other, len(NAMES), lambda m: other.predict_proba(m)[:, 1]) is None

    # A disagreement with the reference (here: a wrong one on purpose) also refuses the fast path.
    model = _fitted("hist_gradient_boosting")
    assert fast_predict.compile_model(model, len(NAMES), lambda m: np.zeros(len(m))) is None

    explainer = Explainer(other, NAMES, {})
    rows = _rows(20, missing=False)
    np.testing.assert_allclose(explainer.predict(rows), other.predict_proba(rows)[:, 1])
