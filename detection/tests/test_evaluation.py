"""Metrics and thresholds on hand-made arrays whose right answers are known by construction."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from detection import conf
from detection.ml.evaluation import (
    BLOCK_BY_PRECISION,
    BLOCK_BY_TOP_SHARE,
    BLOCK_UNPROVEN,
    MAX_CURVE_POINTS,
    card_precision_at_k,
    choose_bands,
    evaluate,
    wilson_lower_bound,
)
from detection.ml.options import LearningOptions
from detection.ml.thresholds import BLOCK_NOTHING

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


def _bands(y, s, *, cards=None, times=None, **options):
    n = len(s)
    return choose_bands(
        y,
        s,
        card_ids=list(range(n)) if cards is None else cards,
        occurred_at=[DAY1] * n if times is None else times,
        options=LearningOptions(**options),
    )


def test_wilson_lower_bound_says_how_little_a_handful_of_rows_proves():
    assert wilson_lower_bound(3, 3) == pytest.approx(0.526, abs=1e-3)
    assert wilson_lower_bound(30, 30) == pytest.approx(0.917, abs=1e-3)
    assert wilson_lower_bound(0, 0) == 0.0


def test_block_threshold_is_the_lowest_keeping_the_precision_on_enough_frauds():
    # 30 frauds on top, then legitimate rows: precision 30/33 = 0.909 at the 33rd row, 30/34 below.
    s = np.linspace(1.0, 0.01, 200)
    y = np.r_[np.ones(30), np.zeros(170)].astype(int)
    chosen = _bands(y, s, block_precision=0.9, block_min_frauds=20)
    assert chosen["thresholds"]["block"] == s[32]
    rule = chosen["rules"]["block"]
    assert (rule["rule"], rule["flagged"], rule["frauds"]) == (BLOCK_BY_PRECISION, 33, 30)
    assert rule["precision"] == pytest.approx(30 / 33)
    assert rule["precision_lower_bound"] == pytest.approx(float(wilson_lower_bound(30, 33)))
    # A lower target reaches further down.
    assert _bands(y, s, block_precision=0.8, block_min_frauds=20)["thresholds"]["block"] == s[36]


def test_a_handful_of_precise_rows_does_not_set_the_block_band():
    # Three frauds score highest, then fraud is one in three: "precision >= 0.9" holds only on
    # those three rows (the old rule blocked at the third score, out of reach of new traffic).
    rng = np.random.default_rng(0)
    s = np.sort(rng.random(5000))[::-1]
    y = np.r_[np.ones(3), (np.arange(4997) % 3 == 0) & (np.arange(4997) < 300)].astype(int)
    chosen = _bands(y, s, block_precision=0.9, block_fallback_share=0.002)
    rule = chosen["rules"]["block"]
    assert chosen["thresholds"]["block"] == BLOCK_NOTHING and rule["rule"] == BLOCK_UNPROVEN
    # Sixteen precise rows are still too few (20 asked for): the top 0.2 % is blocked instead,
    # the top scores being fraud (10 of 10).
    y = np.r_[np.ones(15), (np.arange(4985) % 3 == 0) & (np.arange(4985) < 300)].astype(int)
    chosen = _bands(y, s, block_precision=0.9, block_fallback_share=0.002)
    rule = chosen["rules"]["block"]
    assert rule["rule"] == BLOCK_BY_TOP_SHARE and rule["top_share"] == 0.002
    # The top 0.2 % of 5,000 scores: 10 rows, the 10th highest score.
    assert chosen["thresholds"]["block"] == s[9] and (rule["flagged"], rule["frauds"]) == (10, 10)
    assert chosen["thresholds"]["review"] <= chosen["thresholds"]["block"]


def test_the_fallback_blocks_nothing_unless_the_top_scores_are_shown_to_be_mostly_fraud():
    # One fraud in three below the top three: the top 0.2 % (10 rows, 6 frauds) is a coin toss
    # (lower bound 0.35); declining on that would refuse four good customers in ten.
    rng = np.random.default_rng(0)
    s = np.sort(rng.random(5000))[::-1]
    y = np.r_[np.ones(3), (np.arange(4997) % 3 == 0) & (np.arange(4997) < 300)].astype(int)
    chosen = _bands(y, s, block_precision=0.9, block_fallback_share=0.002)
    rule = chosen["rules"]["block"]
    assert chosen["thresholds"]["block"] == BLOCK_NOTHING
    assert (rule["rule"], rule["flagged"], rule["frauds"]) == (BLOCK_UNPROVEN, 10, 6)
    assert rule["precision_lower_bound"] < 0.5 <= rule["min_lower_bound"]
    # Review still holds what the analysts can take.
    assert chosen["thresholds"]["review"] < 1


def test_too_few_flagged_frauds_fall_back_even_when_precise():
    s = np.linspace(1.0, 0.01, 200)
    y = np.r_[np.ones(30), np.zeros(170)].astype(int)
    chosen = _bands(y, s, block_precision=0.9, block_min_frauds=31, block_fallback_share=0.05)
    assert chosen["rules"]["block"]["rule"] == BLOCK_BY_TOP_SHARE
    assert chosen["thresholds"]["block"] == s[9]  # 5 % of 200


def test_review_threshold_holds_about_the_capacity_of_cards_per_day():
    rng = np.random.default_rng(1)
    days, cards_per_day = 10, 500
    cards = np.tile(np.arange(cards_per_day), days)
    times = np.repeat([DAY1 + timedelta(days=d) for d in range(days)], cards_per_day)
    s = rng.random(cards.size)
    y = (s > 0.99).astype(int)
    chosen = _bands(y, s, cards=cards, times=times, review_cards_per_day=40)
    review, block = chosen["thresholds"]["review"], chosen["thresholds"]["block"]
    # Held for review: reaching review, not block (blocked payments take no analyst's time).
    held_per_day = ((s >= review) & (s < block)).sum() / days
    assert held_per_day == pytest.approx(40, abs=1)
    assert review <= block
    assert chosen["rules"]["review"] == {
        "rule": "cards_per_day",
        "target": 40,
        "held": 400,
        "held_share": pytest.approx(0.08),
    }


def test_review_threshold_counts_cards_not_transactions():
    # Each card makes 5 transactions a day with equal scores: capacity 2 cards = 10 transactions.
    cards = np.repeat(["a", "b", "c", "d"], 5)
    s = np.repeat([0.9, 0.8, 0.7, 0.6], 5)
    y = np.zeros(20, dtype=int)
    chosen = _bands(y, s, cards=cards, review_cards_per_day=2, block_fallback_share=0.01)
    # No fraud at all: nothing is blocked; cards a and b fill the capacity (10 transactions).
    assert chosen["thresholds"] == {"block": BLOCK_NOTHING, "review": 0.8}


def test_an_alert_rate_holds_that_share_of_payments():
    s = np.linspace(1.0, 0.0, 1000, endpoint=False)
    y = np.r_[np.ones(40), np.zeros(960)].astype(int)
    chosen = _bands(y, s, review_alert_rate=0.05, block_precision=0.9)
    review, block = chosen["thresholds"]["review"], chosen["thresholds"]["block"]
    assert ((s >= review) & (s < block)).sum() == 50
    assert chosen["rules"]["review"]["rule"] == "alert_rate"
    assert chosen["rules"]["review"]["held_share"] == pytest.approx(0.05)


@pytest.mark.django_db
def test_thresholds_follow_the_settings(settings):
    s = np.linspace(1.0, 0.0, 1000, endpoint=False)
    y = np.r_[np.ones(40), np.zeros(960)].astype(int)
    settings.DETECTION_BLOCK_PRECISION = 0.95
    settings.DETECTION_BLOCK_MIN_FRAUDS = 50
    settings.DETECTION_BLOCK_FALLBACK_SHARE = 0.01
    settings.DETECTION_REVIEW_ALERT_RATE = 0.02
    options = conf.learning_options()  # what training is given in this deployment
    chosen = choose_bands(y, s, card_ids=np.arange(1000), occurred_at=[DAY1] * 1000, options=options)
    # 40 frauds cannot make the 50 asked for: the top 1 % is blocked; 2 % of 1,000 are held.
    assert chosen["thresholds"] == {"block": s[9], "review": s[29]}
    assert chosen["rules"]["block"]["rule"] == BLOCK_BY_TOP_SHARE
