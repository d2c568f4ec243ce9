"""Demo of learning that keeps up with a new attack: a fraud pattern starts, retraining runs
every day as the product runs it, and we count the days until the serving model catches it.

    .venv/bin/python bench/demo_new_pattern.py [--baseline-rev REV] [--json]

1. Simulate a small portfolio (`--customers`, `--merchants`) for `--pattern-day` days before
   ``atm_cashout`` (night-time round ATM withdrawals, off by default in the simulator) starts,
   and two weeks after.
2. The champion is trained on the day the pattern starts, on what was known then.
3. Each day from the pattern's start (`--run-days` runs), the bank's view of its history (the
   transactions so far, the fraud labels reported so far) goes through
   `detection.lifecycle.retraining.challenge`, as a retraining run does; a challenger the gate
   passes becomes the serving model.
4. After each run, the serving model is measured on the pattern's frauds of the following 7
   days (true labels: what it will meet), at its own review and block thresholds, against the
   champion from before the pattern.

With `--baseline-rev REV`, the same script also runs on the code of git revision REV (extracted
with `git archive` into a temporary directory; this file is copied in), to compare the
retraining protocols on the same data. Prints Markdown (figures recorded in docs/model.md and
docs/benchmarks.md) or, with --json, the figures.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fraudsite.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")
# A database of its own (the bank's band settings are read from it), never the site's; the run on
# an earlier revision (--baseline-rev) inherits it.
os.environ.setdefault(
    "DATABASE_URL", f"sqlite:///{tempfile.mkdtemp(prefix='demo-new-pattern-')}/demo.sqlite3"
)

import django  # noqa: E402

django.setup()
from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from django.conf import settings  # noqa: E402

from detection.dataset import canonical_frame  # noqa: E402
from detection.lifecycle import retraining  # noqa: E402
from detection.ml.features import FEATURE_NAMES, compute_features_frame  # noqa: E402
from detection.ml.simulator import CANONICAL_COLUMNS, simulate  # noqa: E402
from detection.models import ModelVersion  # noqa: E402
from detection.serving.registry import LoadedModel  # noqa: E402

PATTERN = "atm_cashout"
LABEL_DELAY = pd.Timedelta(days=7)
NEXT_WEEK = pd.Timedelta(days=7)
# A lift: the pattern's recall in a band up by at least this much over the pre-pattern champion.
LIFT = 0.10


def bank_view(frame, cutoff):
    """What the bank's database holds at `cutoff`: the transactions before it, and fraud labels
    only where reported by then (an unreported fraud looks legitimate, as in the database)."""
    view = frame[frame["occurred_at"] < cutoff].copy()
    unknown = (view["is_fraud"] == 1) & (view["label_known_at"] > cutoff)
    view.loc[unknown, "is_fraud"] = 0
    view.loc[unknown, "label_known_at"] = view.loc[unknown, "occurred_at"] + LABEL_DELAY
    return view


def loaded(challenge, name):
    result = challenge.result
    return LoadedModel(
        version=ModelVersion(
            version=name,
            algorithm=result.algorithm,
            parameters=result.parameters,
            feature_names=FEATURE_NAMES,
            thresholds=result.thresholds,
            metrics={"periods": result.summary()["periods"]},
        ),
        pipeline=result.pipeline,
    )


def band_recalls(model, X, is_pattern, week, is_fraud):
    """The pattern's recall in each band and its mean score, and what the block band did to the
    whole week's traffic (its precision: how many of those it declined were fraud)."""
    scores = model.pipeline.predict_proba(X[is_pattern])[:, 1] if is_pattern.any() else np.zeros(0)
    if not scores.size:
        return {"review": None, "block": None, "mean_score": None, "block_precision": None}
    blocked = model.pipeline.predict_proba(X[week])[:, 1] >= model.thresholds["block"]
    return {
        "review": float(np.mean(scores >= model.thresholds["review"])),
        "block": float(np.mean(scores >= model.thresholds["block"])),
        # Threshold-free: the bands' thresholds come from a few validation rows in a small bank.
        "mean_score": float(np.mean(scores)),
        "block_precision": float(is_fraud[week][blocked].mean()) if blocked.any() else None,
    }


def run(*, customers, merchants, pattern_day, run_days, rate, seed, algorithms, review_cards_per_day):
    started = time.perf_counter()
    settings.DETECTION_REVIEW_CARDS_PER_DAY = review_cards_per_day
    settings.DETECTION_CARD_PRECISION_K = review_cards_per_day
    frame = simulate(
        customers=customers,
        merchants=merchants,
        days=pattern_day + run_days + NEXT_WEEK.days,
        seed=seed,
        patterns={PATTERN: {"start_day": pattern_day, "rate": rate}},
    ).reset_index(drop=True)
    pattern = (frame["fraud_pattern"].astype(str) == PATTERN).to_numpy()
    canonical = canonical_frame(frame[CANONICAL_COLUMNS])
    times = canonical["occurred_at"]
    start = times.min().floor("D") + pd.Timedelta(days=pattern_day)
    # Features of the weeks measured: computed once, time-honest (history before each row).
    X = compute_features_frame(canonical, label_delay=LABEL_DELAY)[FEATURE_NAMES].to_numpy(dtype=np.float64)
    known = pd.to_datetime(canonical["label_known_at"], utc=True)
    is_fraud = canonical["is_fraud"].to_numpy(dtype=float) == 1

    first = retraining.challenge(
        bank_view(canonical, start), champion=None, known_by=start, algorithms=algorithms
    )
    before = serving = loaded(first, "pre-pattern champion")
    days = []
    for day in range(1, run_days + 1):
        cutoff = start + pd.Timedelta(days=day)
        run_started = time.perf_counter()
        outcome = retraining.challenge(
            bank_view(canonical, cutoff), champion=serving, known_by=cutoff, algorithms=algorithms
        )
        if outcome.passed:
            serving = loaded(outcome, f"day {day}")
        week = ((times >= cutoff) & (times < cutoff + NEXT_WEEK)).to_numpy()
        next_week = week & pattern
        days.append(
            {
                "day": day,
                "pattern_frauds_known": int((pattern & (times < cutoff) & (known <= cutoff)).sum()),
                "promoted": bool(outcome.passed),
                "serving": serving.name,
                "gate": outcome.reason,
                "next_week_pattern_frauds": int(next_week.sum()),
                "before": band_recalls(before, X, next_week, week, is_fraud),
                "after": band_recalls(serving, X, next_week, week, is_fraud),
                "seconds": round(time.perf_counter() - run_started, 1),
            }
        )
    lift_day = next(
        (
            d["day"]
            for d in days
            if any((d["after"][band] or 0) - (d["before"][band] or 0) >= LIFT for band in ("review", "block"))
        ),
        None,
    )
    return {
        "rows": len(frame),
        "frauds": int(frame["is_fraud"].sum()),
        "pattern_frauds": int(pattern.sum()),
        "pattern_start": start.isoformat()[:10],
        "days": days,
        "lift_day": lift_day,
        "seconds": round(time.perf_counter() - started, 1),
    }


def on_revision(rev, argv):
    """This script's figures with the code of git revision `rev` (the old protocol)."""
    with tempfile.TemporaryDirectory(prefix="demo-baseline-") as tree:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
        shutil.copy(__file__, Path(tree) / "bench" / "demo_new_pattern.py")
        env = {**os.environ, "DJANGO_DEBUG": "1"}
        out = subprocess.run(
            [sys.executable, str(Path(tree) / "bench" / "demo_new_pattern.py"), *argv, "--json"],
            check=True,
            capture_output=True,
            text=True,
            cwd=tree,
            env=env,
        )
        return json.loads(out.stdout)["protocol"]


def markdown(figures, args, baseline=None):
    def n(v):
        return "n/a" if v is None else f"{v:.2f}"

    def table(f, title):
        lines = [
            f"**{title}** — serving model after each daily run; recall on the `{PATTERN}` frauds of the "
            f"following 7 days (pre-pattern champion → serving model). First lift of {LIFT:.2f} or more "
            f"in a band: **{'day ' + str(f['lift_day']) if f['lift_day'] else 'none'}** after the start.",
            "",
            "| run on day | pattern frauds known | gate | serving | next week's pattern frauds | review-band recall | block-band recall | mean score | block precision, all traffic | run (s) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for d in f["days"]:
            lines.append(
                f"| {d['day']} | {d['pattern_frauds_known']} | {'promoted' if d['promoted'] else 'kept'} | "
                f"{d['serving']} | {d['next_week_pattern_frauds']} | "
                f"{n(d['before']['review'])} → {n(d['after']['review'])} | "
                f"{n(d['before']['block'])} → {n(d['after']['block'])} | "
                f"{n(d['before']['mean_score'])} → {n(d['after']['mean_score'])} | "
                f"{n(d['before'].get('block_precision'))} → {n(d['after'].get('block_precision'))} | {d['seconds']} |"
            )
        return lines

    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((line.split(":", 1)[1].strip() for line in cpu.splitlines() if "Model name" in line), "?")
    lines = [
        f"Simulated {args.customers} cards, {args.merchants} terminals, "
        f"{args.pattern_day + args.run_days + 7} days (seed {args.seed}); `{PATTERN}` from day "
        f"{args.pattern_day} ({figures['pattern_start']}) at rate {args.rate}: {figures['rows']} transactions, "
        f"{figures['frauds']} frauds, {figures['pattern_frauds']} of the new pattern. Review budget "
        f"{args.review_cards_per_day} cards a day; algorithms: {', '.join(args.algorithm or ['all'])}.",
        "",
        *table(figures, "This protocol"),
    ]
    if baseline is not None:
        lines += ["", *table(baseline, f"Old protocol (git {args.baseline_rev})")]
    lines += [
        "",
        f"Machine: {os.cpu_count()} cores (`nproc`), {model}, Python {platform.python_version()}; "
        f"{figures['seconds']} s"
        + (f" (old protocol {baseline['seconds']} s)" if baseline is not None else "")
        + f" for {args.run_days + 1} trainings each.",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--merchants", type=int, default=500)
    parser.add_argument("--pattern-day", type=int, default=35)
    parser.add_argument("--run-days", type=int, default=7)
    parser.add_argument("--rate", type=float, default=20.0, help="new cases per 10,000 cards per day")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--review-cards-per-day", type=int, default=10)
    parser.add_argument(
        "--algorithm",
        action="append",
        help="candidate(s) (default: hist_gradient_boosting, the usual winner; repeat for more)",
    )
    parser.add_argument("--baseline-rev", help="also run on this git revision's code (the old protocol)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.algorithm = args.algorithm or ["hist_gradient_boosting"]
    if args.pattern_day < 22:
        parser.error("--pattern-day must leave at least 22 days (label delay, validation, comparison).")
    figures = run(
        customers=args.customers,
        merchants=args.merchants,
        pattern_day=args.pattern_day,
        run_days=args.run_days,
        rate=args.rate,
        seed=args.seed,
        algorithms=args.algorithm,
        review_cards_per_day=args.review_cards_per_day,
    )
    baseline = None
    if args.baseline_rev:
        argv = [
            a
            for a in sys.argv[1:]
            if a not in ("--json", "--baseline-rev", args.baseline_rev)
            and not a.startswith("--baseline-rev=")
        ]
        baseline = on_revision(args.baseline_rev, argv)
    if args.json:
        print(json.dumps({"protocol": figures, "baseline": baseline}, indent=2, default=str))
    else:
        print(markdown(figures, args, baseline))


if __name__ == "__main__":
    main()
