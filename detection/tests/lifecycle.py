"""A small simulated history served as the training source, so retraining tests need no
transaction tables (detection reads history through a setting; see conf.training_source_path).

Fraud rates are raised eightfold so that 300 cards over six weeks hold enough fraud for the
gate's metrics to separate a real model from a one-split stump."""

from functools import cache

from detection.ml.simulator import CANONICAL_COLUMNS, DEFAULT_PATTERNS, simulate

# A one-split tree: a deliberately weak challenger (or champion).
STUMP = {"hist_gradient_boosting": {"max_iter": 1, "max_leaf_nodes": 2, "learning_rate": 0.01}}
RICH_FRAUD = {name: {"rate": p.rate * 8} for name, p in DEFAULT_PATTERNS.items() if p.enabled}


@cache
def history(days=42, seed=3):
    return simulate(customers=300, merchants=200, days=days, seed=seed, patterns=RICH_FRAUD)


def simulated_source(start=None, end=None):
    frame = history()
    if start is not None:
        frame = frame[frame["occurred_at"] >= start]
    if end is not None:
        frame = frame[frame["occurred_at"] < end]
    return frame[CANONICAL_COLUMNS]


def empty_source(start=None, end=None):
    return history()[CANONICAL_COLUMNS].iloc[:0]


def use_history(settings, *, algorithm="logistic_regression", params=None):
    """Retrain on the simulated history with one algorithm, metrics sized to 300 cards."""
    settings.DETECTION_TRAINING_SOURCE = "detection.tests.lifecycle.simulated_source"
    settings.DETECTION_RETRAIN_ALGORITHMS = [algorithm]
    settings.DETECTION_TRAINING_PARAMS = params or {}
    settings.DETECTION_CARD_PRECISION_K = 10
    settings.DETECTION_REVIEW_CARDS_PER_DAY = 10
    settings.DETECTION_RETRAIN_MARGIN_AP = 0.01
    settings.DETECTION_RETRAIN_MARGIN_RECALL_AT_BUDGET = 0.05


def weak(settings):
    use_history(settings, algorithm="hist_gradient_boosting", params=STUMP)


def strong(settings):
    use_history(settings, algorithm="logistic_regression")
