"""The last part of `seed_demo`: a first champion model, so the demo decides from the start.

Trains on the transactions already in the database (demo/history.py puts simulated
history there) when they span enough days for the time-honest protocol; otherwise on a freshly
simulated history. Idempotent: does nothing once any model version exists.
"""

from datetime import UTC, datetime, timedelta

import pandas as pd
from django.utils.module_loading import import_string

from detection import conf, services
from detection.ml import training
from detection.ml.simulator import simulate
from detection.models import ModelVersion

TEST_DAYS = 7
MIN_TRAIN_DAYS = 7
MIN_DB_ROWS = 5_000
# The fallback history: small enough to train in well under a minute on two cores.
SIM_CUSTOMERS, SIM_MERCHANTS, SIM_DAYS = 1000, 500, 35


def _plan(frame, delay_days, *, min_rows=0):
    """(train_start, train_end) leaving a test week after the label delay, or None. Validation
    lies inside the training window (see `training.plan_periods`)."""
    if len(frame) < max(min_rows, 1):
        return None
    times = pd.to_datetime(frame["occurred_at"], utc=True)
    first, last = times.min().floor("D"), times.max().floor("D")
    train_end = last - pd.Timedelta(days=delay_days + TEST_DAYS - 1)
    if train_end - first < pd.Timedelta(days=MIN_TRAIN_DAYS):
        return None
    return first.to_pydatetime(), train_end.to_pydatetime()


def _simulated(delay_days):
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return simulate(
        customers=SIM_CUSTOMERS,
        merchants=SIM_MERCHANTS,
        days=SIM_DAYS,
        seed=2026,
        start=today - timedelta(days=SIM_DAYS),
        label_delay=timedelta(days=delay_days),
    )


def train_demo(*, stdout, algorithms=training.ALGORITHMS):
    """(training result, what it learnt from): on the database's transactions when they are
    enough, else on a simulated history. The demo's challenger trains the same way, so both
    models are measured on the same test week."""
    delay_days = conf.label_delay_days()
    frame = import_string(conf.training_source_path())()
    plan = _plan(frame, delay_days, min_rows=MIN_DB_ROWS)
    source = "the transactions in the database"
    if plan is not None:
        try:
            return training.train(
                frame,
                train_start=plan[0],
                train_end=plan[1],
                label_delay=delay_days,
                algorithms=algorithms,
                options=conf.learning_options(),
            ), source
        except training.TrainingError as error:
            stdout.write(f"  Cannot train on the database ({error}); using a simulated history.")
    frame = _simulated(delay_days)
    plan = _plan(frame, delay_days)
    result = training.train(
        frame,
        train_start=plan[0],
        train_end=plan[1],
        label_delay=delay_days,
        algorithms=algorithms,
        options=conf.learning_options(),
    )
    return result, f"a simulated history of {len(frame):,} transactions"


def seed(*, stdout):
    if ModelVersion.objects.exists():
        stdout.write("  A model already exists; nothing to train.")
        return None
    result, source = train_demo(stdout=stdout)
    version = services.register(result, promote="force", notes=f"Demo model trained on {source}.")
    test = version.metrics.get("test") or version.metrics.get("validation") or {}
    stdout.write(
        f"  Trained {version.version} ({version.algorithm}) on {source}: "
        f"test AP {test.get('average_precision') or 0:.3f}, "
        f"card precision@{test.get('k', 100)} {test.get('card_precision_at_k') or 0:.3f}; it is the champion."
    )
    return version
