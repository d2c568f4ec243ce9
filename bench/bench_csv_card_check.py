"""What refusing card numbers costs the CSV reader (detection/dataset.py): read and validate a
simulated file of 1,000,000+ transactions with the check and without it, best of a few runs.

    .venv/bin/python bench/bench_csv_card_check.py [--rows 1000000] [--repeat 3]

The CSV is kept under var/bench/ for the next run (bench_scoring.py shares it).
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fraudsite.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-" + "k" * 40)
    os.environ.setdefault("CARD_FINGERPRINT_KEY", "bench-only-fingerprint-key")
    import django

    django.setup()
    import numpy as np
    from bench_scoring import _csv

    from detection import dataset

    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    path = _csv(args.rows)

    def best(label):
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            frame, rejected = dataset.read_transactions_csv(path)
            times.append(time.perf_counter() - started)
        print(f"{label}: {min(times):.2f} s for {len(frame):,} rows ({len(rejected)} rejected)")
        return min(times), frame

    checked, frame = best("with the card-number check")
    columns = len(frame.columns)
    real = dataset.card_number_cells
    dataset.card_number_cells = lambda values: np.zeros(len(values), dtype=bool)
    try:
        unchecked, _frame = best("without it")
    finally:
        dataset.card_number_cells = real
    cells = len(frame) * columns
    print(
        f"cost: {checked - unchecked:+.2f} s ({(checked / unchecked - 1) * 100:+.0f}%), "
        f"{(checked - unchecked) / cells * 1e9:.0f} ns per cell over {columns} columns"
    )


if __name__ == "__main__":
    main()
