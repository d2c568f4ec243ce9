"""What the decision bands do on a small and a large simulated bank (figures in docs/model.md).

    .venv/bin/python bench/bands_by_portfolio.py [--sizes 1500,8000] [--window 42] [--rate 0.01]

For each portfolio size (as many merchants as cards): simulate enough days, train (time-honest
protocol, gradient boosting only, to keep the run short) on a `--window`-day window from
2025-01-08 (42 days: validation is its last week; 7 days: the benchmark's, validating on 2), then read the bands on the validation week
(where the thresholds were chosen) and on the test week after the label delay (new traffic):
the review threshold, the share of legitimate payments held for review, the cards and payments
held a day, the block threshold and the block band's precision and recall. Runs once with the
review band sized in cards a day (the default) and once by an alert rate (`--rate`). Pure
`detection.ml`: no Django, no database.
"""

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd

from detection.ml import training
from detection.ml.features import FEATURE_NAMES, compute_features_frame
from detection.ml.options import LearningOptions
from detection.ml.simulator import simulate

TRAIN_START = "2025-01-08"


def band_figures(frame, scores, fraud, thresholds):
    """What each band alone took: held for review = reaches review, not block."""
    review, block = thresholds["review"], thresholds["block"]
    held = (scores >= review) & (scores < block)
    blocked = scores >= block
    days = frame["occurred_at"].dt.floor("D").nunique()
    legit = ~fraud
    held_cards = frame.loc[held, ["card_id"]].assign(day=frame.loc[held, "occurred_at"].dt.floor("D"))
    return {
        "review_threshold": float(review),
        "legit_held_share": float(held[legit].mean()),
        "payments_held_share": float(held.mean()),
        "payments_held_per_day": float(held.sum() / days),
        "cards_held_per_day": float(len(held_cards.drop_duplicates()) / days),
        "review_precision": float(fraud[held].mean()) if held.any() else None,
        "block_threshold": float(block),
        "blocked_per_day": float(blocked.sum() / days),
        "block_precision": float(fraud[blocked].mean()) if blocked.any() else None,
        "block_recall": float((blocked & fraud).sum() / fraud.sum()) if fraud.any() else None,
    }


def run(customers, window, seed, options):
    train_end = pd.Timestamp(TRAIN_START) + pd.Timedelta(days=window)
    days = 7 + window + 7 + 7  # history for the features, the window, the label delay, the test week
    frame = simulate(customers=customers, merchants=customers, days=days, seed=seed)
    features = compute_features_frame(frame, label_delay=7)
    result = training.train(
        frame,
        train_start=TRAIN_START,
        train_end=train_end.strftime("%Y-%m-%d"),
        algorithms=["hist_gradient_boosting"],
        features=features,
        seed=seed,
        options=options,
    )
    times = pd.to_datetime(frame["occurred_at"], utc=True)
    out = {"customers": customers, "window": window, "rows": len(frame), "algorithm": result.algorithm}
    for period in ("validation", "test"):
        start, end = (pd.Timestamp(t) for t in result.periods[period])
        mask = ((times >= start) & (times < end)).to_numpy()
        part = frame[mask].assign(occurred_at=times[mask])
        scores = result.pipeline.predict_proba(features.loc[part.index, FEATURE_NAMES].to_numpy())[:, 1]
        out[period] = band_figures(part, scores, part["is_fraud"].to_numpy() == 1, result.thresholds)
        out[period]["frauds"] = int(part["is_fraud"].sum())
        out[period]["payments_per_day"] = float(mask.sum() / part["occurred_at"].dt.floor("D").nunique())
    out["rules"] = (result.metrics.get("validation") or {}).get("bands")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1500,8000")
    parser.add_argument("--window", type=int, default=42, help="days of the training window")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.01, help="alert rate of the second run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    by_cards = LearningOptions()
    fields = {f.name for f in dataclasses.fields(LearningOptions)}
    runs = {"cards_per_day": by_cards}
    if "review_alert_rate" in fields:
        runs["alert_rate"] = dataclasses.replace(by_cards, review_alert_rate=args.rate)
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        for name, options in runs.items():
            started = time.perf_counter()
            figures = run(size, args.window, args.seed, options) | {"sizing": name}
            figures["seconds"] = round(time.perf_counter() - started, 1)
            results.append(figures)
            print(json.dumps(figures) if args.json else _line(figures), flush=True)


def _line(f):
    parts = [f"{f['customers']} cards ({f['rows']} rows, {f['window']}-day window), review by {f['sizing']}:"]
    for period in ("validation", "test"):
        p = f[period]
        parts.append(
            f"  {period}: {p['payments_per_day']:.0f} payments/day, {p['frauds']} frauds; review ≥ "
            f"{p['review_threshold']:.5f}, legit held {100 * p['legit_held_share']:.2f} %, "
            f"held {p['payments_held_per_day']:.1f} payments / {p['cards_held_per_day']:.1f} cards a day "
            f"(precision {_n(p['review_precision'])}); block ≥ {p['block_threshold']:.5f}, "
            f"{p['blocked_per_day']:.1f} a day, precision {_n(p['block_precision'])}, recall {_n(p['block_recall'])}"
        )
    parts.append(f"  rules: {json.dumps(f['rules'])}  ({f['seconds']} s)")
    return "\n".join(parts)


def _n(value):
    return "—" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
