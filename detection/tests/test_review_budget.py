"""Recall at the review budget: the share of fraudulent cards a daily review capacity finds."""

import numpy as np
import pandas as pd
import pytest

from detection.ml.evaluation import card_precision_at_k
from detection.ml.review_budget import recall_at_review_budget

DAY = pd.Timestamp("2025-03-01", tz="UTC")


def test_counts_the_fraudulent_cards_within_each_days_budget():
    # Day 1: cards a (fraud), b, c (fraud); day 2: d (fraud), e. Two cards reviewed a day.
    cards = ["a", "a", "b", "c", "d", "e"]
    times = [DAY, DAY, DAY, DAY, DAY + pd.Timedelta(days=1), DAY + pd.Timedelta(days=1)]
    y = [0, 1, 0, 1, 1, 0]
    scores = [0.1, 0.9, 0.8, 0.2, 0.3, 0.4]
    # Day 1 reviews a (its highest score, 0.9) and b: one of two frauds; day 2 reviews both.
    assert recall_at_review_budget(
        y, scores, card_ids=cards, occurred_at=times, cards_per_day=2
    ) == pytest.approx(2 / 3)
    assert recall_at_review_budget(
        y, scores, card_ids=cards, occurred_at=times, cards_per_day=1
    ) == pytest.approx(1 / 3)


def test_ties_at_the_cut_count_for_the_share_that_fits():
    cards, y = ["a", "b", "c", "d"], [1, 0, 0, 0]
    same = [0.5] * 4
    assert recall_at_review_budget(y, same, card_ids=cards, occurred_at=[DAY] * 4, cards_per_day=1) == 0.25


def test_separates_models_where_card_precision_at_100_cannot():
    """A small bank: 5 fraudulent cards a day among 1,000. With k = 100 both models find all five
    (card precision 0.05 each); within a budget of 5 cards only the better one does."""
    rng = np.random.default_rng(0)
    cards = np.arange(1000).astype(str)
    y = np.zeros(1000, dtype=int)
    y[:5] = 1
    good = np.r_[np.full(5, 0.9), rng.uniform(0, 0.5, 995)]
    fair = np.r_[np.full(5, 0.6), rng.uniform(0, 0.62, 995)]
    times = [DAY] * 1000
    for scores in (good, fair):
        assert card_precision_at_k(y, scores, card_ids=cards, occurred_at=times, k=100) == 0.05
    good_recall = recall_at_review_budget(y, good, card_ids=cards, occurred_at=times, cards_per_day=5)
    fair_recall = recall_at_review_budget(y, fair, card_ids=cards, occurred_at=times, cards_per_day=5)
    assert good_recall == 1.0 > fair_recall


def test_is_none_without_fraud():
    assert (
        recall_at_review_budget(
            [0, 0], [0.1, 0.2], card_ids=["a", "b"], occurred_at=[DAY] * 2, cards_per_day=1
        )
        is None
    )


def test_the_gate_s_budget_follows_the_bank_s_capacity_in_cards_or_as_an_alert_rate():
    from detection.lifecycle.retraining import review_budget_cards
    from detection.ml.options import LearningOptions

    times = pd.to_datetime(["2026-01-05 10:00"] * 500 + ["2026-01-06 10:00"] * 500, utc=True)
    frame = pd.DataFrame({"occurred_at": times})
    assert review_budget_cards(LearningOptions(review_cards_per_day=40), frame) == 40
    # 1 % of 500 payments a day.
    assert review_budget_cards(LearningOptions(review_alert_rate=0.01), frame) == 5
    assert review_budget_cards(LearningOptions(review_alert_rate=0.0001), frame) == 1
