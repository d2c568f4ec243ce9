"""Backtest throughput: a month of ~1M simulated transactions (plus the 37 days of look-back the
features need) replayed under the configuration in force (a champion, a velocity rule, an amount
rule, a block-list entry) and a candidate rule, with the report; rows a second and peak memory.

    .venv/bin/python bench/bench_backtest.py [--cards 15600] [--days 30] [--database]

By default the engine runs on the canonical frame in memory (`detection.lifecycle.backtest.backtest`
with the frame as its history). With --database, the whole backtest runs as the worker runs it
(`backtest_stored`): the rows imported once into SQLite, read back with production's decisions,
then the engine. The simulated frame and database are kept under var/bench/ for the next run.
"""

import argparse
import json
import os
import platform
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench"
MODEL_FILE = BENCH_DIR / "backtest_model.joblib"
START = datetime(2025, 3, 1, tzinfo=UTC)
LOOK_BACK_DAYS = 38  # 30 days of features + the 7-day label delay + a day of velocity windows


def _django():
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    os.environ["DATABASE_URL"] = (
        f"sqlite:///{BENCH_DIR / os.environ.get('BENCH_DB_NAME', 'backtest.sqlite3')}"
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fraudsite.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-" + "k" * 40)
    os.environ.setdefault("CARD_FINGERPRINT_KEY", "bench-only-fingerprint-key")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.DETECTION_MODELS_DIR = BENCH_DIR / "models"
    call_command("migrate", verbosity=0)


def _frame(cards, days):
    import pandas as pd

    from detection.dataset import canonical_frame
    from detection.ml.simulator import simulate

    path = BENCH_DIR / f"backtest_{cards}_{days}.parquet"
    if not path.exists():
        frame = simulate(
            customers=cards, merchants=cards // 2, days=days + LOOK_BACK_DAYS, seed=11, start=START
        )
        canonical_frame(frame, label_delay=timedelta(days=7)).to_parquet(path)
    return pd.read_parquet(path)


def _configuration():
    import joblib

    from detection import services
    from detection.ml import training
    from detection.ml.options import LearningOptions
    from detection.ml.simulator import simulate
    from detection.models import ListEntry, ModelVersion, Rule

    if not ModelVersion.objects.filter(status="champion").exists():
        if MODEL_FILE.exists():
            result = joblib.load(MODEL_FILE)
        else:
            t0 = START - timedelta(days=60)
            frame = simulate(customers=1000, merchants=500, days=30, seed=5, start=t0)
            result = training.train(
                frame,
                train_start=t0,
                train_end=t0 + timedelta(days=9),
                algorithms=("hist_gradient_boosting",),
                options=LearningOptions(),
            )
            joblib.dump(result, MODEL_FILE)
        services.register(result, promote="force")
    if not Rule.objects.exists():
        services.rule_create(
            actor=None, name="Fast card", kind="velocity", action="block", max_count=6, window_minutes=60
        )
        services.rule_create(
            actor=None, name="Big", kind="amount_above", action="review", amount=3000, order=200
        )
    if not ListEntry.objects.exists():
        services.list_entry_add(list_type="block", kind="merchant_id", value="M000007", actor=None)


def _database_backtest(cards, days):
    """The whole backtest as the worker runs it (`backtest_stored`): the history and production's
    decisions read out of the database, then the engine; seconds of each stage."""
    from detection.lifecycle import backtest
    from detection.ml.simulator import write_csv
    from transactions.importing import transactions_import
    from transactions.models import Transaction

    if not Transaction.objects.exists():
        frame = _frame(cards, days)
        path = BENCH_DIR / f"backtest_{cards}_{days}.csv"
        write_csv(frame, path)
        del frame
        began = time.perf_counter()
        transactions_import(path=path, progress=False)
        print(f"imported {Transaction.objects.count():,} rows in {time.perf_counter() - began:.1f} s")
    _configuration()
    start = START + timedelta(days=LOOK_BACK_DAYS)
    end = start + timedelta(days=days)
    stages = Stages()
    outcome = backtest.backtest_stored(
        start=start, end=end, change=CANDIDATE, as_of=end + timedelta(days=30), progress=stages
    )
    _print_summary(outcome, stages)


CANDIDATE = {"rule": {"kind": "amount_above", "amount": 1500, "action": "block", "order": 150}}


class Stages:
    """The backtest's progress callback: wall-clock and CPU seconds (this process's, every
    thread) at each stage it reports: on a shared machine the CPU seconds are the steadier
    figure."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        self.seen = []

    def __call__(self, percent, stage):
        self.seen.append(
            {"wall_s": round(self.seconds(), 2), "cpu_s": round(self.cpu_seconds(), 2), "percent": percent}
            | {"stage": str(stage)}
        )

    def seconds(self):
        return time.perf_counter() - self.wall

    def cpu_seconds(self):
        return time.process_time() - self.cpu


def _print_summary(outcome, stages, **extra):
    period_rows = outcome.report["transactions"]
    seconds = stages.seconds()
    summary = {
        **extra,
        "period_rows": period_rows,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(stages.cpu_seconds(), 1),
        "rows_per_second": round(period_rows / seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "stages": stages.seen,
        "changes": outcome.report["changes"]["count"],
        "baseline_alerts_per_day": outcome.report["baseline"]["alerts_per_day"],
        "candidate_alerts_per_day": outcome.report["candidate"]["alerts_per_day"],
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python {platform.python_version()}",
        "load": os.getloadavg(),
    }
    print(json.dumps(summary, indent=1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cards", type=int, default=15_600, help="~2.1 transactions a card a day")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--database",
        action="store_true",
        help="The whole backtest as the worker runs it, reading the history and production's "
        "decisions out of the database (the simulated rows are imported first, once, into "
        "var/bench/backtest_db_CARDS_DAYS.sqlite3).",
    )
    args = parser.parse_args()
    if args.database:
        os.environ["BENCH_DB_NAME"] = f"backtest_db_{args.cards}_{args.days}.sqlite3"
        _django()
        _database_backtest(args.cards, args.days)
        return
    _django()
    from detection.lifecycle import backtest

    t0 = time.perf_counter()
    frame = _frame(args.cards, args.days)
    _configuration()
    prepared = time.perf_counter() - t0
    start = START + timedelta(days=LOOK_BACK_DAYS)
    end = start + timedelta(days=args.days)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stages = Stages()
    outcome = backtest.backtest(
        start=start,
        end=end,
        change=CANDIDATE,
        history=lambda **bounds: frame[
            (frame["occurred_at"] >= bounds["start"]) & (frame["occurred_at"] < bounds["end"])
        ],
        decisions=None,
        label_delay=timedelta(days=7),
        as_of=end + timedelta(days=30),
        progress=stages,
    )
    _print_summary(
        outcome,
        stages,
        history_rows=len(frame),
        rss_before_mb=round(rss_before),
        prepare_seconds=round(prepared, 1),
    )


if __name__ == "__main__":
    main()
