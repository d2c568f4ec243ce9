"""The figures behind the monitoring dashboards: model versions side by side, and the traffic.

Model figures come from the registry (what training measured). Traffic figures come from the
traffic source (`conf.traffic_source_path`, which lives with the tables).

Score drift: the population stability index (PSI) compares the champion's scores on recent
traffic with its scores on the held-out period of its training data. That reference
distribution is rebuilt from the ROC curve training stored (at each threshold t, the share of
scores >= t is (TPR·P + FPR·N) / (P + N)), so no extra data has to be kept per version.
PSI above 0.2 is the usual sign that the traffic moved away from what the model learned on.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from django.utils import timezone

from detection.contracts import Decision
from detection.lifecycle.retraining import traffic
from detection.models import ModelVersion, RetrainingRun

PSI_WARNING = 0.2
# Fixed score bins, fine near 0 where most legitimate traffic lies.
SCORE_EDGES = np.array([0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0000001])
MIN_RECENT_SCORES = 30
# The decisions that flag a transaction: the dashboard follows their precision.
FLAGGED = (Decision.REVIEW.value, Decision.BLOCK.value)
METRIC_ROWS = (
    "average_precision",
    "roc_auc",
    "card_precision_at_k",
    "precision",
    "recall",
    "f1",
    "accuracy",
    "n",
    "n_fraud",
)


def metrics_period(version: ModelVersion) -> str | None:
    for period in ("test", "validation"):
        if version.metrics.get(period):
            return period
    return None


def version_report(version: ModelVersion) -> dict:
    """Everything the per-version dashboard shows about one model version."""
    period = metrics_period(version)
    metrics = (version.metrics.get(period) or {}) if period else {}
    block = metrics.get("block") or {}
    importances = sorted((version.importances or {}).items(), key=lambda kv: kv[1], reverse=True)
    return {
        "version": version,
        "period": period,
        "metrics": [(name, metrics.get(name)) for name in METRIC_ROWS],
        "k": metrics.get("k"),
        "thresholds": version.thresholds or {},
        "confusion_review": metrics.get("confusion_matrix"),
        "confusion_block": block.get("confusion_matrix"),
        "block_precision": block.get("precision"),
        "block_recall": block.get("recall"),
        "curves": (version.curves or {}).get(period) or {},
        "importances": importances,
    }


def champion_and_challenger() -> dict:
    """The champion, the latest challenger (the newest version that is not the champion), and
    the latest retraining run's gate figures."""
    champion = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()
    challengers = ModelVersion.objects.exclude(status=ModelVersion.Status.CHAMPION).order_by(
        "-created_at", "-id"
    )
    challenger = challengers.first()
    last_run = RetrainingRun.objects.exclude(status=RetrainingRun.Status.QUEUED).first()
    return {
        "champion": version_report(champion) if champion else None,
        "challenger": version_report(challenger) if challenger else None,
        "last_run": last_run,
    }


# --- drift ------------------------------------------------------------------------------------


def reference_shares(version: ModelVersion, edges=SCORE_EDGES) -> np.ndarray | None:
    """Share of the version's held-out scores in each bin, from its stored ROC curve."""
    period = metrics_period(version)
    if period is None:
        return None
    metrics = version.metrics[period]
    roc = ((version.curves or {}).get(period) or {}).get("roc") or {}
    cm = metrics.get("confusion_matrix") or {}
    if not roc.get("thresholds") or not cm:
        return None
    positives, negatives = cm["tp"] + cm["fn"], cm["tn"] + cm["fp"]
    if positives + negatives == 0:
        return None
    t = np.asarray(roc["thresholds"], dtype=float)
    exceed = (np.asarray(roc["tpr"]) * positives + np.asarray(roc["fpr"]) * negatives) / (
        positives + negatives
    )
    order = np.argsort(t)  # interpolate over increasing thresholds
    t, exceed = t[order], exceed[order]
    # Share of scores >= each edge; nothing reaches above 1, everything reaches 0.
    at_edges = np.interp(edges, t, exceed, left=1.0, right=0.0)
    at_edges[0] = 1.0
    at_edges[-1] = 0.0
    shares = np.clip(-np.diff(at_edges), 0.0, None)
    total = shares.sum()
    return shares / total if total > 0 else None


def recent_shares(scores, edges=SCORE_EDGES) -> np.ndarray:
    counts, _ = np.histogram(np.clip(np.asarray(scores, dtype=float), 0.0, 1.0), bins=edges)
    return counts / max(counts.sum(), 1)


def psi(expected: np.ndarray, actual: np.ndarray, floor=1e-4) -> float:
    e = np.clip(expected, floor, None)
    a = np.clip(actual, floor, None)
    return float(np.sum((a - e) * np.log(a / e)))


def score_drift(version: ModelVersion | None, *, days=7) -> dict:
    """Recent traffic's scores by `version` against its held-out scores: shares per bin and PSI."""
    out = {"edges": [*SCORE_EDGES[:-1].tolist(), 1.0], "psi": None, "warning": False, "recent_count": 0}
    if version is None:
        return out
    reference = reference_shares(version)
    scores = traffic().recent_scores(
        start=timezone.now() - timedelta(days=days), model_version=version.version
    )
    out["recent_count"] = len(scores)
    out["reference"] = None if reference is None else reference.tolist()
    if len(scores):
        out["recent"] = recent_shares(scores).tolist()
    if reference is not None and len(scores) >= MIN_RECENT_SCORES:
        out["psi"] = psi(reference, np.asarray(out["recent"]))
        out["warning"] = out["psi"] > PSI_WARNING
    return out


# --- traffic over time -------------------------------------------------------------------------


def _days(start, end):
    day, days = start, []
    while day <= end:
        days.append(day)
        day += timedelta(days=1)
    return days


# How long each waiting item has been in the queue, in hours: the buckets of the age histogram.
QUEUE_AGE_EDGES = [0, 1, 4, 12, 24, 48, 96, 24 * 7, float("inf")]


def traffic_series(*, days=30, champion: ModelVersion | None = None) -> dict:
    """Per-day series for the traffic dashboard (the last `days` days, today included) and the
    champion's score drift: the slow part, which the dashboard caches for a short while."""
    source = traffic()
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    start = timezone.make_aware(timezone.datetime.combine(first, timezone.datetime.min.time()))
    axis = _days(first, today)

    decisions = {name: [0] * len(axis) for name in Decision.values}
    index = {day: i for i, day in enumerate(axis)}
    for row in source.daily_decisions(start=start):
        if row["day"] in index and row["decision"] in decisions:
            decisions[row["decision"]][index[row["day"]]] = row["count"]

    reports = source.daily_reports(start=start)
    reported, confirmed = [0] * len(axis), [0] * len(axis)
    for row in reports["reported"]:
        if row["day"] in index:
            reported[index[row["day"]]] = row["count"]
    for row in reports["confirmed"]:
        if row["day"] in index:
            confirmed[index[row["day"]]] = row["count"]

    precision = {name: [None] * len(axis) for name in FLAGGED}
    labelled = {name: [0] * len(axis) for name in FLAGGED}
    for row in source.decision_outcomes(start=start):
        if row["day"] in index and row["labelled"]:
            precision[row["decision"]][index[row["day"]]] = row["frauds"] / row["labelled"]
            labelled[row["decision"]][index[row["day"]]] = row["labelled"]

    return {
        "days": axis,
        "decisions": decisions,
        "reported": reported,
        "confirmed": confirmed,
        "precision": precision,
        "labelled": labelled,
        "drift": score_drift(champion),
        "champion": champion,
        "computed_at": timezone.now(),
    }


def queue_report(*, now=None) -> dict:
    """The review queue now (always live: analysts act on it), counted as the queue page counts
    it: the traffic source reads the queue's own definition of when an item entered it."""
    source = traffic()
    now = now or timezone.now()
    queue = source.review_queue()
    ages_hours = sorted((now - since).total_seconds() / 3600 for since in source.queue_ages())
    counts = np.histogram(ages_hours, bins=QUEUE_AGE_EDGES)[0] if ages_hours else np.zeros(8, dtype=int)
    return {
        "queue": queue,
        "queue_size": queue["pending_review"] + queue["open_reports"],
        "queue_ages_hours": ages_hours,
        "queue_age_counts": [int(count) for count in counts],
        "queue_oldest_hours": ages_hours[-1] if ages_hours else None,
    }


def champion() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()
