"""Metrics and decision thresholds, as a fraud team reads them.

Everything here takes plain arrays (labels, scores, card ids, times) so training, evaluation and
the benchmarks share one definition of every number they report.
"""

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from detection.ml.thresholds import BLOCK_NOTHING, normalise_thresholds, reaches

MAX_CURVE_POINTS = 200


def _arrays(y_true, scores):
    y = np.asarray(y_true, dtype=np.int8).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} values but scores has {s.size}.")
    return y, s


def _days(occurred_at):
    """Calendar day (UTC) of each time; naive values are UTC."""
    return pd.DatetimeIndex(pd.to_datetime(occurred_at, utc=True)).floor("D").to_numpy()


def _card_days(y, s, card_ids, occurred_at):
    """One row per (day, card): the card's highest score that day and whether it had a fraud."""
    frame = pd.DataFrame(
        {"day": _days(occurred_at), "card": np.asarray(card_ids).ravel(), "score": s, "fraud": y}
    )
    if len(frame) != len(y):
        raise ValueError("card_ids and occurred_at must have one value per score.")
    return frame.groupby(["day", "card"], sort=False, observed=True).agg(
        score=("score", "max"), fraud=("fraud", "max")
    )


def card_precision_at_k(y_true, scores, *, card_ids, occurred_at, k) -> float:
    """For each day, rank cards by their highest score that day, take the top k and count the
    share that had a fraud that day; the mean over days. The denominator is k, as in the
    published benchmark protocol, so a day with fewer than k cards cannot score 1."""
    k = int(k)
    y, s = _arrays(y_true, scores)
    if y.size == 0:
        return 0.0
    per_card = _card_days(y, s, card_ids, occurred_at).reset_index()
    per_card = per_card.sort_values(["day", "score"], ascending=[True, False], kind="stable")
    top = per_card[per_card.groupby("day", sort=False).cumcount() < k]
    per_day = top.groupby("day")["fraud"].sum() / k
    return float(per_day.mean())


def _at_threshold(y, s, threshold):
    flagged = reaches(s, threshold)
    tp = int(np.sum(flagged & (y == 1)))
    fp = int(np.sum(flagged & (y == 0)))
    fn = int(np.sum(~flagged & (y == 1)))
    tn = int(np.sum(~flagged & (y == 0)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "threshold": float(threshold),
        "accuracy": (tp + tn) / y.size if y.size else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "flagged": tp + fp,
        "confusion_matrix": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
    }


def _downsample(*columns, max_points=MAX_CURVE_POINTS):
    """Keep at most max_points evenly spaced points, always including both ends."""
    n = len(columns[0])
    if n <= max_points:
        index = np.arange(n)
    else:
        index = np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
    return [np.asarray(c, dtype=float)[index].round(6).tolist() for c in columns]


def curves(y_true, scores) -> dict:
    """Precision-recall and ROC curve points, at most MAX_CURVE_POINTS each (for charts)."""
    y, s = _arrays(y_true, scores)
    if y.size == 0 or y.min() == y.max():
        return {"pr": {}, "roc": {}}
    precision, recall, pr_thresholds = skm.precision_recall_curve(y, s)
    # precision/recall have one more point than thresholds (the end at recall 0).
    pr_thresholds = np.append(pr_thresholds, 1.0)
    fpr, tpr, roc_thresholds = skm.roc_curve(y, s, drop_intermediate=True)
    roc_thresholds = np.clip(roc_thresholds, 0.0, 1.0)  # sklearn puts +inf first
    p, r, t = _downsample(precision, recall, pr_thresholds)
    f, tp, rt = _downsample(fpr, tpr, roc_thresholds)
    return {
        "pr": {"precision": p, "recall": r, "thresholds": t},
        "roc": {"fpr": f, "tpr": tp, "thresholds": rt},
    }


def evaluate(y_true, scores, *, card_ids, occurred_at, thresholds, k, include_curves=True) -> dict:
    """Every metric of the design for one period.

    `thresholds` is {"review": t, "block": t} (a single number is used for both). Accuracy,
    precision, recall, F1 and the confusion matrix are at the review threshold (a transaction is
    flagged when score >= review); the same numbers at the block threshold are under "block".
    ROC AUC and average precision are None when the period holds a single class.
    """
    k = int(k)
    y, s = _arrays(y_true, scores)
    bands = normalise_thresholds(thresholds)
    two_classes = y.size > 0 and y.min() != y.max()
    review = _at_threshold(y, s, bands["review"])
    result = {
        "n": int(y.size),
        "n_fraud": int(y.sum()),
        "fraud_rate": float(y.mean()) if y.size else 0.0,
        "roc_auc": float(skm.roc_auc_score(y, s)) if two_classes else None,
        "average_precision": float(skm.average_precision_score(y, s)) if two_classes else None,
        "card_precision_at_k": card_precision_at_k(y, s, card_ids=card_ids, occurred_at=occurred_at, k=k),
        "k": k,
        "thresholds": bands,
        **{key: review[key] for key in ("accuracy", "precision", "recall", "f1", "flagged")},
        "confusion_matrix": review["confusion_matrix"],
        "block": _at_threshold(y, s, bands["block"]),
    }
    if include_curves:
        result["curves"] = curves(y, s)
    return result


def _block_threshold(y, s, target):
    """Lowest score t with precision(score >= t) >= target, i.e. the most fraud blocked while
    keeping the target precision; BLOCK_NOTHING when no threshold reaches it."""
    if y.size == 0 or y.sum() == 0:
        return BLOCK_NOTHING
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    flagged = np.arange(1, y.size + 1)
    # Only cut where the score changes: a threshold flags every row with an equal score.
    last_of_value = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    precision = tp[last_of_value] / flagged[last_of_value]
    candidates = s_sorted[last_of_value]
    ok = np.flatnonzero(precision >= target)
    if ok.size == 0:
        return BLOCK_NOTHING
    return float(candidates[ok.max()])  # candidates descend: the last one is the lowest


def _review_threshold(y, s, card_ids, occurred_at, cards_per_day):
    """Threshold at which, on average over the days, about `cards_per_day` cards are flagged
    (a card is flagged on a day when its highest score that day reaches the threshold)."""
    if y.size == 0:
        return BLOCK_NOTHING
    per_card = _card_days(y, s, card_ids, occurred_at)
    n_days = per_card.index.get_level_values("day").nunique()
    capacity = round(cards_per_day * n_days)
    maxima = np.sort(per_card["score"].to_numpy())[::-1]
    if capacity <= 0:
        return BLOCK_NOTHING
    if capacity >= maxima.size:
        return float(maxima[-1])
    return float(maxima[capacity - 1])


def choose_thresholds(
    y_true, scores, *, card_ids, occurred_at, block_precision, review_cards_per_day
) -> dict:
    """Decision thresholds from validation data: {"block": t, "review": t}.

    *block* is the lowest threshold whose precision stays at or above `block_precision`; *review*
    flags about `review_cards_per_day` cards a day (a deployment's values: its settings, see
    `LearningOptions`). Review never sits above block: whatever is blocked would also have been
    worth a look.
    """
    y, s = _arrays(y_true, scores)
    block = _block_threshold(y, s, float(block_precision))
    review = _review_threshold(y, s, card_ids, occurred_at, review_cards_per_day)
    return {"block": block, "review": min(review, block)}
