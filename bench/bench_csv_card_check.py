"""What refusing card numbers costs the CSV reader (detection/dataset.py): read and validate a
simulated file of 1,000,000+ transactions with today's reader and with the reader of a given git
revision (default: the one before the check), alternately, best of a few runs each.

    .venv/bin/python bench/bench_csv_card_check.py [--rows 1000000] [--repeat 3] [--before 9ff90a4]

The CSV is kept under var/bench/ for the next run (bench_scoring.py shares it).
"""

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _module_at(revision, relative):
    source = subprocess.run(
        ["git", "show", f"{revision}:{relative}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "dataset_before.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(f"before_{revision}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", default="9ff90a4", help="git revision of the reader to compare with")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fraudsite.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-" + "k" * 40)
    os.environ.setdefault("CARD_FINGERPRINT_KEY", "bench-only-fingerprint-key")
    import django

    django.setup()
    from bench_scoring import _csv

    from detection import dataset

    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    path = _csv(args.rows)
    before = _module_at(args.before, "detection/dataset.py")
    times = {"now": [], "before": []}
    for _ in range(args.repeat):
        for label, module in (("before", before), ("now", dataset)):
            started = time.perf_counter()
            frame, rejected = module.read_transactions_csv(path)
            times[label].append(time.perf_counter() - started)
    now, then = min(times["now"]), min(times["before"])
    print(f"{len(frame):,} rows, {len(frame.columns)} columns, {len(rejected)} rejected")
    print(f"reader at {args.before}: {then:.2f} s; now: {now:.2f} s")
    print(f"cost of the card-number check: {now - then:+.2f} s ({(now / then - 1) * 100:+.0f}%)")


if __name__ == "__main__":
    main()
