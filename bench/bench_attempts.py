"""Benchmark: the 7/7/7 protocol on our simulator, with and without the attempt features.

    .venv/bin/python bench/bench_attempts.py [--customers 5000] [--merchants 10000] [--seeds 1 2]

For each seed, ~63 days of traffic at the handbook's scale (5,000 cards, 10,000 terminals,
~10,000 transactions a day) are simulated, declined attempts included. For each of two test
weeks, the product's training (`detection.ml.training.train`, as `train_model` runs it) learns
from a 7-day window [S, S + 7), with labels known at S + 14, and its registered model is judged
on [S + 14, S + 21) with true labels:

* **with** — the history as the bank recorded it: declined attempts are attempts (their own
  velocity features), the card's habits are built from its charges;
* **without** — the same rows with the ``declined`` column dropped: every attempt reads as a
  charge and the attempt features are all zero, which is what the features did before they told
  the two apart.

Prints a Markdown table (recorded in docs/model.md and docs/benchmarks.md) and a JSON summary.
"""

import argparse
import json
import os
import platform
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fraudsite.test_settings")

import django

django.setup()

from detection.ml import simulator, training  # noqa: E402
from detection.ml.features import compute_features_frame  # noqa: E402
from detection.ml.options import LearningOptions  # noqa: E402

METRICS = ("roc_auc", "average_precision", "card_precision_at_k")
DAYS = 63  # 35 days of history before the first window (the features look back 37 days at most)


def one_run(frame, train_start, *, with_attempts):
    data = frame if with_attempts else frame.drop(columns="declined")
    started = time.perf_counter()
    features = compute_features_frame(data, label_delay=timedelta(days=7))
    result = training.train(
        data,
        features=features,
        train_start=train_start,
        train_end=train_start + timedelta(days=7),
        test_days=7,
        options=LearningOptions(),
    )
    test = result.metrics["test"]
    return {
        "chosen": result.algorithm,
        **{m: round(float(test[m]), 4) for m in METRICS},
        "test_frauds": int(test["n_fraud"]),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--merchants", type=int, default=10000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")
    args = parser.parse_args()

    runs = []
    for seed in args.seeds:
        frame = simulator.simulate(customers=args.customers, merchants=args.merchants, days=DAYS, seed=seed)
        start = frame["occurred_at"].min().normalize()
        for offset in (35, 42):  # two test weeks: days 49-56 and 56-63
            train_start = start + timedelta(days=offset)
            row = {"seed": seed, "train_start": train_start.date().isoformat(), "rows": len(frame)}
            for with_attempts in (False, True):
                row["with" if with_attempts else "without"] = one_run(
                    frame, train_start, with_attempts=with_attempts
                )
            runs.append(row)
            if not args.json:
                print(json.dumps(row), flush=True)

    summary = {
        "runs": runs,
        "mean": {
            variant: {m: round(sum(r[variant][m] for r in runs) / len(runs), 4) for m in METRICS}
            for variant in ("without", "with")
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    }
    if not args.json:
        print(
            "\n| seed | S | without: ROC AUC / AP / card precision@100 | with: ROC AUC / AP / card precision@100 |"
        )
        print("|---|---|---|---|")
        for r in runs:
            cells = [" / ".join(f"{r[v][m]:.3f}" for m in METRICS) for v in ("without", "with")]
            print(f"| {r['seed']} | {r['train_start']} | {cells[0]} | {cells[1]} |")
        cells = [" / ".join(f"{summary['mean'][v][m]:.3f}" for m in METRICS) for v in ("without", "with")]
        print(f"| mean | | {cells[0]} | {cells[1]} |")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
