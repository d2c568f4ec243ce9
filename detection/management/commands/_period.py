"""What evaluate_model and score_csv share: reading the file and choosing a period."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from django.core.management.base import CommandError

from detection import conf
from detection.dataset import DatasetError, read_transactions_csv


def parse_date(value, option):
    """An ISO date or date-time; naive values are UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"{option} must be an ISO date such as 2025-01-31 (or a date-time), not {value!r}."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def add_period_arguments(parser, *, required):
    parser.add_argument(
        "--start", required=required, help="First day of the period (ISO date, UTC; inclusive)."
    )
    parser.add_argument("--end", required=required, help="End of the period (ISO date, UTC; exclusive).")
    parser.add_argument(
        "--label-delay-days",
        type=float,
        default=None,
        help="Days after a transaction its label counts as known when the file has no "
        "label_known_at (default: setting DETECTION_LABEL_DELAY_DAYS, 7).",
    )


def read_period(path, options):
    """(frame of the whole file, boolean mask of the period, rejected rows, label delay)."""
    start = parse_date(options.get("start"), "--start")
    end = parse_date(options.get("end"), "--end")
    if start and end and start >= end:
        raise CommandError("--start must be before --end.")
    delay_days = options.get("label_delay_days")
    if delay_days is None:
        delay_days = conf.label_delay_days()
    if delay_days < 0:
        raise CommandError("--label-delay-days cannot be negative.")
    delay = timedelta(days=delay_days)
    if not Path(path).is_file():
        raise CommandError(f"No such file: {path}.")
    try:
        frame, rejected = read_transactions_csv(path, label_delay=delay)
    except DatasetError as error:
        raise CommandError(str(error)) from None
    # Features look only backwards, so the file's order does not matter; time order keeps the
    # output readable.
    frame = frame.sort_values("occurred_at", kind="stable")
    times = frame["occurred_at"]
    mask = np.ones(len(frame), dtype=bool)
    if start is not None:
        mask &= (times >= pd.Timestamp(start)).to_numpy()
    if end is not None:
        mask &= (times < pd.Timestamp(end)).to_numpy()
    return frame, mask, rejected, delay
