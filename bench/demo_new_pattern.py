"""Demo of the learning loop: a new fraud pattern appears, the champion misses it, reports
arrive, retraining runs through the champion/challenger gate, the new champion catches it.

    .venv/bin/python bench/demo_new_pattern.py [--customers 2000] [--days 70] [--pattern-day 35]

1. Simulate `--days` days of traffic in which ``atm_cashout`` (night-time round ATM
   withdrawals, off by default in the simulator) starts on `--pattern-day`.
2. The champion is trained (time-honest protocol) on the days before the pattern existed.
3. Customers report the ATM frauds (the simulator's reporting delays: hours to days).
4. At the end of the period, `detection.lifecycle.retraining.challenge` trains a challenger on all labelled
   history and scores challenger and champion on the same last days; the gate decides.
5. Recall on the new pattern in those last days, before (champion) and after (challenger), at
   each model's own review and block thresholds, plus the gate's figures.

Prints a Markdown table (figures recorded in docs/model.md) and, with --json, a JSON summary.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fraudsite.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")

import django

django.setup()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from detection.dataset import canonical_frame  # noqa: E402
from detection.lifecycle import retraining  # noqa: E402
from detection.ml.features import FEATURE_NAMES  # noqa: E402
from detection.ml.simulator import CANONICAL_COLUMNS, simulate  # noqa: E402
from detection.models import ModelVersion  # noqa: E402
from detection.serving.registry import LoadedModel  # noqa: E402

PATTERN = "atm_cashout"


def recall(scores, is_pattern, threshold):
    hits = scores[is_pattern] >= threshold
    return float(hits.mean()) if hits.size else float("nan")


def run(*, customers, merchants, days, pattern_day, rate, seed, algorithms):
    started = time.perf_counter()
    frame = simulate(
        customers=customers,
        merchants=merchants,
        days=days,
        seed=seed,
        patterns={PATTERN: {"start_day": pattern_day, "rate": rate}},
    )
    frame = frame.reset_index(drop=True)
    pattern = frame["fraud_pattern"].astype(str).to_numpy()
    canonical = canonical_frame(frame[CANONICAL_COLUMNS])
    times = canonical["occurred_at"]
    pattern_start = times.min().floor("D") + pd.Timedelta(days=pattern_day)

    # The champion: trained when the pattern did not exist yet, on what was known then.
    before = canonical[times < pattern_start]
    champion_run = retraining.challenge(before, champion=None, known_by=pattern_start, algorithms=algorithms)
    champion = LoadedModel(
        version=ModelVersion(
            version="champion",
            algorithm=champion_run.result.algorithm,
            feature_names=FEATURE_NAMES,
            thresholds=champion_run.result.thresholds,
        ),
        pipeline=champion_run.result.pipeline,
    )

    # Retraining at the end, with every report known by then.
    end = times.max()
    challenge = retraining.challenge(canonical, champion=champion, known_by=end, algorithms=algorithms)
    rows = challenge.evaluation_rows
    in_eval = pattern[rows] == PATTERN
    figures = {
        "rows": len(frame),
        "frauds": int(frame["is_fraud"].sum()),
        "pattern_frauds": int((pattern == PATTERN).sum()),
        "pattern_frauds_in_training": int(
            ((pattern == PATTERN) & (times < pd.Timestamp(challenge.periods["train"][1])).to_numpy()).sum()
        ),
        "pattern_frauds_evaluated": int(in_eval.sum()),
        "evaluation_period": [p.isoformat()[:10] for p in challenge.periods["test"]],
        "champion": {
            "algorithm": champion.version.algorithm,
            "thresholds": champion.thresholds,
            **{k: challenge.champion.get(k) for k in ("average_precision", "card_precision_at_k", "recall")},
        },
        "challenger": {
            "algorithm": challenge.result.algorithm,
            "thresholds": challenge.result.thresholds,
            **{
                k: challenge.challenger.get(k) for k in ("average_precision", "card_precision_at_k", "recall")
            },
        },
        "gate": {"promoted": challenge.passed, "reason": challenge.reason},
    }
    for who, thresholds in (("champion", champion.thresholds), ("challenger", challenge.result.thresholds)):
        scores = challenge.scores[who]
        figures[who]["pattern_recall_review"] = recall(scores, in_eval, thresholds["review"])
        figures[who]["pattern_recall_block"] = recall(scores, in_eval, thresholds["block"])
        figures[who]["pattern_mean_score"] = float(np.mean(scores[in_eval])) if in_eval.any() else None
    figures["seconds"] = round(time.perf_counter() - started, 1)
    return figures


def markdown(f, args):
    def n(v):
        return "n/a" if v is None else f"{v:.3f}"

    c, h = f["champion"], f["challenger"]
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((line.split(":", 1)[1].strip() for line in cpu.splitlines() if "Model name" in line), "?")
    return "\n".join(
        [
            f"Simulated {args.customers} cards, {args.merchants} terminals, {args.days} days (seed {args.seed}); "
            f"`{PATTERN}` from day {args.pattern_day} at rate {args.rate}: {f['rows']} transactions, "
            f"{f['frauds']} frauds, {f['pattern_frauds']} of the new pattern "
            f"({f['pattern_frauds_in_training']} in the challenger's training period, "
            f"{f['pattern_frauds_evaluated']} in the evaluation period {f['evaluation_period'][0]} – "
            f"{f['evaluation_period'][1]}).",
            "",
            "| on the evaluation period | champion (before) | challenger (after) |",
            "|---|---|---|",
            f"| algorithm | {c['algorithm']} | {h['algorithm']} |",
            f"| recall on `{PATTERN}`, review threshold | {n(c['pattern_recall_review'])} | {n(h['pattern_recall_review'])} |",
            f"| recall on `{PATTERN}`, block threshold | {n(c['pattern_recall_block'])} | {n(h['pattern_recall_block'])} |",
            f"| mean score of `{PATTERN}` frauds | {n(c['pattern_mean_score'])} | {n(h['pattern_mean_score'])} |",
            f"| average precision (all fraud) | {n(c['average_precision'])} | {n(h['average_precision'])} |",
            f"| card precision@k (all fraud) | {n(c['card_precision_at_k'])} | {n(h['card_precision_at_k'])} |",
            f"| recall, review threshold (all fraud) | {n(c['recall'])} | {n(h['recall'])} |",
            "",
            f"Gate: {'promoted' if f['gate']['promoted'] else 'kept the champion'} — {f['gate']['reason']}",
            "",
            f"Machine: {os.cpu_count()} cores (`nproc`), {model}, Python {platform.python_version()}; "
            f"{f['seconds']} s in all (two trainings).",
        ]
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--merchants", type=int, default=1000)
    parser.add_argument("--days", type=int, default=70)
    parser.add_argument("--pattern-day", type=int, default=35)
    parser.add_argument("--rate", type=float, default=15.0, help="new cases per 10,000 cards per day")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--algorithm", action="append", help="candidate(s) (default: all)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.pattern_day + 22 > args.days:
        parser.error(
            "--days must leave at least 22 days after --pattern-day (label delay, validation, evaluation)."
        )
    figures = run(
        customers=args.customers,
        merchants=args.merchants,
        days=args.days,
        pattern_day=args.pattern_day,
        rate=args.rate,
        seed=args.seed,
        algorithms=args.algorithm,
    )
    print(json.dumps(figures, indent=2, default=str) if args.json else markdown(figures, args))


if __name__ == "__main__":
    main()
