"""Reading transaction files into one clean frame, shared by import, training, evaluation and
batch scoring.

`read_transactions_csv(path, mapping=None, label_delay=...)` returns ``(frame, rejected)``:

* ``frame`` holds the valid rows in the canonical columns (see `CANONICAL_COLUMNS`), in file
  order, indexed by their line number in the file (the header is line 1). Types:
  ``transaction_id``, ``card_id``, ``merchant_id`` and the context columns are strings
  (``""`` when absent), ``occurred_at`` and ``label_known_at`` are UTC datetimes (naive values
  are read as UTC, others converted), ``amount`` is a float rounded to cents, ``is_fraud`` a
  nullable integer (0/1, missing when unlabelled), ``declined`` 0/1 (1: the attempt was
  refused when it was made, so it was not charged; 0 when the column or the value is absent). Where ``is_fraud`` is given and
  ``label_known_at`` is not, the label is taken as known ``label_delay`` after the transaction.
* ``rejected`` lists ``{"line": n, "reason": "..."}`` for every bad row: a card number in any
  cell (of any column, ours or not: we never store or score one; the reason does not quote it),
  missing or unparsable required values, negative amounts, bad labels, and repeated transaction
  ids (the first one is kept).

A file without one of the required columns raises `DatasetError` naming what is missing.
`mapping` renames the file's headers to ours: ``{"occurred_at": "TX_DATETIME", ...}`` (canonical
name → name in the file); unmapped canonical names are looked up as themselves.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core import plausible
from core.cardnumbers import (
    CANDIDATE_PATTERN,
    MIN_DIGITS,
    NON_ASCII_DIGIT_PATTERN,
    contains_card_number,
)
from core.validators import CARD_NUMBER_REASON
from detection.ml.csv_io import read_strings

REQUIRED = ["transaction_id", "occurred_at", "card_id", "merchant_id", "amount"]
CONTEXT = ["currency", "merchant_category", "channel", "country"]
CANONICAL_COLUMNS = [*REQUIRED, *CONTEXT, "is_fraud", "label_known_at", "declined"]
DEFAULT_LABEL_DELAY = timedelta(days=7)
DATE_COLUMNS = ("occurred_at", "label_known_at")
# The shape of an ISO 8601 date-time in ASCII digits (date, optional time, fraction and offset).
ISO_DATE_TIME = (
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)
MAX_ID_LENGTH = 64
# How a 0/1 column (is_fraud, declined) may be written.
FLAG_VALUES = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "true": 1, "false": 0}

# The published "fraud detection handbook" simulated data, mapped onto our columns.
HANDBOOK_MAPPING = {
    "transaction_id": "TRANSACTION_ID",
    "occurred_at": "TX_DATETIME",
    "card_id": "CUSTOMER_ID",
    "merchant_id": "TERMINAL_ID",
    "amount": "TX_AMOUNT",
    "is_fraud": "TX_FRAUD",
}


class DatasetError(ValueError):
    """The file as a whole cannot be read (missing columns, unreadable file, bad mapping)."""


def parse_mapping(pairs) -> dict[str, str]:
    """``["occurred_at=TX_DATETIME", ...]`` → ``{"occurred_at": "TX_DATETIME"}``, checked."""
    mapping = {}
    for pair in pairs or []:
        ours, sep, theirs = str(pair).partition("=")
        ours, theirs = ours.strip(), theirs.strip()
        if not sep or not ours or not theirs:
            raise DatasetError(f"Bad column mapping {pair!r}: write it as our_column=their_column.")
        if ours not in CANONICAL_COLUMNS:
            raise DatasetError(
                f"Unknown column {ours!r} in mapping {pair!r}; ours are: {', '.join(CANONICAL_COLUMNS)}."
            )
        mapping[ours] = theirs
    return mapping


def card_number_cells(values, *, unless=None) -> np.ndarray:
    """For each cell, whether it holds a card number: exactly `contains_card_number` (the one
    rule), but vectorised. Cells shorter than a card number are skipped (and, with `unless`,
    cells that whole match that pattern); in the others a pattern that every card number
    matches picks the few candidates, and only those run the exact check in Python."""
    found = np.zeros(len(values), dtype=bool)
    array = pa.array(values, from_pandas=True)
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        array = pc.cast(array, pa.large_string())
    # Bytes, not characters: a number of 13 digits takes at least 13 bytes however it is written.
    keep = pc.fill_null(pc.greater_equal(pc.binary_length(array), MIN_DIGITS), False)
    if unless is not None:
        keep = pc.and_(
            keep, pc.invert(pc.fill_null(pc.match_substring_regex(array, f"^(?:{unless})$"), False))
        )
    positions = np.flatnonzero(keep.to_numpy(zero_copy_only=False))
    if not len(positions):
        return found
    long_cells = array.take(pa.array(positions))
    candidates = pc.match_substring_regex(long_cells, CANDIDATE_PATTERN)
    if not pc.all(pc.string_is_ascii(long_cells)).as_py():  # "４" or "٤": the exact check decides
        candidates = pc.or_(candidates, pc.match_substring_regex(long_cells, NON_ASCII_DIGIT_PATTERN))
    candidates = pc.fill_null(candidates, False).to_numpy(zero_copy_only=False)
    for index in np.flatnonzero(candidates):
        found[positions[index]] = contains_card_number(long_cells[int(index)].as_py())
    return found


def _to_utc(values: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(
        values.where(values.str.strip() != ""), utc=True, errors="coerce", format="ISO8601"
    )
    if parsed.isna().all() and values.str.strip().ne("").any():
        # Not ISO 8601 throughout (e.g. "2018-04-01 00:00:31" variants): let pandas infer.
        parsed = pd.to_datetime(values.where(values.str.strip() != ""), utc=True, errors="coerce")
    return parsed.dt.as_unit("us")


def read_transactions_csv(path, mapping=None, label_delay=DEFAULT_LABEL_DELAY):
    """The valid rows of a transaction CSV and the reasons for every rejected one."""
    mapping = dict(mapping or {})
    unknown = set(mapping) - set(CANONICAL_COLUMNS)
    if unknown:
        raise DatasetError(f"Unknown column(s) in mapping: {', '.join(sorted(unknown))}.")
    if not isinstance(label_delay, timedelta):
        label_delay = timedelta(days=float(label_delay))
    try:
        raw = read_strings(Path(path))
    except FileNotFoundError as error:
        raise DatasetError(f"No such file: {path}.") from error
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DatasetError(f"Cannot read {path} as a UTF-8 CSV with a header row: {error}") from error
    raw.columns = [str(c).strip().lstrip("\ufeff") for c in raw.columns]
    if any(contains_card_number(name) for name in raw.columns):
        raise DatasetError("A column name holds a card number, which is never stored; rename the column.")
    source = {ours: mapping.get(ours, ours) for ours in CANONICAL_COLUMNS}
    missing = [
        f"{ours} (as {source[ours]!r})" if ours in mapping else ours
        for ours in REQUIRED
        if source[ours] not in raw.columns
    ]
    if missing:
        raise DatasetError(
            f"Missing required column(s): {', '.join(missing)}. Found: {', '.join(raw.columns) or 'none'}."
        )
    used = set(source.values())
    return clean_frame(
        {ours: raw[col] for ours, col in source.items() if col in raw.columns},
        lines=np.arange(2, len(raw) + 2),
        label_delay=label_delay,
        other_columns={col: raw[col] for col in raw.columns if col not in used},
    )


def clean_frame(columns: dict, *, lines, label_delay=DEFAULT_LABEL_DELAY, other_columns=None):
    """Validate string columns (canonical names) into the clean frame; see the module doc.
    `other_columns` (the file's names) are not kept, only searched for card numbers: a batch
    keeps its uploaded file whole."""
    n = len(lines)
    text = {
        name: pd.Series(values, dtype=str).str.strip().reset_index(drop=True)
        for name, values in columns.items()
    }
    empty = pd.Series([""] * n, dtype=str)
    reasons = pd.Series([""] * n, dtype=object)

    def reject(mask, reason):
        mask = np.asarray(mask, dtype=bool) & (reasons.to_numpy() == "")
        reasons[mask] = reason

    # First, so that no other reason (a duplicate id is quoted) can repeat a card number.
    for name, values in [*text.items(), *(other_columns or {}).items()]:
        # A date-time in ISO shape is a date whatever its digits: "2025-01-01 00:37:51.445119"
        # reads, from the "37", as a Luhn-valid Amex number one time in ten.
        found = card_number_cells(values, unless=ISO_DATE_TIME if name in DATE_COLUMNS else None)
        if found.any():
            reject(found, CARD_NUMBER_REASON.format(column=name))

    for name in ("transaction_id", "card_id", "merchant_id"):
        reject(text[name] == "", f"{name} is missing")
        reject(text[name].str.len() > MAX_ID_LENGTH, f"{name} is longer than {MAX_ID_LENGTH} characters")

    occurred = _to_utc(text["occurred_at"])
    reject(text["occurred_at"] == "", "occurred_at is missing")
    # The rules every entry point shares (core.plausible): ASCII digits, nothing before the
    # earliest plausible date. The future is allowed in files (simulated periods).
    date_problems = plausible.occurred_at_column_problems(text["occurred_at"], occurred)
    for reason in date_problems.unique():
        if reason:
            reject(date_problems == reason, reason)
    reject(occurred.isna(), "occurred_at is not an ISO 8601 date-time")

    amount = pd.to_numeric(text["amount"].where(text["amount"] != ""), errors="coerce")
    reject(text["amount"] == "", "amount is missing")
    # ASCII digits, not negative (history may hold 0, as the CSV contract says), at most
    # TRANSACTIONS_MAX_AMOUNT; more than 2 decimals are rounded to cents below.
    amount_problems = plausible.amount_column_problems(text["amount"], amount)
    for reason in amount_problems.unique():
        if reason:
            reject(amount_problems == reason, reason)
    reject(amount.isna() | ~np.isfinite(amount.fillna(0)), "amount is not a number")

    label_text = text.get("is_fraud", empty).str.lower()
    label_map = {"": np.nan, **FLAG_VALUES}
    label = label_text.map(label_map)
    reject(~label_text.isin(list(label_map)), "is_fraud must be 0 or 1")

    declined_text = text.get("declined", empty).str.lower()
    declined_map = {"": 0, **FLAG_VALUES}
    declined = declined_text.map(declined_map)
    reject(~declined_text.isin(list(declined_map)), "declined must be 0 or 1")

    known_text = text.get("label_known_at", empty)
    known = (
        _to_utc(known_text)
        if known_text.ne("").any()
        else pd.Series(pd.NaT, index=range(n), dtype="datetime64[us, UTC]")
    )
    reject((known_text != "") & known.isna(), "label_known_at is not an ISO 8601 date-time")
    reject((known_text != "") & (label_text == ""), "label_known_at is given without is_fraud")

    ok = (reasons == "").to_numpy()
    ids = text["transaction_id"]
    duplicate = pd.Series(False, index=ids.index)
    duplicate[ok] = ids[ok].duplicated(keep="first")
    if duplicate.any():  # the first lines only when needed: grouping every id is not free
        first_line = (
            pd.Series(np.asarray(lines), index=ids.index)[ok].groupby(ids[ok], sort=False).transform("first")
        )
        for idx in np.flatnonzero(duplicate.to_numpy()):
            reasons[idx] = f"duplicate transaction_id {ids[idx]!r} (first on line {first_line[idx]})"

    ok = (reasons == "").to_numpy()
    frame = pd.DataFrame(
        {
            "transaction_id": ids,
            "occurred_at": occurred,
            "card_id": text["card_id"],
            "merchant_id": text["merchant_id"],
            "amount": amount.round(2) + 0.0,  # -0 reads as 0
            **{name: text.get(name, empty) for name in CONTEXT},
            "is_fraud": label.astype("Int8"),
            "label_known_at": known,
            "declined": declined.fillna(0).astype(np.int8),
        }
    )
    frame["country"] = frame["country"].str.upper()
    frame["channel"] = frame["channel"].str.lower()
    frame = frame[ok]
    fill = frame["is_fraud"].notna() & frame["label_known_at"].isna()
    frame.loc[fill, "label_known_at"] = frame.loc[fill, "occurred_at"] + label_delay
    frame.index = pd.Index(np.asarray(lines)[ok], name="line")
    rejected = [
        {"line": int(line), "reason": reason}
        for line, reason in zip(np.asarray(lines)[~ok], reasons[~ok], strict=True)
    ]
    return frame, rejected


def canonical_frame(frame: pd.DataFrame, *, label_delay=DEFAULT_LABEL_DELAY) -> pd.DataFrame:
    """Any frame with (at least) the required columns → canonical columns and types, without
    validation (for frames we produced ourselves: the simulator, the database)."""
    out = pd.DataFrame(index=frame.index)
    for name in REQUIRED:
        if name not in frame:
            raise DatasetError(f"Missing required column: {name}.")
    out["transaction_id"] = frame["transaction_id"].astype(str)
    out["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True).dt.as_unit("us")
    out["card_id"] = frame["card_id"].astype(str)
    out["merchant_id"] = frame["merchant_id"].astype(str)
    out["amount"] = pd.to_numeric(frame["amount"]).astype(float).round(2)
    for name in CONTEXT:
        out[name] = frame[name].astype(str).fillna("") if name in frame else ""
    out["is_fraud"] = (
        pd.to_numeric(frame["is_fraud"]).astype("Int8")
        if "is_fraud" in frame
        else pd.Series(pd.NA, index=frame.index, dtype="Int8")
    )
    if "label_known_at" in frame:
        out["label_known_at"] = pd.to_datetime(frame["label_known_at"], utc=True).dt.as_unit("us")
    else:
        out["label_known_at"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
    fill = out["is_fraud"].notna() & out["label_known_at"].isna()
    out.loc[fill, "label_known_at"] = out.loc[fill, "occurred_at"] + label_delay
    out["declined"] = (
        pd.to_numeric(frame["declined"]).fillna(0).astype(np.int8) if "declined" in frame else np.int8(0)
    )
    return out
