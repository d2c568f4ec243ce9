"""Transaction history as detection reads it: frames in the canonical columns.

`DatabaseHistory` is the `detection.contracts.HistorySource` the online features use (setting
``DETECTION_HISTORY_SOURCE``); its two queries are range scans over the (card, occurred_at) and
(merchant, occurred_at) indexes, so their cost follows the window, not the table.
`transactions_frame()` is the whole history (or a period) for training (setting
``DETECTION_TRAINING_SOURCE``).

A card is read and grouped by its key (`Card.external_id`, unique across every namespace of card
ids: see `transactions.models.Card`), so two integrators' cards with the same id of theirs never
share a row of history, online or offline, and the frames' `card_id` column is that key.
"""

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from django.db import connection
from tqdm import tqdm

from detection.contracts import Decision
from detection.dataset import CANONICAL_COLUMNS
from detection.ml.features import HistoryWindow
from transactions.models import Card, Merchant, Transaction

# What the online features read, in HistoryWindow.from_rows order (the decision last: an
# attempt refused when it was made, a block, was declined, not charged).
WINDOW_FIELDS = [
    "occurred_at",
    "amount",
    "merchant__external_id",
    "country",
    "is_fraud",
    "label_known_at",
    "decision",
]
DECLINED = Decision.BLOCK.value

# A datetime column as exact integer microseconds since the epoch (UTC), per database.
EPOCH_US_SQL = {
    "postgresql": "CAST(EXTRACT(EPOCH FROM {0}) * 1000000 AS BIGINT)",
    # SQLite keeps naive UTC text, 'YYYY-MM-DD HH:MM:SS[.ffffff]'; the fraction is padded so that
    # '.5' and a missing fraction read right too. The seconds are read without the fraction:
    # strftime rounds to the millisecond, so '...:58.9995' would read as 59 s.
    "sqlite": "(CAST(strftime('%%s', substr({0}, 1, 19)) AS INTEGER) * 1000000"
    " + CAST(substr({0} || '000000', 21, 6) AS INTEGER))",
}
MISSING_US = np.iinfo(np.int64).min

# ORM fields in CANONICAL_COLUMNS order.
FIELDS = [
    "external_id",
    "occurred_at",
    "card__external_id",
    "merchant__external_id",
    "amount",
    "currency",
    "merchant__category",
    "channel",
    "country",
    "is_fraud",
    "label_known_at",
    "decision",  # → declined
]


def _frame(rows) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=CANONICAL_COLUMNS)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True).dt.as_unit("us")
    frame["label_known_at"] = pd.to_datetime(frame["label_known_at"], utc=True).dt.as_unit("us")
    frame["amount"] = frame["amount"].astype(float)
    frame["is_fraud"] = frame["is_fraud"].astype("boolean").astype("Int8")
    frame["declined"] = (frame["declined"] == DECLINED).astype(np.int8)
    return frame


class DatabaseHistory:
    """Past transactions from the database, for one card or one merchant and a period."""

    def card_history(self, card_id: str, start: datetime, end: datetime) -> pd.DataFrame:
        rows = Transaction.objects.filter(
            card__external_id=card_id, occurred_at__gte=start, occurred_at__lt=end
        ).values_list(*FIELDS)
        return _frame(list(rows.order_by()))

    def merchant_history(self, merchant_id: str, start: datetime, end: datetime) -> pd.DataFrame:
        rows = Transaction.objects.filter(
            merchant__external_id=merchant_id, occurred_at__gte=start, occurred_at__lt=end
        ).values_list(*FIELDS)
        return _frame(list(rows.order_by()))

    # The fast path of `detection.ml.features.compute_features_online`: the same rows straight into
    # numpy arrays, without a DataFrame per query.
    def card_window(self, card_id: str, start: datetime, end: datetime) -> HistoryWindow:
        epoch_us = EPOCH_US_SQL.get(connection.vendor)
        if epoch_us is None:
            rows = Transaction.objects.filter(
                card__external_id=card_id, occurred_at__gte=start, occurred_at__lt=end
            ).order_by()
            return HistoryWindow.from_rows(
                [(*row[:-1], row[-1] == DECLINED) for row in rows.values_list(*WINDOW_FIELDS)]
            )
        # Plain SQL that hands back integers (microseconds, cents): converting each row's
        # datetime and Decimal in Python cost more than the query itself.
        tx, card, merchant = Transaction._meta.db_table, Card._meta.db_table, Merchant._meta.db_table
        sql = (
            f"SELECT {epoch_us.format('t.occurred_at')}, CAST(ROUND(t.amount * 100) AS BIGINT), "  # noqa: S608 - names from our models, values as parameters
            # The merchant's id row by row: a join would read the whole merchant table.
            f"(SELECT m.external_id FROM {merchant} m WHERE m.id = t.merchant_id), "
            f"t.country, CASE WHEN t.is_fraud THEN 1 ELSE 0 END, {epoch_us.format('t.label_known_at')}, "
            "CASE WHEN t.decision = %s THEN 1 ELSE 0 END "
            f"FROM {tx} t "
            f"WHERE t.card_id = (SELECT id FROM {card} WHERE external_id = %s) "
            "AND t.occurred_at >= %s AND t.occurred_at < %s"
        )
        adapt = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            cursor.execute(sql, [DECLINED, card_id, adapt(start), adapt(end)])
            rows = cursor.fetchall()
        if not rows:
            return HistoryWindow.empty()
        occurred, cents, merchants, countries, fraud, known, declined = zip(*rows, strict=True)
        return HistoryWindow(
            occurred_us=np.array(occurred, dtype=np.int64),
            amount_c=np.array(cents, dtype=np.int64),
            merchant_id=np.array(merchants, dtype=object),
            country=np.array([c or "" for c in countries], dtype=object),
            fraud=np.array(fraud, dtype=bool),
            known_us=np.array([MISSING_US if k is None else k for k in known], dtype=np.int64),
            declined=np.array(declined, dtype=bool),
        )

    def merchant_counts(self, merchant_id: str, at: datetime, specs: dict) -> dict:
        """The merchant's window counts (`detection.ml.features.merchant_count_specs`) in one
        aggregate query over the (merchant, occurred_at) index: no row comes back to Python.
        Plain SQL (CASE WHEN, portable to SQLite and PostgreSQL) because building the same
        query with the ORM cost ten times the query itself."""
        delay = timedelta(microseconds=-specs["merchant_recent_frauds"][0])
        adapt = connection.ops.adapt_datetimefield_value
        tx, merchant = Transaction._meta.db_table, Merchant._meta.db_table
        known_fraud = (
            "is_fraud = %s AND (label_known_at < %s OR (label_known_at IS NULL AND occurred_at < %s))"
        )
        columns, params = [], []
        for lo, hi, known_fraud_only in specs.values():
            condition = "occurred_at >= %s AND occurred_at < %s"
            params += [adapt(at + timedelta(microseconds=lo)), adapt(at + timedelta(microseconds=hi))]
            if known_fraud_only:
                condition += " AND " + known_fraud
                params += [True, adapt(at), adapt(at - delay)]
            columns.append(f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)")
        start = at + timedelta(microseconds=min(lo for lo, _, _ in specs.values()))
        sql = (
            f"SELECT {', '.join(columns)} FROM {tx} "  # noqa: S608 - table names from our models, values as parameters
            f"WHERE merchant_id = (SELECT id FROM {merchant} WHERE external_id = %s) "
            "AND occurred_at >= %s AND occurred_at < %s"
        )
        params += [merchant_id, adapt(start), adapt(at)]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            values = cursor.fetchone()
        return {name: np.array([int(value or 0)]) for name, value in zip(specs, values, strict=True)}


def transactions_frame(start: datetime | None = None, end: datetime | None = None, *, progress=False):
    """Every transaction with start <= occurred_at < end (either bound optional), oldest first,
    in the canonical columns: the training data when no CSV is given."""
    rows = Transaction.objects.all()
    if start is not None:
        rows = rows.filter(occurred_at__gte=start)
    if end is not None:
        rows = rows.filter(occurred_at__lt=end)
    rows = rows.order_by("occurred_at", "id").values_list(*FIELDS)
    iterator = rows.iterator(chunk_size=20_000)
    if progress:
        iterator = tqdm(iterator, total=rows.count(), desc="Reading transactions", unit="tx")
    return _frame(list(iterator))


# The reasons this app declines for by itself, after detection decided (transactions.services).
ACCOUNT_RULE_CODES = ("card_frozen", "over_credit_limit")
DECISION_COLUMNS = ["transaction_id", "decision", "score", "risk_score", "model_version", "decided_by"]


def decisions_frame(start: datetime, end: datetime) -> pd.DataFrame:
    """What was decided for each transaction of [start, end) (setting
    ``DETECTION_DECISIONS_SOURCE``): the columns of `DECISION_COLUMNS` and `account_rule`, true
    when the account's own rules (a frozen card, no credit left) declined it, not detection."""
    rows = (
        Transaction.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
        .order_by("occurred_at", "id")
        .values_list(
            "external_id", "decision", "score", "risk_score", "model_version", "decided_by", "rule_hits"
        )
    )
    records = [
        (*row[:-1], bool(row[-1]) and (row[-1][0] or {}).get("code") in ACCOUNT_RULE_CODES)
        for row in rows.iterator(chunk_size=20_000)
    ]
    frame = pd.DataFrame.from_records(records, columns=[*DECISION_COLUMNS, "account_rule"])
    frame["score"] = frame["score"].astype(float)
    frame["risk_score"] = frame["risk_score"].astype(float)
    frame["account_rule"] = frame["account_rule"].astype(bool)
    return frame
