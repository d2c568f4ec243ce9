"""Online decide() latency with 10,000 vs 1,000,000 transactions in the database.

The two databases hold exactly the same recent history for the cards and merchants that are
decided (a small population over 30 days, about 10,000 transactions); the large one adds
~990,000 transactions of other cards and merchants over a longer past. So the ratio of the
two latencies shows whether the cost follows the window (it should) or the history.

Also measured: loading the model once per process (the registry's cached champion) versus
loading (and verifying) the artifact on every call, as the seed of this project did.

    .venv/bin/python bench/bench_decide.py [--postgres postgres://postgres@127.0.0.1:5432/x] [--calls 2000]

SQLite files and the model go under var/bench/; with --postgres, two databases named
sentinel_bench_decide_10k / _1m are created on that server (dropped and rebuilt with --rebuild).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench"
MODEL_FILE = BENCH_DIR / "decide_model.joblib"
SMALL_CUSTOMERS, SMALL_MERCHANTS, SMALL_DAYS = 150, 80, 30
BIG_CUSTOMERS, BIG_MERCHANTS, BIG_DAYS = 5000, 2000, 100
START = datetime(2025, 6, 1, tzinfo=UTC)  # first day of the decided cards' history


def _django(db_url):
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fraudsite.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-" + "k" * 40)
    os.environ.setdefault("CARD_FINGERPRINT_KEY", "bench-only-fingerprint-key")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    settings.DETECTION_MODELS_DIR = BENCH_DIR / "models"


def _small_history():
    from detection.ml.simulator import simulate

    # One extra day: its transactions are the ones decided (not stored).
    frame = simulate(
        customers=SMALL_CUSTOMERS, merchants=SMALL_MERCHANTS, days=SMALL_DAYS + 1, seed=11, start=START
    )
    cut = START + timedelta(days=SMALL_DAYS)
    return frame[frame["occurred_at"] < cut], frame[frame["occurred_at"] >= cut]


def _big_history(rows):
    from detection.ml.simulator import simulate

    frame = simulate(
        customers=BIG_CUSTOMERS,
        merchants=BIG_MERCHANTS,
        days=BIG_DAYS,
        seed=12,
        start=START - timedelta(days=BIG_DAYS - SMALL_DAYS),
    )
    for column in ("transaction_id", "card_id", "merchant_id"):
        frame[column] = "B" + frame[column].astype(str)
    return frame.iloc[-rows:] if rows < len(frame) else frame


def _insert(frame):
    """Cards, merchants and transactions with plain executemany: the ORM would take minutes."""
    from decimal import Decimal

    import numpy as np
    from django.db import connection, transaction
    from tqdm import tqdm

    from transactions.models import Card, Merchant, Transaction

    now = datetime.now(UTC)
    with transaction.atomic():
        Card.objects.bulk_create(
            [Card(external_id=c) for c in frame["card_id"].unique()], batch_size=5000, ignore_conflicts=True
        )
        merchants = frame.drop_duplicates("merchant_id")
        Merchant.objects.bulk_create(
            [
                Merchant(external_id=m, category=c, country=k)
                for m, c, k in zip(
                    merchants["merchant_id"],
                    merchants["merchant_category"],
                    merchants["country"],
                    strict=True,
                )
            ],
            batch_size=5000,
            ignore_conflicts=True,
        )
    card_ids = dict(Card.objects.values_list("external_id", "id"))
    merchant_ids = dict(Merchant.objects.values_list("external_id", "id"))
    sqlite = connection.vendor == "sqlite"

    def when(series):
        if sqlite:  # how Django stores aware datetimes in SQLite: naive UTC text
            return series.dt.tz_convert("UTC").dt.strftime("%Y-%m-%d %H:%M:%S.%f").tolist()
        return series.dt.to_pydatetime().tolist()

    table = Transaction._meta.db_table
    columns = [
        "external_id", "card_id", "merchant_id", "amount", "currency", "occurred_at", "channel",
        "country", "decision", "model_version", "model_fallback_from", "decided_by", "rule_hits",
        "reasons", "features", "status", "is_fraud", "label_known_at", "label_source", "created_at",
    ]  # fmt: skip
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608 (our own table and column names)
    chunk = 50_000
    with tqdm(total=len(frame), desc="insert", unit="tx", file=sys.stderr) as bar:
        for start in range(0, len(frame), chunk):
            part = frame.iloc[start : start + chunk]
            fraud = part["is_fraud"].astype("boolean").astype(object).where(part["is_fraud"].notna(), None)
            known = when(part["label_known_at"])
            rows = zip(
                part["transaction_id"],
                part["card_id"].map(card_ids),
                part["merchant_id"].map(merchant_ids),
                [Decimal(f"{a:.2f}") for a in part["amount"]],
                part["currency"].str[:3],
                when(part["occurred_at"]),
                part["channel"],
                part["country"],
                *[[value] * len(part) for value in ("", "", "", "")],
                *[[value] * len(part) for value in ("[]", "[]", "{}")],
                ["approved"] * len(part),
                fraud.tolist(),
                [None if (isinstance(k, float) and np.isnan(k)) else k for k in known],
                ["import"] * len(part),
                [now if not sqlite else now.strftime("%Y-%m-%d %H:%M:%S.%f")] * len(part),
                strict=True,
            )
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(sql, list(rows))
            bar.update(len(part))
    # Statistics (and, on PostgreSQL, the visibility map that index-only scans need), as
    # autovacuum keeps them on a live database.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if sqlite else "VACUUM ANALYZE")


def _train_model():
    """A real champion-like model (histogram gradient boosting) on 30 simulated days."""
    import joblib

    from detection.ml import training
    from detection.ml.options import LearningOptions
    from detection.ml.simulator import simulate

    frame = simulate(customers=1000, merchants=500, days=30, seed=5, start=START - timedelta(days=60))
    t0 = START - timedelta(days=60)
    result = training.train(
        frame,
        train_start=t0,
        train_end=t0 + timedelta(days=9),
        algorithms=("hist_gradient_boosting",),
        options=LearningOptions(),
    )
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    joblib.dump(result, MODEL_FILE)
    return result


def _percentile(values, q):
    import numpy as np

    return float(np.percentile(np.asarray(values), q))


def child(args):
    _django(args.db)
    import joblib
    from django.core.management import call_command

    from detection import services
    from detection.contracts import TransactionInput
    from detection.models import ModelVersion
    from detection.serving import registry
    from detection.serving.scoring import decide
    from transactions.models import Transaction

    call_command("migrate", verbosity=0)
    small, probes = _small_history()
    expected = len(small) + (args.size - len(small) if args.size > len(small) else 0)
    built = 0.0
    if Transaction.objects.count() != expected:
        Transaction.objects.all().delete()
        started = time.perf_counter()
        frames = [small]
        if args.size > len(small):
            frames.insert(0, _big_history(args.size - len(small)))
        import pandas as pd

        _insert(pd.concat(frames, ignore_index=True))
        built = time.perf_counter() - started
    if not ModelVersion.objects.filter(status="champion").exists():
        result = joblib.load(MODEL_FILE) if MODEL_FILE.exists() else _train_model()
        services.register(result, promote="force")
    champion = registry.serving_model()
    # --shadow: a challenger (the same model registered again) scores every call in shadow.
    ModelVersion.objects.exclude(trial_mode="live").update(trial_mode="live", rollout_percent=None)
    if args.shadow:
        result = joblib.load(MODEL_FILE) if MODEL_FILE.exists() else _train_model()
        challenger = services.register(result, promote="never")
        ModelVersion.objects.filter(pk=challenger.pk).update(trial_mode="shadow")
    registry.clear_cache()
    champion = registry.serving_model()

    inputs = [
        TransactionInput(
            transaction_id=f"probe-{row.transaction_id}",
            occurred_at=row.occurred_at.to_pydatetime(),
            card_id=row.card_id,
            merchant_id=row.merchant_id,
            amount=row.amount,
            currency=row.currency,
            merchant_category=row.merchant_category,
            channel=row.channel,
            country=row.country,
        )
        for row in probes.itertuples()
    ]
    for tx in inputs[:100]:  # warm up: imports, caches, connections
        decide(tx)
    latencies = []
    decisions = {}
    for i in range(args.calls):
        tx = inputs[i % len(inputs)]
        started = time.perf_counter()
        decision = decide(tx)
        latencies.append((time.perf_counter() - started) * 1000)
        decisions[decision.decision] = decisions.get(decision.decision, 0) + 1
    out = {
        "db": args.label,
        "transactions": Transaction.objects.count(),
        "build_seconds": round(built, 1),
        "model": champion.name,
        "calls": len(latencies),
        "p50_ms": round(_percentile(latencies, 50), 3),
        "p90_ms": round(_percentile(latencies, 90), 3),
        "p99_ms": round(_percentile(latencies, 99), 3),
        "decisions": decisions,
        "latencies_ms": [round(v, 4) for v in latencies],
    }
    if args.load_each_call:
        # The seed's way: read the artifact from disk for every transaction.
        version = champion.version
        path = registry.artifact_full_path(version)
        each = []
        verified = []
        for i in range(min(200, args.calls)):
            tx = inputs[i % len(inputs)]
            started = time.perf_counter()
            joblib.load(path)
            decide(tx)
            each.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            registry.load_model(version)  # with the checksum and version checks
            decide(tx)
            verified.append((time.perf_counter() - started) * 1000)
        out["load_each_call_p50_ms"] = round(_percentile(each, 50), 3)
        out["load_verified_each_call_p50_ms"] = round(_percentile(verified, 50), 3)
        out["load_each_call_ratio"] = round(out["load_each_call_p50_ms"] / out["p50_ms"], 1)
        out["artifact_kb"] = round(path.stat().st_size / 1024)
    print(json.dumps(out))


def _create_pg_database(url, name, rebuild):
    import psycopg

    base = url.rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and rebuild:
            conn.execute(f'DROP DATABASE "{name}"')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=1000, help="Calls per database and round.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", default=None, help="A PostgreSQL server URL to benchmark too.")
    parser.add_argument("--rebuild", action="store_true", help="Rebuild the databases from scratch.")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--label", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load-each-call", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--shadow", action="store_true", help="A challenger in shadow scores every call too.")
    args = parser.parse_args()
    if args.child:
        return child(args)

    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    runs = []
    for size, label in ((10_000, "10k"), (1_000_000, "1m")):
        path = BENCH_DIR / f"decide_{label}.sqlite3"
        if args.rebuild:
            path.unlink(missing_ok=True)
        runs.append((f"sqlite {label}", f"sqlite:///{path}", size))
    if args.postgres:
        for size, label in ((10_000, "10k"), (1_000_000, "1m")):
            url = _create_pg_database(args.postgres, f"sentinel_bench_decide_{label}", args.rebuild)
            runs.append((f"postgresql {label}", url, size))
    # Rounds alternate between the databases so a busy moment on the machine does not land
    # on one of them only; the latencies of all rounds are pooled.
    results = {}
    for round_number in range(args.rounds):
        for label, url, size in runs:
            command = [
                sys.executable,
                __file__,
                "--child",
                "--db",
                url,
                "--label",
                label,
                "--size",
                str(size),
            ]
            command += ["--calls", str(args.calls)] + (["--shadow"] if args.shadow else [])
            if label == "sqlite 10k" and round_number == 0:
                command.append("--load-each-call")
            print(f"== {label} (round {round_number + 1})", file=sys.stderr, flush=True)
            output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
            sys.stderr.write(output.stderr[-1000:])
            result = json.loads(output.stdout.strip().splitlines()[-1])
            pooled = results.setdefault(label, {**result, "latencies_ms": [], "rounds": 0})
            pooled["latencies_ms"] += result["latencies_ms"]
            pooled["rounds"] += 1
            for key in (
                "build_seconds",
                "load_each_call_p50_ms",
                "load_verified_each_call_p50_ms",
                "artifact_kb",
            ):
                if result.get(key):
                    pooled[key] = result[key]
    for pooled in results.values():
        latencies = pooled.pop("latencies_ms")
        pooled["calls"] = len(latencies)
        for name, q in (("p50_ms", 50), ("p90_ms", 90), ("p99_ms", 99)):
            pooled[name] = round(_percentile(latencies, q), 3)
        if "load_each_call_p50_ms" in pooled:
            pooled["load_each_call_ratio"] = round(pooled["load_each_call_p50_ms"] / pooled["p50_ms"], 1)
        pooled.pop("decisions", None)
        print(json.dumps(pooled), flush=True)
    results = list(results.values())
    by = {r["db"]: r for r in results}
    for backend in ("sqlite", "postgresql"):
        small, big = by.get(f"{backend} 10k"), by.get(f"{backend} 1m")
        if small and big:
            print(f"{backend}: p50(1M)/p50(10k) = {big['p50_ms'] / small['p50_ms']:.2f}")
    (BENCH_DIR / "bench_decide.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
