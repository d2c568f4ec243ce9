"""Traffic for trying the learning loop by hand: a simulated history in the database in which a
new fraud pattern (``atm_cashout``) starts halfway and nobody has confirmed it yet; customers'
reports of it wait, open, in the review queue. Analysts confirm them, the confirmations start a
retraining in the worker, and the dashboards show the gate's decision and the traffic."""

import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd
from django.utils import timezone

from detection import conf
from detection.ml.simulator import CANONICAL_COLUMNS, simulate, write_csv
from transactions import services
from transactions.importing import transactions_import
from transactions.models import FraudReport, Transaction

PATTERN = "atm_cashout"


@dataclass
class LearningDemo:
    imported: int
    duplicates: int
    frauds_known: int
    pattern_frauds: int
    reports_opened: int


def learning_demo_seed(
    *, customers=400, merchants=200, days=56, pattern_day=21, rate=60.0, seed=5, reports=None
):
    """Import the history (ending now) and open a customer report for each of the new pattern's
    frauds (the oldest `reports` of them, or all)."""
    if not (1 <= pattern_day < days):
        raise ValueError("pattern_day must be between 1 and days - 1.")
    now = timezone.now()
    start = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    frame = simulate(
        customers=customers,
        merchants=merchants,
        days=days,
        seed=seed,
        start=start,
        patterns={PATTERN: {"start_day": pattern_day, "rate": rate}},
        label_delay=conf.label_delay(),
    )
    frame = frame[frame["occurred_at"] < now].reset_index(drop=True)
    new_pattern = (frame["fraud_pattern"].astype(str) == PATTERN).to_numpy()
    rows = frame[CANONICAL_COLUMNS].copy()
    # Labels only as known by now; the new pattern's frauds are not known at all yet.
    rows["is_fraud"] = rows["is_fraud"].astype("Int8")
    unknown = new_pattern | (rows["label_known_at"] > pd.Timestamp(now)).to_numpy()
    rows.loc[unknown, "is_fraud"] = pd.NA
    rows.loc[unknown, "label_known_at"] = pd.NaT
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "history.csv"
        write_csv(rows, path)
        result = transactions_import(path=path, label_delay=conf.label_delay(), progress=False)
    ids = frame.loc[new_pattern].sort_values("occurred_at")["transaction_id"].astype(str).tolist()
    if reports is not None:
        ids = ids[:reports]
    opened = 0
    for tx in Transaction.objects.filter(external_id__in=ids).exclude(
        reports__status=FraudReport.Status.OPEN
    ):
        if tx.is_fraud is None:
            services.fraud_report_create(
                transaction=tx, reported_by=None, source=FraudReport.Source.CUSTOMER, note="Not me (demo)"
            )
            opened += 1
    return LearningDemo(
        imported=result.imported,
        duplicates=len(result.duplicates),
        frauds_known=int(rows["is_fraud"].fillna(0).sum()),
        pattern_frauds=int(new_pattern.sum()),
        reports_opened=opened,
    )
