"""Metrics and thresholds on hand-made arrays whose right answers are known by construction."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from detection import conf
from detection.ml.evaluation import (
    BLOCK_NOTHING,
    MAX_CURVE_POINTS,
    card_precision_at_k,
    choose_thresholds,
    evaluate,
)

DAY1 = datetime(2026, 1, 5, 10, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)


def test_card_precision_ranks_cards_by_their_highest_score_each_day():
    # Day 1: card a (fraud, max 0.9), card b (legit, 0.8), card c (legit, 0.1).
    # Day 2: card a (legit, 0.95), card d (fraud, 0.2).
    cards = ["a", "a", "b", "c", "a", "d"]
    times = [DAY1, DAY1, DAY1, DAY1, DAY2, DAY2]
    scores = [0.2, 0.9, 0.8, 0.1, 0.95, 0.2]
    y = [1, 0, 0, 0, 0, 1]
    # k=1: day 1 top card is a (had a fraud) -> 1; day 2 top card is a (no fraud) -> 0.
    assert card_precision_at_k(y, scores, card_ids=cards, occurred_at=times, k=1) == pytest.approx(0.5)
    # k=2: day 1 {a, b} -> 1/2; day 2 {a, d} -> 1/2.
    assert card_precision_at_k(y, scores, card_ids=cards, occurred_at=times, k=2) == pytest.approx(0.5)


def test_evaluate_counts_at_the_review_and_block_thresholds():
    y = [0, 0, 0, 1, 0, 1, 1, 1]
    s = [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9]
    result = evaluate(
        y,
        s,
        card_ids=list("abcdefgh"),
        occurred_at=[DAY1] * 8,
        thresholds={"review": 0.5, "block": 0.75},
        k=100,
    )
    # Review flags 0.6..0.9: tp=3, fp=1, fn=1, tn=3.
    assert result["confusion_matrix"] == {"tn": 3, "fp": 1, "fn": 1, "tp": 3}
    assert result["precision"] == pytest.approx(0.75)
    assert result["recall"] == pytest.approx(0.75)
    assert result["f1"] == pytest.approx(0.75)
    assert result["accuracy"] == pytest.approx(6 / 8)
    # Block flags 0.8 and 0.9, both fraud.
    assert result["block"]["precision"] == 1.0
    assert result["block"]["recall"] == pytest.approx(0.5)
    # One inversion (0.4 fraud below 0.6 legit) among 4x4 pairs.
    assert result["roc_auc"] == pytest.approx(15 / 16)
    assert 0 < result["average_precision"] < 1
    assert result["curves"]["pr"]["precision"] and result["curves"]["roc"]["tpr"]


def test_perfect_ranking_scores_one_and_single_class_periods_do_not_crash():
    y = [0, 0, 1, 1]
    s = [0.1, 0.2, 0.8, 0.9]
    perfect = evaluate(y, s, card_ids=list("abcd"), occurred_at=[DAY1] * 4, thresholds=0.5, k=2)
    assert perfect["roc_auc"] == 1.0
    assert perfect["average_precision"] == 1.0
    assert perfect["card_precision_at_k"] == 1.0

    no_fraud = evaluate([0, 0], [0.1, 0.9], card_ids=["a", "b"], occurred_at=[DAY1] * 2, thresholds=0.5, k=2)
    assert no_fraud["roc_auc"] is None
    assert no_fraud["average_precision"] is None
    assert no_fraud["precision"] == 0.0


def test_curves_are_downsampled_for_storage():
    rng = np.random.default_rng(0)
    n = 5000
    y = rng.random(n) < 0.1
    s = np.clip(rng.random(n) * 0.6 + y * 0.3, 0, 1)
    result = evaluate(y, s, card_ids=np.arange(n), occurred_at=[DAY1] * n, thresholds=0.5, k=100)
    for curve in result["curves"].values():
        for points in curve.values():
            assert 2 <= len(points) <= MAX_CURVE_POINTS
    # The curve runs the whole way: full recall at one end, zero at the other.
    assert max(result["curves"]["pr"]["recall"]) == 1.0
    assert min(result["curves"]["pr"]["recall"]) == 0.0


def test_block_threshold_is_the_lowest_keeping_the_target_precision():
    # Sorted by score: 0.9 F, 0.8 F, 0.7 F, 0.6 F, 0.5 L, 0.4 F, 0.3 L, 0.2 L ...
    # precision at >=0.6: 4/4; >=0.5: 4/5 = 0.8; >=0.4: 5/6 = 0.83; >=0.3: 5/7.
    y = [1, 1, 1, 1, 0, 1, 0, 0, 0, 0]
    s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    common = {"card_ids": list("abcdefghij"), "occurred_at": [DAY1] * 10, "review_cards_per_day": 3}
    assert choose_thresholds(y, s, block_precision=0.9, **common)["block"] == 0.6
    # A lower target reaches down to 0.4 (5/6 >= 0.8), the lowest that keeps it.
    assert choose_thresholds(y, s, block_precision=0.8, **common)["block"] == 0.4


def test_block_nothing_when_no_threshold_is_precise_enough():
    y = [0, 1, 0, 1]
    s = [0.9, 0.8, 0.7, 0.6]
    thresholds = choose_thresholds(
        y, s, card_ids=list("abcd"), occurred_at=[DAY1] * 4, block_precision=0.9, review_cards_per_day=1
    )
    assert thresholds["block"] == BLOCK_NOTHING > 1
    assert thresholds["review"] == 0.9


def test_review_threshold_flags_about_the_capacity_of_cards_per_day():
    rng = np.random.default_rng(1)
    days, cards_per_day = 10, 500
    cards = np.tile(np.arange(cards_per_day), days)
    times = np.repeat([DAY1 + timedelta(days=d) for d in range(days)], cards_per_day)
    s = rng.random(cards.size)
    y = (s > 0.99).astype(int)
    thresholds = choose_thresholds(
        y, s, card_ids=cards, occurred_at=times, block_precision=1.0, review_cards_per_day=40
    )
    flagged_per_day = (s >= thresholds["review"]).sum() / days
    assert flagged_per_day == pytest.approx(40, abs=1)
    assert thresholds["review"] <= thresholds["block"]


def test_review_threshold_counts_cards_not_transactions():
    # Each card makes 5 transactions a day with equal scores: capacity 2 cards = 10 transactions.
    cards = np.repeat(["a", "b", "c", "d"], 5)
    s = np.repeat([0.9, 0.8, 0.7, 0.6], 5)
    y = np.zeros(20, dtype=int)
    thresholds = choose_thresholds(
        y, s, card_ids=cards, occurred_at=[DAY1] * 20, block_precision=0.9, review_cards_per_day=2
    )
    assert thresholds["review"] == 0.8


def test_thresholds_follow_the_settings(settings):
    y = [1, 1, 1, 1, 0, 1, 0, 0, 0, 0]
    s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    settings.DETECTION_BLOCK_PRECISION = 0.8
    settings.DETECTION_REVIEW_CARDS_PER_DAY = 7
    options = conf.learning_options()  # what training is given in this deployment
    thresholds = choose_thresholds(
        y,
        s,
        card_ids=list("abcdefghij"),
        occurred_at=[DAY1] * 10,
        block_precision=options.block_precision,
        review_cards_per_day=options.review_cards_per_day,
    )
    assert thresholds == {"block": 0.4, "review": 0.3}
