"""Transaction history as detection reads it: frames in the canonical columns.

`DatabaseHistory` is the `detection.contracts.HistorySource` the online features use (setting
``DETECTION_HISTORY_SOURCE``); its two queries are range scans over the (card, occurred_at) and
(merchant, occurred_at) indexes, so their cost follows the window, not the table.
`transactions_frame()` is the whole history (or a period) for training and backtests (setting
``DETECTION_TRAINING_SOURCE``), `decisions_frame()` what production decided over a period; both
read plain SQL in chunks into arrays, and give the frames the ORM would (`_orm_*`).

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
# A whole-period read's times: integer microseconds from PostgreSQL; from SQLite its own text
# (as an expression, which Django's converter leaves as text), parsed exactly by numpy (NULL
# as NaT, MISSING_US) for less than SQLite's strftime per row costs.
FRAME_TIME_SQL = {"postgresql": EPOCH_US_SQL["postgresql"], "sqlite": "({0} || '')"}
# Rows a whole-period read holds in Python objects at a time (transactions_frame, decisions_frame).
CHUNK_ROWS = 20_000

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
    in the canonical columns: the training data when no CSV is given.

    Plain SQL read in chunks straight into arrays (times as integer microseconds, FRAME_TIME_SQL,
    amounts as cents, each card's and merchant's id built once): the ORM's row objects read ~57k
    rows a second, too slow for a month of a million. `_orm_transactions_frame` is the same frame
    through the ORM, for databases without FRAME_TIME_SQL, and the tests' reference."""
    time_sql = FRAME_TIME_SQL.get(connection.vendor)
    if time_sql is None:
        return _orm_transactions_frame(start, end, progress=progress)
    where, params = _period(start, end)
    tx = Transaction._meta.db_table
    sql = (
        f"SELECT t.external_id, {time_sql.format('t.occurred_at')}, t.card_id, t.merchant_id, "  # noqa: S608 - names from our models, values as parameters
        "CAST(ROUND(t.amount * 100) AS BIGINT), t.currency, t.channel, t.country, "
        "CASE WHEN t.is_fraud IS NULL THEN -1 WHEN t.is_fraud THEN 1 ELSE 0 END, "
        f"{time_sql.format('t.label_known_at')}, CASE WHEN t.decision = %s THEN 1 ELSE 0 END "
        f"FROM {tx} t{where} ORDER BY t.occurred_at, t.id"
    )
    bar = None
    if progress:
        bar = tqdm(total=_period_rows(start, end).count(), desc="Reading transactions", unit="tx")
    chunks = []
    for rows in _chunks(sql, [DECLINED, *params]):
        ids, occurred, cards, merchants, cents, currencies, channels, countries, fraud, known, declined = zip(
            *rows, strict=True
        )
        chunks.append(
            (
                np.array(ids, dtype=object),
                _micros(occurred),
                np.array(cards, dtype=np.int64),
                np.array(merchants, dtype=np.int64),
                np.array(cents, dtype=np.int64),
                np.array(currencies, dtype=object),
                np.array(channels, dtype=object),
                np.array(countries, dtype=object),
                np.array(fraud, dtype=np.int8),
                _micros(known),
                np.array(declined, dtype=np.int8),
            )
        )
        if bar is not None:
            bar.update(len(rows))
    if bar is not None:
        bar.close()
    if not chunks:
        return _frame([])
    ids, occurred, cards, merchants, cents, currencies, channels, countries, fraud, known, declined = (
        np.concatenate(column) for column in zip(*chunks, strict=True)
    )
    card_ids, card_rows = np.unique(cards, return_inverse=True)
    merchant_ids, merchant_rows = np.unique(merchants, return_inverse=True)
    (card_keys,) = _lookup(Card._meta.db_table, ["external_id"], card_ids)
    merchant_keys, categories = _lookup(Merchant._meta.db_table, ["external_id", "category"], merchant_ids)
    return pd.DataFrame(
        {
            "transaction_id": ids,
            "occurred_at": _utc(occurred),
            "card_id": _strings(card_keys, card_rows),
            "merchant_id": _strings(merchant_keys, merchant_rows),
            # The nearest float to cents / 100, as float(Decimal) gives: IEEE division is exact
            # to the last bit.
            "amount": cents / 100,
            "currency": currencies,
            "merchant_category": _strings(categories, merchant_rows),
            "channel": channels,
            "country": countries,
            "is_fraud": pd.arrays.IntegerArray(np.maximum(fraud, 0), fraud < 0),
            "label_known_at": _utc(known),
            "declined": declined,
        },
        columns=CANONICAL_COLUMNS,
    )


def _strings(values, rows):
    """values[rows] as pandas' string array, each distinct string converted once (converting
    a card's id once a row cost more than reading it)."""
    return pd.array(values, dtype="str").take(rows)


def _micros(values) -> np.ndarray:
    """Times read by FRAME_TIME_SQL as integer microseconds since the epoch; NULL is
    MISSING_US, numpy's NaT (int64's minimum read as datetime64)."""
    if connection.vendor == "sqlite":
        return np.array(values, dtype="datetime64[us]").view(np.int64)
    return np.array([MISSING_US if v is None else v for v in values], dtype=np.int64)


def _orm_transactions_frame(start=None, end=None, *, progress=False):
    rows = _period_rows(start, end).order_by("occurred_at", "id").values_list(*FIELDS)
    iterator = rows.iterator(chunk_size=CHUNK_ROWS)
    if progress:
        iterator = tqdm(iterator, total=rows.count(), desc="Reading transactions", unit="tx")
    return _frame(list(iterator))


def _period(start, end, table="t"):
    """The WHERE clause (with its leading space) and parameters of start <= occurred_at < end."""
    adapt = connection.ops.adapt_datetimefield_value
    conditions, params = [], []
    if start is not None:
        conditions.append(f"{table}.occurred_at >= %s")
        params.append(adapt(start))
    if end is not None:
        conditions.append(f"{table}.occurred_at < %s")
        params.append(adapt(end))
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), params


def _period_rows(start, end):
    rows = Transaction.objects.all()
    if start is not None:
        rows = rows.filter(occurred_at__gte=start)
    if end is not None:
        rows = rows.filter(occurred_at__lt=end)
    return rows


def _chunks(sql, params):
    """The rows of `sql`, CHUNK_ROWS at a time: through a server-side cursor on PostgreSQL (as the
    ORM's iterator(), unless DISABLE_SERVER_SIDE_CURSORS), so memory holds one chunk of rows."""
    server_side = not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
    with connection.chunked_cursor() if server_side else connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK_ROWS):
            yield rows


def _lookup(table, columns, ids):
    """`columns` of the rows of `table` with these ids (sorted, unique), one object array per
    column in the order of `ids`: each card's or merchant's strings made once, not once a row."""
    values = [np.empty(len(ids), dtype=object) for _ in columns]
    batch = connection.features.max_query_params or 10_000
    for first in range(0, len(ids), batch):
        part = ids[first : first + batch].tolist()
        sql = (
            f"SELECT id, {', '.join(columns)} FROM {table} "  # noqa: S608 - names from our models, values as parameters
            f"WHERE id IN ({', '.join(['%s'] * len(part))})"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, part)
            found = {row[0]: row[1:] for row in cursor.fetchall()}
        for offset, key in enumerate(part):
            for column, value in zip(values, found[key], strict=True):
                column[first + offset] = value
    return values


def _utc(epoch_us):
    return pd.Series(epoch_us.view("M8[us]")).dt.tz_localize("UTC")


# The reasons this app declines for by itself, after detection decided (transactions.services).
ACCOUNT_RULE_CODES = ("card_frozen", "over_credit_limit")
DECISION_COLUMNS = ["transaction_id", "decision", "score", "risk_score", "model_version", "decided_by"]
# The code of a JSON list's first element, per database; NULL for an empty list, a null element
# or anything else that is not a list of objects.
FIRST_CODE_SQL = {
    "postgresql": "({0} -> 0 ->> 'code')",
    "sqlite": "json_extract({0}, '$[0].code')",
}


def decisions_frame(start: datetime, end: datetime) -> pd.DataFrame:
    """What was decided for each transaction of [start, end) (setting
    ``DETECTION_DECISIONS_SOURCE``): the columns of `DECISION_COLUMNS` and `account_rule`, true
    when the account's own rules (a frozen card, no credit left) declined it, not detection.
    Plain SQL in chunks, as `transactions_frame`; `_orm_decisions_frame` is the reference."""
    first_code = FIRST_CODE_SQL.get(connection.vendor)
    if first_code is None:
        return _orm_decisions_frame(start, end)
    where, params = _period(start, end)
    codes = ", ".join(["%s"] * len(ACCOUNT_RULE_CODES))
    sql = (
        "SELECT t.external_id, t.decision, t.score, t.risk_score, t.model_version, t.decided_by, "  # noqa: S608 - names from our models, values as parameters
        f"CASE WHEN {first_code.format('t.rule_hits')} IN ({codes}) THEN 1 ELSE 0 END "
        f"FROM {Transaction._meta.db_table} t{where} ORDER BY t.occurred_at, t.id"
    )
    chunks = []
    for rows in _chunks(sql, [*ACCOUNT_RULE_CODES, *params]):
        ids, decisions, scores, risks, versions, deciders, account = zip(*rows, strict=True)
        chunks.append(
            (
                np.array(ids, dtype=object),
                np.array(decisions, dtype=object),
                np.array(scores, dtype=float),  # None is NaN
                np.array(risks, dtype=float),
                np.array(versions, dtype=object),
                np.array(deciders, dtype=object),
                np.array(account, dtype=bool),
            )
        )
    if not chunks:
        return _decisions([])
    columns = [np.concatenate(column) for column in zip(*chunks, strict=True)]
    return pd.DataFrame(dict(zip([*DECISION_COLUMNS, "account_rule"], columns, strict=True)))


def _orm_decisions_frame(start, end):
    rows = (
        Transaction.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
        .order_by("occurred_at", "id")
        .values_list(
            "external_id", "decision", "score", "risk_score", "model_version", "decided_by", "rule_hits"
        )
    )
    return _decisions(
        [
            (*row[:-1], bool(row[-1]) and (row[-1][0] or {}).get("code") in ACCOUNT_RULE_CODES)
            for row in rows.iterator(chunk_size=CHUNK_ROWS)
        ]
    )


def _decisions(records):
    frame = pd.DataFrame.from_records(records, columns=[*DECISION_COLUMNS, "account_rule"])
    frame["score"] = frame["score"].astype(float)
    frame["risk_score"] = frame["risk_score"].astype(float)
    frame["account_rule"] = frame["account_rule"].astype(bool)
    return frame
