"""Small, real scikit-learn models for the registry, scoring and reasons tests (never mocks)."""

from functools import cache

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from detection.ml.evaluation import choose_bands, evaluate
from detection.ml.options import LearningOptions


def toy_frame(feature_names, n=2000, seed=0):
    """Features where fraud follows the first two columns: big values are risky."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(feature_names))), columns=list(feature_names))
    logit = 2.5 * X.iloc[:, 0] + 1.5 * X.iloc[:, 1] - 4
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def train_toy(feature_names, *, algorithm="logreg", seed=0):
    X, y = toy_frame(feature_names, seed=seed)
    if algorithm == "hgb":
        pipeline = HistGradientBoostingClassifier(max_iter=30, random_state=seed)
    else:
        pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    pipeline.fit(X, y)
    return pipeline, X, y


def toy_metrics(pipeline, X, y, *, ap=None):
    scores = pipeline.predict_proba(X)[:, 1]
    cards = np.arange(len(y)) % 300
    times = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(len(y)) % 5, unit="D")
    thresholds = choose_bands(
        y,
        scores,
        card_ids=cards,
        occurred_at=times,
        options=LearningOptions(block_precision=0.9, review_cards_per_day=20),
    )["thresholds"]
    result = evaluate(
        y, scores, card_ids=cards, occurred_at=times, thresholds=thresholds, k=100, include_curves=False
    )
    if ap is not None:
        result["average_precision"] = ap
    return result, thresholds


def register_toy(
    feature_names=("f0", "f1", "f2"), *, ap=None, promote="auto", algorithm="logreg", seed=0, **kwargs
):
    from detection.serving import registry

    pipeline, X, y = train_toy(feature_names, algorithm=algorithm, seed=seed)
    metrics, thresholds = toy_metrics(pipeline, X, y, ap=ap)
    typical = X[y == 0].median().to_dict()
    return registry.register_version(
        pipeline=pipeline,
        algorithm=algorithm,
        parameters={"seed": seed},
        feature_names=list(feature_names),
        periods={"train": ("2026-01-01", "2026-01-08"), "test": ("2026-01-15", "2026-01-22")},
        metrics={"validation": metrics, "test": metrics},
        comparison={algorithm: metrics},
        thresholds=thresholds,
        curves={},
        importances={},
        typical_values=typical,
        promote=promote,
        **kwargs,
    )


@cache
def simulated(days=30, seed=1):
    from detection.ml.simulator import simulate

    return simulate(customers=300, merchants=200, days=days, seed=seed)


@cache
def trained_on_features(algorithm="hgb", seed=1):
    """A real model on the real features of a small simulated history (trained once per run)."""
    from detection.ml.features import FEATURE_NAMES, compute_features_frame

    frame = simulated(seed=seed)
    X = compute_features_frame(frame, label_delay=7)
    y = frame["is_fraud"].astype(int).to_numpy()
    if algorithm == "hgb":
        pipeline = HistGradientBoostingClassifier(max_iter=60, learning_rate=0.1, random_state=seed)
    else:
        pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, class_weight="balanced"))
    pipeline.fit(X[FEATURE_NAMES], y)
    return pipeline, frame, X, y


def register_feature_model(*, algorithm="hgb", promote="auto", ap=None, thresholds=None):
    from detection.ml.features import FEATURE_NAMES
    from detection.serving import registry

    pipeline, frame, X, y = trained_on_features(algorithm)
    scores = pipeline.predict_proba(X[FEATURE_NAMES])[:, 1]
    chosen = choose_bands(
        y,
        scores,
        card_ids=frame["card_id"],
        occurred_at=frame["occurred_at"],
        options=LearningOptions(block_precision=0.9, review_cards_per_day=5),
    )["thresholds"]
    metrics = evaluate(
        y,
        scores,
        card_ids=frame["card_id"],
        occurred_at=frame["occurred_at"],
        thresholds=thresholds or chosen,
        k=100,
        include_curves=False,
    )
    if ap is not None:
        metrics["average_precision"] = ap
    return registry.register_version(
        pipeline=pipeline,
        algorithm=algorithm,
        parameters={},
        feature_names=FEATURE_NAMES,
        periods={},
        metrics={"test": metrics},
        comparison={},
        thresholds=thresholds or chosen,
        curves={},
        importances={},
        typical_values=X[FEATURE_NAMES][y == 0].median().to_dict(),
        promote=promote,
    )
