"""Metrics and decision thresholds, as a fraud team reads them.

Everything here takes plain arrays (labels, scores, card ids, times) so training, evaluation and
the benchmarks share one definition of every number they report.
"""

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from detection.ml.options import REVIEW_BY_RATE
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


# One-sided 95 % confidence for the Wilson lower bound recorded with the block band.
WILSON_Z = 1.645

# Which rule set a band's threshold (recorded with the model: metrics["validation"]["bands"]).
BLOCK_BY_PRECISION = "precision"  # the lowest threshold keeping the precision on enough frauds
BLOCK_BY_TOP_SHARE = "top_share"  # fallback: the top share of validation scores
BLOCK_BY_NOTHING = "nothing"  # no validation rows at all
BLOCK_UNPROVEN = "unproven"  # not even the top scores are shown to be mostly fraud: block nothing
# The fallback blocks the top scores only if validation shows them to be fraud more often than not
# (the Wilson lower bound of their precision): declining good customers' payments on a hunch is
# worse than sending them to review.
FALLBACK_MIN_LOWER_BOUND = 0.5


def wilson_lower_bound(successes, trials, z=WILSON_Z):
    """Lower end of the Wilson score interval of a proportion (arrays or numbers); 0 without
    trials. Unlike successes/trials it says how little a handful of rows proves: 3 frauds out of
    3 flagged give 0.53, 30 out of 30 give 0.92."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        centre = p + z * z / (2 * n)
        spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        bound = (centre - spread) / (1 + z * z / n)
    return np.where(n > 0, np.clip(bound, 0.0, 1.0), 0.0)


def _nearest_cut(cut, count):
    """Of the cuts (index of the last row of each run of equal scores, descending scores), the one
    flagging the number of rows nearest `count` (the fewer on a tie): a threshold flags every row
    with an equal score, so a capacity can only be met to the nearest run of ties."""
    flagged = cut + 1
    return cut[np.argmin(np.abs(flagged - count) + (flagged > count) * 0.5)]


def _block_band(y, s, options):
    """(threshold, how it was chosen). The lowest threshold at which validation establishes the
    target precision: the precision of what it flags reaches the target *and* at least
    `block_min_frauds` of those are frauds, so a threshold resting on three lucky rows is never
    taken. Otherwise the threshold flagging the top `block_fallback_share` of validation scores
    (at least one row): reachable by construction, never out of reach of every score, but only
    when validation shows those to be mostly fraud (Wilson lower bound of their precision at
    least FALLBACK_MIN_LOWER_BOUND); else nothing is blocked and review takes them. The Wilson
    lower bound of the precision is recorded with each, to show how firm it is."""
    target = float(options.block_precision)
    record = {"precision_target": target, "min_frauds": int(options.block_min_frauds)}
    if y.size == 0:
        return BLOCK_NOTHING, record | {"rule": BLOCK_BY_NOTHING}
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    flagged = np.arange(1, y.size + 1)
    # Only cut where the score changes: a threshold flags every row with an equal score.
    cut = np.flatnonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True])
    precise = tp[cut] / flagged[cut] >= target
    established = np.flatnonzero(precise & (tp[cut] >= options.block_min_frauds))
    if established.size:
        at, rule = cut[established.max()], BLOCK_BY_PRECISION  # cuts descend: the last is the lowest
    else:
        top = max(1, round(float(options.block_fallback_share) * y.size))
        at, rule = _nearest_cut(cut, top), BLOCK_BY_TOP_SHARE
        record["top_share"] = float(options.block_fallback_share)
    n_flagged, n_frauds = int(flagged[at]), int(tp[at])
    lower = float(wilson_lower_bound(n_frauds, n_flagged))
    record |= {"flagged": n_flagged, "frauds": n_frauds, "precision": n_frauds / n_flagged}
    if rule == BLOCK_BY_TOP_SHARE and lower < FALLBACK_MIN_LOWER_BOUND:
        record |= {"min_lower_bound": FALLBACK_MIN_LOWER_BOUND}
        return BLOCK_NOTHING, record | {"rule": BLOCK_UNPROVEN, "precision_lower_bound": lower}
    return float(s_sorted[at]), record | {"rule": rule, "precision_lower_bound": lower}


def _top(values, count):
    """The threshold that flags about the `count` highest values (at least one run of ties)."""
    if values.size == 0:
        return BLOCK_NOTHING
    ranked = np.sort(values)[::-1]
    cut = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])
    return float(ranked[_nearest_cut(cut, count)])


def _review_band(s, card_ids, occurred_at, block, options):
    """(threshold, how it was chosen). The review band holds what reaches review but not block,
    sized to the bank's capacity: about `review_cards_per_day` cards a day (a card is held on a
    day when one of its payments that day is), or, with an alert rate, that share of all
    payments. Blocked payments are declined, not queued, so they take no capacity."""
    basis, target = options.review_capacity
    record = {"rule": basis, "target": target}
    below_block = s < block
    if basis == REVIEW_BY_RATE:
        threshold = _top(s[below_block], round(target * s.size))
    else:
        # A card-day counts by its highest score that is not blocked (-inf: all of it blocked).
        held_scores = np.where(below_block, s, -np.inf)
        per_card = _card_days(np.zeros(s.size, dtype=np.int8), held_scores, card_ids, occurred_at)
        n_days = per_card.index.get_level_values("day").nunique()
        maxima = per_card["score"].to_numpy()
        threshold = _top(maxima[np.isfinite(maxima)], round(target * n_days))
    threshold = min(threshold, block)
    held = int(np.sum(reaches(s, threshold) & below_block))
    return threshold, record | {"held": held, "held_share": held / s.size if s.size else 0.0}


def choose_bands(y_true, scores, *, card_ids, occurred_at, options) -> dict:
    """Decision thresholds from validation data and the rule that set each:
    {"thresholds": {"block": t, "review": t}, "rules": {"block": {...}, "review": {...}}}.

    *block* keeps the precision the bank asks for where validation can establish it, else the
    top share of scores (`_block_band`); *review* holds what the analysts can work, in cards a
    day or as an alert rate (`_review_band`). `options` are a deployment's `LearningOptions`.
    Review never sits above block: whatever is blocked would also have been worth a look.
    """
    y, s = _arrays(y_true, scores)
    block, block_rule = _block_band(y, s, options)
    if s.size == 0:
        return {
            "thresholds": {"block": BLOCK_NOTHING, "review": BLOCK_NOTHING},
            "rules": {"block": block_rule, "review": {"rule": options.review_capacity[0]}},
        }
    review, review_rule = _review_band(s, card_ids, occurred_at, block, options)
    return {
        "thresholds": {"block": block, "review": review},
        "rules": {"block": block_rule, "review": review_rule},
    }
