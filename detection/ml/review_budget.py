"""Recall at the review budget: the share of fraud an analyst team with a daily capacity of
`cards_per_day` cards would find, if it checked each day the cards a model ranks highest.

Card precision@k divides by k, so when a bank has fewer fraudulent cards a day than k every
model scores about the same (the best possible value is frauds/k); this recall divides by the
frauds, so it separates models at any bank size.
"""

import numpy as np
import pandas as pd


def recall_at_review_budget(y_true, scores, *, card_ids, occurred_at, cards_per_day) -> float | None:
    """Each day, rank cards by their highest score that day and review the top `cards_per_day`;
    the share of (day, card) pairs with a fraud that fall in the reviewed cards. Cards tied at the
    day's cut count for the share of them that fits (what a random pick among them would catch),
    so a model that scores everything alike gets no credit for the order of the rows. None when
    there is no fraud."""
    y = np.asarray(y_true, dtype=np.int8).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.sum() == 0:
        return None
    day = pd.DatetimeIndex(pd.to_datetime(occurred_at, utc=True)).floor("D").to_numpy()
    per_card = (
        pd.DataFrame({"day": day, "card": np.asarray(card_ids).ravel(), "score": s, "fraud": y})
        .groupby(["day", "card"], sort=False, observed=True)
        .agg(score=("score", "max"), fraud=("fraud", "max"))
    )
    budget = int(cards_per_day)
    if budget <= 0:
        return 0.0
    caught = 0.0
    for _, cards in per_card.groupby(level="day", sort=False):
        card_scores, card_fraud = cards["score"].to_numpy(), cards["fraud"].to_numpy()
        if budget >= card_scores.size:
            caught += card_fraud.sum()
            continue
        cut = np.sort(card_scores)[::-1][budget - 1]
        above, tied = card_scores > cut, card_scores == cut
        share_of_tied = (budget - above.sum()) / tied.sum()
        caught += card_fraud[above].sum() + share_of_tied * card_fraud[tied].sum()
    return float(caught / per_card["fraud"].sum())
