"""Batch scoring throughput: `score_csv` on a simulated file of 500,000+ transactions, features
included, end to end (read and validate the CSV, features, model, reasons, write), and the time
of each stage.

    .venv/bin/python bench/bench_scoring.py [--rows 500000]

Files go under var/bench/ (the CSV is kept for the next run).
"""

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench"
MODEL_FILE = BENCH_DIR / "decide_model.joblib"  # shared with bench_decide.py
START = datetime(2025, 6, 1, tzinfo=UTC)


def _django():
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{BENCH_DIR / 'scoring.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fraudsite.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-" + "k" * 40)
    os.environ.setdefault("CARD_FINGERPRINT_KEY", "bench-only-fingerprint-key")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    settings.DETECTION_MODELS_DIR = BENCH_DIR / "models"


def _csv(rows):
    from detection.ml.simulator import simulate, write_csv

    path = BENCH_DIR / f"scoring_{rows}.csv"
    if not path.exists():
        days = max(7, round(rows / 10_500) + 2)  # ~10,700 a day: at least `rows`
        frame = simulate(customers=5000, merchants=2000, days=days, seed=3, start=START)
        write_csv(frame.drop(columns=["fraud_pattern"], errors="ignore"), path)
    return path


def _champion():
    import joblib

    from detection import services
    from detection.ml import training
    from detection.ml.options import LearningOptions
    from detection.ml.simulator import simulate
    from detection.models import ModelVersion
    from detection.serving import registry

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
    return registry.serving_model()


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=500_000)
    args = parser.parse_args()
    _django()
    import numpy as np
    from django.core.management import call_command

    from detection.contracts import Decision
    from detection.dataset import read_transactions_csv
    from detection.ml.features import compute_features_frame
    from detection.ml.thresholds import risk_scores
    from detection.serving.bands import bands
    from detection.serving.rules import evaluate_lists_and_rules_frame
    from detection.serving.scoring import by_row_chunks, explainer_for

    call_command("migrate", verbosity=0)
    path = _csv(args.rows)
    loaded = _champion()
    out = BENCH_DIR / "scores.csv"

    # End to end, as a user runs it.
    started = time.perf_counter()
    summary = StringIO()
    call_command("score_csv", str(path), "--out", str(out), "--json", stdout=summary, stderr=StringIO())
    total = time.perf_counter() - started
    summary = json.loads(summary.getvalue())
    rows = summary["rows_scored"]

    # The same work stage by stage.
    stages = {}
    t = time.perf_counter()
    frame, _rejected = read_transactions_csv(path)
    stages["read_and_validate_csv"] = time.perf_counter() - t
    t = time.perf_counter()
    features = compute_features_frame(frame, label_delay=timedelta(days=7))
    stages["features"] = time.perf_counter() - t
    explainer = explainer_for(loaded)
    matrix = features[loaded.feature_names].to_numpy(dtype=float)
    t = time.perf_counter()
    scores = by_row_chunks(explainer.predict, matrix)  # as score_frame does
    stages["model"] = time.perf_counter() - t
    t = time.perf_counter()
    evaluate_lists_and_rules_frame(frame)
    stages["lists_and_rules"] = time.perf_counter() - t
    decisions = bands(scores, loaded.thresholds)
    flagged = decisions != Decision.APPROVE  # explained, as score_frame does
    t = time.perf_counter()
    codes = by_row_chunks(explainer.top_codes, matrix[flagged], scores[flagged])
    stages["reasons_for_flagged"] = time.perf_counter() - t
    import pandas as pd

    from detection.ml.csv_io import write_csv

    reasons = np.full(len(scores), "", dtype=object)
    reasons[flagged] = codes
    written = pd.DataFrame(
        {
            "transaction_id": frame["transaction_id"].to_numpy(),
            "score": scores.round(6),
            "risk_score": risk_scores(scores),
            "decision": decisions,
            "reasons": reasons,
        }
    )
    t = time.perf_counter()
    write_csv(written, BENCH_DIR / "stage_write.csv", decimals=6)  # as score_csv writes its OUT
    stages["write_csv"] = time.perf_counter() - t
    result = {
        "rows": rows,
        "model": loaded.name,
        "end_to_end_seconds": round(total, 2),
        "end_to_end_rows_per_second": round(rows / total),
        "without_csv_io_rows_per_second": round(
            rows
            / (
                stages["features"]
                + stages["model"]
                + stages["lists_and_rules"]
                + stages["reasons_for_flagged"]
            )
        ),
        "flagged": int(flagged.sum()),
        "stage_seconds": {k: round(v, 2) for k, v in stages.items()},
        "decisions": summary["decisions"],
        "numpy_threads": os.environ.get("OMP_NUM_THREADS", "default"),
    }
    assert np.isfinite(scores).all()
    print(json.dumps(result, indent=2))
    (BENCH_DIR / "bench_scoring.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
