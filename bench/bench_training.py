"""Benchmark: simulate 180 days × ~10,000 transactions/day (5,000 cards), compute the features
and train the three candidates. Prints the wall time of each stage and the peak memory.

Run: .venv/bin/python bench/bench_training.py [--days 180] [--customers 5000] [--merchants 5000]
Target (issue 3): features + training < 90 s and < 4 GB on a 2-core machine.
"""

import argparse
import json
import os
import resource
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


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--merchants", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    stages = {}
    started = time.perf_counter()
    frame = simulator.simulate(
        customers=args.customers, merchants=args.merchants, days=args.days, seed=args.seed
    )
    stages["simulate"] = time.perf_counter() - started
    start = frame["occurred_at"].min().normalize()
    print(
        f"simulated {len(frame):,} transactions ({len(frame) / args.days:,.0f}/day, "
        f"fraud {frame['is_fraud'].mean():.2%}) in {stages['simulate']:.1f} s; peak {peak_mb():,.0f} MB"
    )

    started = time.perf_counter()
    features = compute_features_frame(frame, label_delay=timedelta(days=7))
    stages["features"] = time.perf_counter() - started
    print(f"features for every row in {stages['features']:.1f} s; peak {peak_mb():,.0f} MB")

    # Train on everything after a 30-day warm-up up to 14 days before the end (label delay, then a
    # 7-day test); validation is the window's last 7 days, after a 7-day gap inside it.
    train_start = start + timedelta(days=min(30, (args.days - 21) // 2))
    train_end = start + timedelta(days=args.days - 14)
    started = time.perf_counter()
    result = training.train(
        frame, features=features, train_start=train_start, train_end=train_end, options=LearningOptions()
    )
    stages["training"] = time.perf_counter() - started
    print(
        f"training ({', '.join(f'{k} {v["fit_seconds"]:.1f} s' for k, v in result.comparison.items())}; "
        f"refit {result.seconds.get('refit', 0):.1f} s; importances {result.seconds.get('importances', 0):.1f} s) "
        f"in {stages['training']:.1f} s; "
        f"peak {peak_mb():,.0f} MB"
    )
    total = stages["features"] + stages["training"]
    summary = {
        "rows": len(frame),
        "rows_per_day": round(len(frame) / args.days),
        "fraud_rate": round(float(frame["is_fraud"].mean()), 5),
        "training_rows": result.training_rows,
        "periods": result.summary()["periods"],
        "training_seconds": result.seconds,
        "seconds": {k: round(v, 1) for k, v in stages.items()},
        "features_plus_training_seconds": round(total, 1),
        "peak_memory_mb": round(peak_mb()),
        "chosen": result.algorithm,
        "test": {
            name: {
                m: round(entry["test"][m], 4) for m in ("roc_auc", "average_precision", "card_precision_at_k")
            }
            for name, entry in result.comparison.items()
            if entry["test"]
        },
        "cpus": os.cpu_count(),
    }
    print(json.dumps(summary, indent=2))
    print(
        f"features + training: {total:.1f} s (target < 90 s); peak memory {peak_mb():,.0f} MB (target < 4,096 MB)"
    )


if __name__ == "__main__":
    main()
