"""Behavioural features: one definition, two evaluators.

Every feature of a transaction at time *t* uses only what was known at *t*: transactions that
occurred strictly before *t* (``occurred_at < t``; others at the very same instant are not seen
either) and fraud labels known strictly before *t* (``label_known_at < t``; a fraud label
without a time counts as known ``label_delay`` after its transaction). Windows are half-open,
``[t - W, t)``. Times are UTC (hour of day, night and weekend too).

Attempts and charges. A card's earlier transaction was either **charged** or **declined**
(refused when it was attempted: ``declined`` = 1; a frame without that column has only
charges). The card's spending habits (counts, amounts, merchants and countries it uses) read
its charges only: a declined 4,999.99 attempt is not spending. Declined attempts are a
signal of their own (``card_declined_*``): several in an hour is what card testing and a
stolen card's first tries look like. The time since the previous attempt, known frauds and the
merchant's volumes count every attempt.

Features (in `FEATURE_NAMES` order)
-----------------------------------
* ``amount`` — the transaction's amount.
* ``card_count_W``, ``card_mean_amount_W``, ``card_max_amount_W`` for W in 1h, 1d, 7d, 30d —
  the card's earlier charges in the window (0 when there are none).
* ``amount_to_card_mean_30d`` — amount / the card's 30-day mean (1 without history, capped at
  1000); ``amount_zscore_30d`` — (amount − mean) / standard deviation over 30 days (0 with
  fewer than two earlier transactions or a spread under one cent; clipped to ±50).
* ``seconds_since_card_previous`` — since the card's previous attempt (charged or declined:
  how fast the card is being used), at most 30 days (also the value without one in the last 30
  days).
* ``card_declined_count_W`` for W in 1h, 1d, 7d — the card's declined attempts in the window;
  ``card_declined_max_amount_1d`` — the largest of them in the last day (0 without one);
  ``seconds_since_card_declined`` — since its latest one, at most 30 days.
* ``merchant_new_for_card`` — 1 when the card did not use this merchant in the last 30 days.
  (30 days, not all history: the online path then reads a bounded window.)
* ``card_known_frauds_30d`` — the card's transactions (charged or declined) of the last 30 days
  already known to be fraud.
* ``hour``, ``is_night`` (22:00–06:00), ``is_weekend`` — of the transaction's UTC time.
* ``merchant_count_W`` for W in 1d, 7d, 30d — the merchant's (terminal's) volume.
* ``merchant_fraud_rate_W`` — share of the merchant's transactions that are known fraud, over
  the W days that end one label delay before *t*: ``[t − D − W, t − D)``, counting frauds
  whose label was known before *t*. Shifting the window by the delay D means its labels are
  (mostly) known, as a fraud team would measure a terminal's risk. 0 without transactions.
* ``merchant_known_frauds_recent`` — frauds at the merchant in ``[t − D, t)`` already known
  before *t* (customer reports arrive faster than the delay).
* ``country_new_for_card`` — 1 when the transaction has a country and the card has charges in
  the last 30 days but none in this country (far-from-home / foreign use); 0 without country.
* ``channel_online``, ``channel_atm``, ``channel_contactless`` — 0/1 from the channel when
  present (all 0 for in-store or unknown).

No feature is ever NaN. The two evaluators share the window constants and `_finish` (the
per-row maths from window aggregates); amounts are summed in integer cents so both give the
same numbers bit for bit:

* `compute_features_frame(df, label_delay=D)` — offline over a whole history: sorted searches over (group,
  time) keys, prefix sums and a sparse table for window maxima; no Python loop per row.
* `compute_features_online(tx, history=..., label_delay=D)` — one transaction from a `HistorySource`: the card's
  last 30 days and the merchant's last 30 days + D.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

US = 1
SECOND = 1_000_000 * US
HOUR = 3600 * SECOND
DAY = 24 * HOUR
CARD_WINDOWS = {"1h": HOUR, "1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
DECLINED_WINDOWS = {"1h": HOUR, "1d": DAY, "7d": 7 * DAY}
MERCHANT_WINDOWS = {"1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
CARD_HISTORY = 30 * DAY  # how far back any card feature looks
NIGHT_START, NIGHT_END = 22, 6
MAX_RATIO, MAX_Z = 1000.0, 50.0
CHANNELS = ("online", "atm", "contactless")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def merchant_count_specs(delay_us: int) -> dict[str, tuple[int, int, bool]]:
    """The merchant's window counts, shared by every evaluator (offline, online from rows, and
    a history source that counts in SQL): name → (lo, hi, known frauds only), counting the
    merchant's transactions with occurred_at in [t + lo, t + hi) — and, when the flag is set,
    only frauds whose label was known before t (`label_known_at < t`, or without a time,
    occurred_at + delay < t)."""
    specs = {}
    for w, width in MERCHANT_WINDOWS.items():
        specs[f"merchant_n_{w}"] = (-width, 0, False)
    for w, width in MERCHANT_WINDOWS.items():
        specs[f"merchant_label_n_{w}"] = (-delay_us - width, -delay_us, False)
        specs[f"merchant_label_frauds_{w}"] = (-delay_us - width, -delay_us, True)
    specs["merchant_recent_frauds"] = (-delay_us, 0, True)
    return specs


FEATURE_NAMES = [
    "amount",
    *[f"card_{stat}_{w}" for w in CARD_WINDOWS for stat in ("count", "mean_amount", "max_amount")],
    "amount_to_card_mean_30d",
    "amount_zscore_30d",
    "seconds_since_card_previous",
    *[f"card_declined_count_{w}" for w in DECLINED_WINDOWS],
    "card_declined_max_amount_1d",
    "seconds_since_card_declined",
    "merchant_new_for_card",
    "card_known_frauds_30d",
    "hour",
    "is_night",
    "is_weekend",
    *[f"merchant_count_{w}" for w in MERCHANT_WINDOWS],
    *[f"merchant_fraud_rate_{w}" for w in MERCHANT_WINDOWS],
    "merchant_known_frauds_recent",
    "country_new_for_card",
    *[f"channel_{c}" for c in CHANNELS],
]


def _delay_us(label_delay) -> int:
    """The label delay (a timedelta or a number of days) in microseconds."""
    if not isinstance(label_delay, timedelta):
        label_delay = timedelta(days=float(label_delay))
    return label_delay // timedelta(microseconds=1)


def _cents(amounts) -> np.ndarray:
    return np.rint(np.asarray(amounts, dtype=np.float64) * 100).astype(np.int64)


def _us(values) -> np.ndarray:
    """UTC microseconds since the epoch; NaT becomes the smallest int64."""
    series = pd.to_datetime(pd.Series(values), utc=True)
    return series.dt.tz_localize(None).dt.as_unit("us").to_numpy().view(np.int64)


def _fraud_flags(is_fraud) -> np.ndarray:
    """1 → True; 0, missing or anything else → False (for ``is_fraud`` and ``declined``)."""
    column = is_fraud if isinstance(is_fraud, pd.Series) else pd.Series(is_fraud)
    if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
        column = pd.to_numeric(column, errors="coerce")
    return column.to_numpy(dtype=np.float64, na_value=np.nan) == 1


def _us_fast(column: pd.Series) -> np.ndarray:
    """`_us` without the general parsing, for columns that are already datetimes (online)."""
    dtype = column.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        # Epoch-based integers are UTC for aware columns; naive columns are UTC by convention.
        return np.asarray(column.array.as_unit("us").asi8, dtype=np.int64)
    return _us(column)


def _known_fraud(is_fraud, known_us, occurred_us, delay_us):
    """(is a fraud, when its label became known): unlabelled rows are not frauds."""
    fraud = (
        is_fraud if isinstance(is_fraud, np.ndarray) and is_fraud.dtype == bool else _fraud_flags(is_fraud)
    )
    known = np.where(known_us == np.iinfo(np.int64).min, occurred_us + delay_us, known_us)
    return fraud, known


def _finish(raw: dict, amount_c: np.ndarray, t: np.ndarray, channel) -> dict:
    """Features from window aggregates, for any number of rows (shared by both evaluators)."""
    out = {"amount": amount_c / 100.0}
    for w in CARD_WINDOWS:
        n, s = raw[f"card_n_{w}"], raw[f"card_sum_{w}"]
        out[f"card_count_{w}"] = n.astype(np.float64)
        out[f"card_mean_amount_{w}"] = np.where(n > 0, s / np.maximum(n, 1) / 100.0, 0.0)
        out[f"card_max_amount_{w}"] = np.where(n > 0, raw[f"card_max_{w}"] / 100.0, 0.0)
    n, s, ss = raw["card_n_30d"], raw["card_sum_30d"], raw["card_sumsq_30d"]
    safe_n = np.maximum(n, 1)
    mean_c = s / safe_n
    ratio = np.where(s > 0, amount_c / np.where(s > 0, mean_c, 1.0), np.where(amount_c > 0, MAX_RATIO, 1.0))
    out["amount_to_card_mean_30d"] = np.where(n > 0, np.minimum(ratio, MAX_RATIO), 1.0)
    std_c = np.sqrt(np.maximum(ss / safe_n - mean_c * mean_c, 0.0))
    z = np.where((n >= 2) & (std_c >= 1.0), (amount_c - mean_c) / np.maximum(std_c, 1.0), 0.0)
    out["amount_zscore_30d"] = np.clip(z, -MAX_Z, MAX_Z)
    gap = raw["card_gap_us"]
    out["seconds_since_card_previous"] = np.where(gap >= 0, gap, CARD_HISTORY) / SECOND
    for w in DECLINED_WINDOWS:
        out[f"card_declined_count_{w}"] = raw[f"declined_n_{w}"].astype(np.float64)
    out["card_declined_max_amount_1d"] = raw["declined_max_1d"] / 100.0
    gap = raw["declined_gap_us"]
    out["seconds_since_card_declined"] = np.where(gap >= 0, gap, CARD_HISTORY) / SECOND
    out["merchant_new_for_card"] = (raw["pair_n_30d"] == 0).astype(np.float64)
    out["card_known_frauds_30d"] = raw["card_known_frauds_30d"].astype(np.float64)
    hour = (t // HOUR) % 24
    out["hour"] = hour.astype(np.float64)
    out["is_night"] = ((hour >= NIGHT_START) | (hour < NIGHT_END)).astype(np.float64)
    out["is_weekend"] = (((t // DAY) + 3) % 7 >= 5).astype(np.float64)  # 1970-01-01 was a Thursday
    for w in MERCHANT_WINDOWS:
        out[f"merchant_count_{w}"] = raw[f"merchant_n_{w}"].astype(np.float64)
    for w in MERCHANT_WINDOWS:
        den, num = raw[f"merchant_label_n_{w}"], raw[f"merchant_label_frauds_{w}"]
        out[f"merchant_fraud_rate_{w}"] = np.where(den > 0, num / np.maximum(den, 1), 0.0)
    out["merchant_known_frauds_recent"] = raw["merchant_recent_frauds"].astype(np.float64)
    out["country_new_for_card"] = ((raw["country_n_30d"] == 0) & (n > 0)).astype(np.float64)
    channel = np.asarray(channel, dtype=object)
    for c in CHANNELS:
        out[f"channel_{c}"] = (channel == c).astype(np.float64)
    return out


# ---------------------------------------------------------------------------------------------
# Offline: a whole frame at once.


class _SortedKeys:
    """Items (group, value) sorted; `position(g, v)` is the index of the first item >= (g, v)
    in that order, as one searchsorted over an int64 composite key (in chunks of groups when
    the key would overflow)."""

    LIMIT = 1 << 62

    def __init__(self, groups, values):
        self.order = np.lexsort((values, groups))
        self.groups = groups[self.order]
        self.values = values[self.order]
        if self.values.size:
            self.base = int(self.values.min()) - 1
            self.top = int(self.values.max()) + 1
        else:
            self.base, self.top = 0, 1
        self.span = self.top - self.base + 1
        n_groups = int(self.groups.max()) + 1 if self.groups.size else 1
        per_chunk = max(1, self.LIMIT // self.span)
        self.chunks = []
        for g0 in range(0, n_groups, per_chunk):
            a, b = np.searchsorted(self.groups, [g0, g0 + per_chunk])
            key = (self.groups[a:b] - g0) * self.span + (self.values[a:b] - self.base)
            self.chunks.append((g0, g0 + per_chunk, a, key))

    def position(self, g, v):
        v = np.clip(v, self.base, self.top) - self.base
        if len(self.chunks) == 1:
            g0, _, a, key = self.chunks[0]
            return a + np.searchsorted(key, (g - g0) * self.span + v, side="left")
        out = np.empty(g.size, dtype=np.int64)
        for g0, g1, a, key in self.chunks:
            mine = (g >= g0) & (g < g1)
            out[mine] = a + np.searchsorted(key, (g[mine] - g0) * self.span + v[mine], side="left")
        return out

    def count_before(self, g, v):
        """How many items of group g have a value < v."""
        return self.position(g, v) - self.position(g, np.full(g.size, self.base))


def _range_max(values, lo, hi):
    """max(values[lo:hi]) per query (0 for empty ranges), with a sparse table."""
    length = hi - lo
    out = np.zeros(lo.size, dtype=values.dtype)
    longest = int(length.max()) if length.size else 0
    if longest <= 0:
        return out
    level = np.floor(np.log2(np.maximum(length, 1))).astype(np.int64)
    table = values.copy()
    for k in range(int(np.log2(longest)) + 1):
        if k:
            half = 1 << (k - 1)
            nxt = table.copy()
            nxt[:-half] = np.maximum(table[:-half], table[half:])
            table = nxt
        mine = (level == k) & (length > 0)
        if mine.any():
            out[mine] = np.maximum(table[lo[mine]], table[hi[mine] - (1 << k)])
    return out


def _gap_us(keys: _SortedKeys, lo, end, t):
    """t − the latest item in positions [lo, end) of `keys`, or -1 when there is none."""
    if not keys.values.size:
        return np.full(t.size, -1, dtype=np.int64)
    previous = keys.values[np.maximum(end - 1, 0)]
    return np.where(end > lo, t - previous, -1)


def _codes(*columns) -> np.ndarray:
    codes = None
    for column in columns:
        c, uniques = pd.factorize(
            np.asarray(column) if not isinstance(column, pd.Series) else column, sort=False
        )
        c = c.astype(np.int64)
        codes = c if codes is None else pd.factorize(codes * (len(uniques) + 1) + c)[0].astype(np.int64)
    return codes


def _interval_count(groups, starts, ends, g, t):
    """How many items have starts < t <= ends (for each query (g, t))."""
    keep = starts < ends
    if not keep.any():
        return np.zeros(g.size, dtype=np.int64)
    opened = _SortedKeys(groups[keep], starts[keep]).count_before(g, t)
    closed = _SortedKeys(groups[keep], ends[keep]).count_before(g, t)
    return opened - closed


def _text(df, name) -> np.ndarray:
    if name not in df:
        return np.full(len(df), "", dtype=object)
    # Factorised first: each distinct value becomes a Python string once, not once a row.
    codes, uniques = pd.factorize(df[name])
    labels = np.array([*(str(value) for value in uniques), ""], dtype=object)
    return labels[codes]  # a missing value's code, -1, picks the "" at the end


class _Queries:
    """The rows asked about, in (group, time) order: searching the sorted keys in that order
    reads them front to back instead of at random, several times faster over a million rows.
    `back` puts a result computed in that order back in the rows' order."""

    def __init__(self, g, t):
        self.order = np.lexsort((t, g))
        self.g = g[self.order]
        self.t = t[self.order]

    def back(self, values):
        out = np.empty_like(values)
        out[self.order] = values
        return out


def compute_features_frame(df: pd.DataFrame, *, label_delay, rows=None) -> pd.DataFrame:
    """Features of every row of a transaction frame (canonical columns; context optional), from
    the rows of the same frame before it. Same index as `df`, columns `FEATURE_NAMES`.

    `rows` (a boolean mask over `df`): only those rows' features, still read from every row
    before them; a backtest asks for its period's rows, the rest being their look-back."""
    delay = _delay_us(label_delay)
    n = len(df)
    at = slice(None) if rows is None else np.asarray(rows, dtype=bool)
    t = _us(df["occurred_at"])  # the Series: to_numpy() would box every value as a Timestamp
    amount_c = _cents(df["amount"])
    card = _codes(df["card_id"])
    merchant = _codes(df["merchant_id"])
    fraud, known = _known_fraud(
        df["is_fraud"] if "is_fraud" in df else np.zeros(n),
        _us(df["label_known_at"]) if "label_known_at" in df else np.full(n, np.iinfo(np.int64).min),
        t,
        delay,
    )
    declined = _fraud_flags(df["declined"]) if "declined" in df else np.zeros(n, dtype=bool)
    charged = ~declined
    # The rows asked about (queries), searched among every row (items); each grouping's
    # results are computed in its own query order, then put back.
    tq = t[at]
    raw = {}
    # The card's habits: its charges only.
    q = _Queries(card[at], tq)
    by_card = _SortedKeys(card[charged], t[charged])
    sorted_c = amount_c[charged][by_card.order]
    csum = np.r_[0, np.cumsum(sorted_c)]
    csq = np.r_[0.0, np.cumsum(sorted_c.astype(np.float64) ** 2)]
    end = by_card.position(q.g, q.t)
    for w, width in CARD_WINDOWS.items():
        lo = by_card.position(q.g, q.t - width)
        raw[f"card_n_{w}"] = q.back(end - lo)
        raw[f"card_sum_{w}"] = q.back(csum[end] - csum[lo])
        raw[f"card_max_{w}"] = q.back(_range_max(sorted_c, lo, end))
        if w == "30d":
            raw["card_sumsq_30d"] = q.back(csq[end] - csq[lo])
            # The gap is to the card's previous attempt, whatever its outcome: how fast it is
            # being used, not what it spent.
            by_attempt = _SortedKeys(card, t)
            raw["card_gap_us"] = q.back(
                _gap_us(by_attempt, by_attempt.position(q.g, q.t - width), by_attempt.position(q.g, q.t), q.t)
            )
    # Its declined attempts.
    by_declined = _SortedKeys(card[declined], t[declined])
    end = by_declined.position(q.g, q.t)
    for w, width in DECLINED_WINDOWS.items():
        lo = by_declined.position(q.g, q.t - width)
        raw[f"declined_n_{w}"] = q.back(end - lo)
        if w == "1d":
            raw["declined_max_1d"] = q.back(_range_max(amount_c[declined][by_declined.order], lo, end))
    raw["declined_gap_us"] = q.back(
        _gap_us(by_declined, by_declined.position(q.g, q.t - CARD_HISTORY), end, q.t)
    )
    raw["card_known_frauds_30d"] = q.back(
        _interval_count(card[fraud], np.maximum(known[fraud], t[fraud]), t[fraud] + CARD_HISTORY, q.g, q.t)
    )
    pair = _codes(df["card_id"], df["merchant_id"])
    by_pair = _SortedKeys(pair[charged], t[charged])
    q = _Queries(pair[at], tq)
    raw["pair_n_30d"] = q.back(by_pair.count_before(q.g, q.t) - by_pair.count_before(q.g, q.t - CARD_HISTORY))
    country = _text(df, "country")
    cc = _codes(df["card_id"], country)
    by_country = _SortedKeys(cc[charged], t[charged])
    q = _Queries(cc[at], tq)
    seen = q.back(by_country.count_before(q.g, q.t) - by_country.count_before(q.g, q.t - CARD_HISTORY))
    raw["country_n_30d"] = np.where(country[at] != "", seen, 1)
    by_merchant = _SortedKeys(merchant, t)
    q = _Queries(merchant[at], tq)
    tf = t[fraud]
    for name, (lo, hi, known_fraud_only) in merchant_count_specs(delay).items():
        if known_fraud_only:
            # occurred in [t + lo, t + hi) and known before t  <=>  max(known, occurred - hi) < t <= occurred - lo
            counts = _interval_count(merchant[fraud], np.maximum(known[fraud], tf - hi), tf - lo, q.g, q.t)
        else:
            counts = by_merchant.count_before(q.g, q.t + hi) - by_merchant.count_before(q.g, q.t + lo)
        raw[name] = q.back(counts)
    features = _finish(raw, amount_c[at], tq, _text(df, "channel")[at])
    # One block filled column by column: a dict of columns would be copied into one again.
    block = np.empty((len(FEATURE_NAMES), tq.size), dtype=np.float64)
    for i, name in enumerate(FEATURE_NAMES):
        block[i] = features[name]
    return pd.DataFrame(block.T, index=df.index[at], columns=FEATURE_NAMES, copy=False)


# ---------------------------------------------------------------------------------------------
# Online: one transaction from its history.


def history_windows(tx_time: datetime, *, label_delay) -> dict[str, tuple[datetime, datetime]]:
    """The periods the online features read: the card's last 30 days and the merchant's last
    30 days plus the label delay (the longest label window)."""
    delay = timedelta(microseconds=_delay_us(label_delay))
    return {
        "card": (tx_time - timedelta(microseconds=CARD_HISTORY), tx_time),
        "merchant": (tx_time - delay - timedelta(microseconds=MERCHANT_WINDOWS["30d"]), tx_time),
    }


def _when_us(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // timedelta(microseconds=1)


def _column(frame, name, default=""):
    if name not in frame:
        return np.full(len(frame), default, dtype=object)
    column = frame[name]
    if pd.api.types.is_string_dtype(column.dtype) and not column.isna().any():
        return column.to_numpy(dtype=object)
    return _text(frame, name)


@dataclass(frozen=True)
class HistoryWindow:
    """The columns of a history window the online features use, as numpy arrays. A history
    source may hand these out directly (`card_window` / `merchant_window`) to skip DataFrames."""

    occurred_us: np.ndarray  # int64 microseconds since the epoch, UTC
    amount_c: np.ndarray  # int64 cents
    merchant_id: np.ndarray  # object (str)
    country: np.ndarray  # object (str)
    fraud: np.ndarray  # bool
    known_us: np.ndarray  # int64, smallest int64 when the label time is missing
    declined: np.ndarray  # bool: refused when attempted (not a charge)

    @classmethod
    def empty(cls):
        ints, flags, texts = np.empty(0, dtype=np.int64), np.empty(0, dtype=bool), np.empty(0, dtype=object)
        return cls(ints, ints, texts, texts, flags, ints, flags)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame):
        if len(frame) == 0:
            return cls.empty()
        return cls(
            occurred_us=_us_fast(frame["occurred_at"]),
            amount_c=_cents(frame["amount"]),
            merchant_id=_column(frame, "merchant_id"),
            country=_column(frame, "country"),
            fraud=_fraud_flags(frame["is_fraud"]),
            known_us=_us_fast(frame["label_known_at"]),
            declined=_fraud_flags(frame["declined"]) if "declined" in frame else np.zeros(len(frame), bool),
        )

    @classmethod
    def from_rows(cls, rows):
        """From (occurred_at, amount, merchant_id, country, is_fraud, label_known_at, declined)
        tuples, as a database returns them (datetimes, Decimals, None for missing values)."""
        if not rows:
            return cls.empty()
        occurred, amount, merchant, country, fraud, known, declined = zip(*rows, strict=True)
        missing = np.iinfo(np.int64).min
        return cls(
            occurred_us=np.fromiter((_when_us(d) for d in occurred), dtype=np.int64, count=len(rows)),
            amount_c=_cents(np.array(amount, dtype=np.float64)),
            merchant_id=np.array([str(m) for m in merchant], dtype=object),
            country=np.array([c or "" for c in country], dtype=object),
            fraud=np.array([f is not None and int(f) == 1 for f in fraud], dtype=bool),
            known_us=np.fromiter(
                (missing if d is None else _when_us(d) for d in known), dtype=np.int64, count=len(rows)
            ),
            declined=np.array([bool(d) for d in declined], dtype=bool),
        )


def _read_window(history, kind, key, start, end) -> HistoryWindow:
    fast = getattr(history, f"{kind}_window", None)
    if fast is not None:
        return fast(key, start, end)
    return HistoryWindow.from_frame(getattr(history, f"{kind}_history")(key, start, end))


def compute_features_online(tx, *, history, label_delay) -> dict[str, float]:
    """Features of one `TransactionInput`, reading its card's and merchant's recent history
    from `history` (a `HistorySource`; its `card_window`, `merchant_window` or
    `merchant_counts` when it has them).
    Same values as `compute_features_frame`."""
    delay = _delay_us(label_delay)
    occurred = tx.occurred_at if tx.occurred_at.tzinfo else tx.occurred_at.replace(tzinfo=UTC)
    windows = history_windows(occurred, label_delay=timedelta(microseconds=delay))
    card = _read_window(history, "card", tx.card_id, *windows["card"])
    t = _when_us(occurred)
    raw = {}

    ct, c_amount, declined = card.occurred_us, card.amount_c, card.declined
    before = ct < t
    in_30 = (ct >= t - CARD_HISTORY) & before
    charged_30 = in_30 & ~declined
    for w, width in CARD_WINDOWS.items():
        mine = (ct >= t - width) & before & ~declined
        raw[f"card_n_{w}"] = np.array([int(mine.sum())])
        raw[f"card_sum_{w}"] = np.array([int(c_amount[mine].sum())])
        raw[f"card_max_{w}"] = np.array([int(c_amount[mine].max()) if mine.any() else 0])
    raw["card_sumsq_30d"] = np.array([float(np.sum(c_amount[charged_30].astype(np.float64) ** 2))])
    raw["card_gap_us"] = np.array([t - int(ct[in_30].max()) if in_30.any() else -1])
    for w, width in DECLINED_WINDOWS.items():
        mine = (ct >= t - width) & before & declined
        raw[f"declined_n_{w}"] = np.array([int(mine.sum())])
        if w == "1d":
            raw["declined_max_1d"] = np.array([int(c_amount[mine].max()) if mine.any() else 0])
    declined_30 = in_30 & declined
    raw["declined_gap_us"] = np.array([t - int(ct[declined_30].max()) if declined_30.any() else -1])
    raw["pair_n_30d"] = np.array([int((charged_30 & (card.merchant_id == str(tx.merchant_id))).sum())])
    country = str(tx.country or "")
    raw["country_n_30d"] = np.array([int((charged_30 & (card.country == country)).sum()) if country else 1])
    c_fraud, c_known = _known_fraud(card.fraud, card.known_us, ct, delay)
    raw["card_known_frauds_30d"] = np.array([int((in_30 & c_fraud & (c_known < t)).sum())])

    counts = getattr(history, "merchant_counts", None)
    if counts is not None:
        # The source counts in its own storage (e.g. SQL), from the same specs.
        raw.update(counts(tx.merchant_id, occurred, merchant_count_specs(delay)))
    else:
        merchant = _read_window(history, "merchant", tx.merchant_id, *windows["merchant"])
        mt = merchant.occurred_us
        m_fraud, m_known = _known_fraud(merchant.fraud, merchant.known_us, mt, delay)
        m_known_fraud = m_fraud & (m_known < t)
        for name, (lo, hi, known_fraud_only) in merchant_count_specs(delay).items():
            mine = (mt >= t + lo) & (mt < t + hi)
            raw[name] = np.array([int((mine & m_known_fraud).sum() if known_fraud_only else mine.sum())])

    features = _finish(raw, _cents([float(tx.amount)]), np.array([t]), [str(tx.channel or "")])
    return {name: float(features[name][0]) for name in FEATURE_NAMES}
