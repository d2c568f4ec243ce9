"""A seeded, vectorised simulator of card transactions with realistic fraud.

Legitimate behaviour
--------------------
* **Customers (cards)** live at a home location on a 100 × 100 map, in the home country (90 %)
  or one of a few others. Each has a spending habit: a mean amount (5–150), a standard deviation
  (a third to two thirds of the mean) and a rate of transactions per day (0.3–4). Each card uses
  the ~30 merchants nearest to its home, nearer ones more often, plus online merchants (15 %).
* **Merchants (terminals)** sit at random locations with a category (MCC) whose typical ticket
  scales the card's amount (groceries 0.7×, restaurants 0.8×, fuel 1×, electronics 2.5×, travel
  3×, ATM 1.5× in round amounts …), a country (mostly the home country), and a channel (in
  store / contactless, online for e-commerce categories, ATM for cash).
* **Rhythms**: more transactions on weekdays than at weekends (weekend factor 0.8), times of
  day drawn around 13:00 (σ ≈ 4 h) so nights (22:00–06:00) are quiet.

Fraud patterns (all switchable, each from a chosen day on; see `DEFAULT_PATTERNS`)
--------------------------------------------------------------------------------------
* ``compromised_terminal`` — a few terminals a day are compromised for 14–28 days: *every*
  transaction at them in that period is fraud (skimmers). Visible through the merchant's fraud
  rate once labels are known.
* ``stolen_card`` — a card is stolen and used in a burst: 3–10 extra transactions within a few
  hours, amounts 3–10× the card's usual, at merchants it never used (often online, often at
  night).
* ``card_testing`` — 5–20 tiny amounts (0.50–3.00) at one online merchant within minutes,
  often ending with one large purchase.
* ``large_amount`` — a single purchase far above the card's habits (8–25× its mean, at least
  400) at an electronics or travel merchant.
* ``compromised_card`` — for 14 days, a third of the card's own transactions are inflated 3–6×
  (account takeover; same merchants, unusual amounts).
* ``foreign_use`` — the card is used abroad: 1–4 transactions in a foreign country far from home,
  moderate-to-high amounts.
* ``atm_cashout`` — **off by default**: a new pattern for retraining demos. 3–8 round ATM
  withdrawals (100–500) at night within an hour, at ATMs in the card's own country. Turn it on
  from a given day with ``simulate(..., patterns={"atm_cashout": {"start_day": 60}})``: a model
  trained before that day has never seen fraud at ATMs, one retrained after it has.

Declined attempts
-----------------
``declined`` is 1 for an attempt the bank's controls of the time refused (insufficient funds, a
limit, a wrong CVV, the issuer's own rules), so it was never charged: about 1 % of legitimate
payments (10 % of those above three times the card's mean amount), and a share of each fraud
pattern's attempts (half of card testing's, over a third of a stolen card's and of large
amounts, a quarter abroad, few at compromised terminals; `DECLINED_SHARE`). The draws come from
their own random stream: every other column is what the same seed gave before the column existed.

Labels
------
``is_fraud`` is 1 for fraud. ``label_known_at`` is when the label became known: frauds are
reported after 1 hour to 14 days (median about 3 days; stolen-card bursts and card testing are
noticed fastest), legitimate rows are considered known after the label delay (7 days), as a bank
treats a transaction nobody disputed.

Fraud rate: about 0.6 % of transactions with the default patterns (0.59–0.64 % over seeds with
2,000 cards and merchants for 120 days; 0.61 % with 5,000 of each for 180 days; lower in small
worlds with few transactions per terminal; `docs/model.md` records figures). 10,000
transactions/day for 5,000 cards over 180 days (≈ 1.9 M rows) generates in about 6–11 s:
everything is numpy arrays, no Python loop per transaction.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

CANONICAL_COLUMNS = [
    "transaction_id",
    "occurred_at",
    "card_id",
    "merchant_id",
    "amount",
    "currency",
    "merchant_category",
    "channel",
    "country",
    "is_fraud",
    "label_known_at",
    "declined",
]

DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)
LABEL_DELAY = timedelta(days=7)
HOME_COUNTRY = "FR"
OTHER_COUNTRIES = np.array(["DE", "ES", "IT", "BE", "GB"])
FAR_COUNTRIES = np.array(["US", "BR", "NG", "TH", "RU", "CN", "MX"])
US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000

# MCC, name, amount multiplier, share of merchants, channel kind (0 physical, 1 online, 2 ATM)
CATEGORIES = [
    ("5411", "groceries", 0.7, 0.22, 0),
    ("5812", "restaurants", 0.8, 0.18, 0),
    ("5541", "fuel", 1.0, 0.10, 0),
    ("5311", "department_store", 1.4, 0.10, 0),
    ("5732", "electronics", 2.5, 0.06, 0),
    ("5912", "pharmacy", 0.6, 0.08, 0),
    ("4111", "transport", 0.5, 0.06, 0),
    ("5999", "online_retail", 1.2, 0.08, 1),
    ("5818", "digital_goods", 0.4, 0.04, 1),
    ("4722", "travel", 3.0, 0.03, 1),
    ("6011", "atm", 1.5, 0.05, 2),
]
MCC = np.array([c[0] for c in CATEGORIES])
CAT_MULT = np.array([c[2] for c in CATEGORIES])
CAT_SHARE = np.array([c[3] for c in CATEGORIES]) / sum(c[3] for c in CATEGORIES)
CAT_KIND = np.array([c[4] for c in CATEGORIES])
ELECTRONICS, TRAVEL, ATM = 4, 9, 10


# The share of attempts refused when they were made, by fraud pattern ("" for legitimate rows).
DECLINED_SHARE = {
    "": 0.01,
    "compromised_terminal": 0.02,
    "stolen_card": 0.35,
    "card_testing": 0.5,
    "large_amount": 0.4,
    "compromised_card": 0.1,
    "foreign_use": 0.25,
    "atm_cashout": 0.15,
}
# Legitimate payments above this many times the card's mean amount are refused more often
# (funds, limits).
UNUSUAL_AMOUNT, UNUSUAL_AMOUNT_DECLINED = 3.0, 0.10


@dataclass
class Pattern:
    """A fraud pattern: `rate` is its expected number of new cases per 10,000 cards (or per
    10,000 terminals for compromised terminals) per day, active on days [start_day, end_day)."""

    rate: float
    enabled: bool = True
    start_day: int = 0
    end_day: int | None = None


DEFAULT_PATTERNS: dict[str, Pattern] = {
    "compromised_terminal": Pattern(rate=1.5),
    "stolen_card": Pattern(rate=3.0),
    "card_testing": Pattern(rate=1.2),
    "large_amount": Pattern(rate=5.0),
    "compromised_card": Pattern(rate=1.5),
    "foreign_use": Pattern(rate=4.0),
    "atm_cashout": Pattern(rate=3.0, enabled=False),
}


def _patterns(overrides) -> dict[str, Pattern]:
    patterns = copy.deepcopy(DEFAULT_PATTERNS)
    for name, change in (overrides or {}).items():
        if name not in patterns:
            raise ValueError(f"Unknown fraud pattern {name!r}; known: {', '.join(patterns)}.")
        if isinstance(change, bool):
            change = {"enabled": change}
        elif isinstance(change, Pattern):
            change = vars(change)
        for key, value in change.items():
            if not hasattr(patterns[name], key):
                raise ValueError(f"Unknown setting {key!r} for fraud pattern {name!r}.")
            setattr(patterns[name], key, value)
        # Naming a pattern with a start day is asking for it.
        if "enabled" not in change:
            patterns[name].enabled = True
    return patterns


class _World:
    def __init__(self, rng, n_customers, n_merchants):
        self.n_customers, self.n_merchants = n_customers, n_merchants
        # Customers
        self.home = rng.uniform(0, 100, size=(n_customers, 2))
        self.country = np.where(
            rng.random(n_customers) < 0.9, HOME_COUNTRY, rng.choice(OTHER_COUNTRIES, n_customers)
        )
        self.mean_amount = rng.uniform(5, 150, n_customers)
        self.std_amount = self.mean_amount * rng.uniform(0.33, 0.66, n_customers)
        self.per_day = rng.uniform(0.3, 4.0, n_customers)
        # Merchants
        self.loc = rng.uniform(0, 100, size=(n_merchants, 2))
        self.cat = rng.choice(len(CATEGORIES), size=n_merchants, p=CAT_SHARE)
        self.kind = CAT_KIND[self.cat]
        self.m_country = np.where(
            rng.random(n_merchants) < 0.92, HOME_COUNTRY, rng.choice(OTHER_COUNTRIES, n_merchants)
        )
        self.physical = np.flatnonzero(self.kind != 1)
        self.online = np.flatnonzero(self.kind == 1)
        if self.online.size == 0:
            self.online = np.arange(n_merchants)
        self.atms = np.flatnonzero(self.kind == 2)
        if self.atms.size == 0:
            self.atms = self.physical if self.physical.size else np.arange(n_merchants)
        # Merchants abroad, far from any home: where "foreign use" happens.
        n_far = max(5, n_merchants // 50)
        self.far_loc = rng.uniform(300, 1000, size=(n_far, 2))
        self.far_country = rng.choice(FAR_COUNTRIES, n_far)
        self.far_cat = rng.choice(len(CATEGORIES), size=n_far, p=CAT_SHARE)
        # Each card's usual physical merchants: the nearest ones.
        from scipy.spatial import cKDTree

        pool = self.physical if self.physical.size else np.arange(n_merchants)
        k = min(30, pool.size)
        _, nearest = cKDTree(self.loc[pool]).query(self.home, k=k)
        self.nearest = pool[np.asarray(nearest).reshape(n_customers, k)]


def _time_of_day_us(rng, n):
    """Microseconds into the day: mostly daytime, a thin tail at night."""
    hours = np.where(rng.random(n) < 0.92, rng.normal(13.5, 3.8, n), rng.uniform(0, 24, n)) % 24
    return (hours * US_PER_HOUR).astype(np.int64)


def _night_time_us(rng, n):
    hours = rng.uniform(22, 30, n) % 24
    return (hours * US_PER_HOUR).astype(np.int64)


def _cents(x):
    return np.round(np.maximum(x, 0.01), 2)


def _frame(world, card, merchant_idx, t_us, amount, channel, country, category, fraud, pattern):
    n = np.asarray(card).size
    return {
        "card": np.asarray(card, dtype=np.int64),
        "merchant": np.asarray(merchant_idx, dtype=np.int64),
        "t": np.asarray(t_us, dtype=np.int64),
        "amount": _cents(np.asarray(amount, dtype=float)),
        "channel": np.asarray(channel, dtype=object),
        "country": np.asarray(country, dtype=object),
        "category": np.asarray(category, dtype=object),
        "fraud": np.broadcast_to(np.asarray(fraud, dtype=bool), n).copy(),
        "pattern": np.broadcast_to(np.asarray(pattern, dtype=object), n).copy(),
    }


def _channel_for(rng, kind):
    physical = np.where(rng.random(kind.size) < 0.45, "contactless", "in_store")
    return np.where(kind == 1, "online", np.where(kind == 2, "atm", physical)).astype(object)


def _starts(rng, pattern: Pattern, n_days, population):
    """Day index of each new case of a pattern (Poisson per day over the active days)."""
    if not pattern.enabled or pattern.rate <= 0:
        return np.empty(0, dtype=np.int64)
    end = n_days if pattern.end_day is None else min(pattern.end_day, n_days)
    days = np.arange(max(0, pattern.start_day), max(0, end))
    counts = rng.poisson(pattern.rate * population / 10_000, size=days.size)
    return np.repeat(days, counts)


def _merchant_rows(world, rng, merchant_idx):
    kind = world.kind[merchant_idx]
    return (
        _channel_for(rng, kind),
        world.m_country[merchant_idx],
        MCC[world.cat[merchant_idx]],
    )


def simulate(
    *,
    customers: int = 2000,
    merchants: int = 2000,
    days: int = 30,
    seed: int = 0,
    start: datetime | None = None,
    patterns: dict | None = None,
    label_delay: timedelta = LABEL_DELAY,
) -> pd.DataFrame:
    """A labelled transaction history in the canonical columns, sorted by time, plus
    ``fraud_pattern`` (the pattern behind each fraud, "" for legitimate rows).

    `patterns` overrides `DEFAULT_PATTERNS` by name: ``{"atm_cashout": {"start_day": 60}}``
    turns a pattern on from day 60; ``{"stolen_card": False}`` turns one off; ``rate`` and
    ``end_day`` may be set too. The same arguments always give the same rows.
    """
    if customers < 1 or merchants < 1 or days < 1:
        raise ValueError("customers, merchants and days must all be at least 1.")
    active = _patterns(patterns)
    start = DEFAULT_START if start is None else start
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    rng = np.random.default_rng(seed)
    world = _World(rng, customers, merchants)
    parts = [_legitimate(world, rng, days, start.weekday())]

    generators = {
        "compromised_terminal": _compromised_terminal,
        "stolen_card": _stolen_card,
        "card_testing": _card_testing,
        "large_amount": _large_amount,
        "compromised_card": _compromised_card,
        "foreign_use": _foreign_use,
        "atm_cashout": _atm_cashout,
    }
    for name, generate in generators.items():
        population = merchants if name == "compromised_terminal" else customers
        case_days = _starts(rng, active[name], days, population)
        if case_days.size:
            part = generate(world, rng, case_days, parts[0], days)
            if part is not None:
                parts.append(part)

    data = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    frame = _finish(world, rng, data, start, days, label_delay)
    frame["declined"] = _declined(world, np.random.default_rng([seed, 1]), frame)
    return frame[[*CANONICAL_COLUMNS, "fraud_pattern"]]


def _declined(world, rng, frame) -> np.ndarray:
    """Which attempts the controls of the time refused (`DECLINED_SHARE`)."""
    pattern = frame["fraud_pattern"].astype(str).to_numpy()
    share = pd.Series(pattern).map(DECLINED_SHARE).fillna(DECLINED_SHARE[""]).to_numpy()
    usual = world.mean_amount[frame["card_id"].cat.codes.to_numpy()]
    unusual = (pattern == "") & (frame["amount"].to_numpy() > UNUSUAL_AMOUNT * usual)
    share = np.where(unusual, UNUSUAL_AMOUNT_DECLINED, share)
    return (rng.random(len(frame)) < share).astype(np.int8)


def _legitimate(world, rng, days, first_weekday):
    weekday = (np.arange(days) + first_weekday) % 7
    factor = np.where(weekday >= 5, 0.8, 1.07)
    counts = rng.poisson(np.outer(factor, world.per_day))  # days × customers
    total = int(counts.sum())
    day = np.repeat(np.arange(days), counts.sum(axis=1))
    card = np.repeat(np.tile(np.arange(world.n_customers), days), counts.ravel())
    t = day * US_PER_DAY + _time_of_day_us(rng, total)
    # Merchant: a near one (nearer ones more often) or an online one.
    k = world.nearest.shape[1]
    rank = np.minimum((rng.exponential(k / 3.0, total)).astype(np.int64), k - 1)
    merchant = world.nearest[card, rank]
    online = rng.random(total) < 0.15
    merchant[online] = rng.choice(world.online, int(online.sum()))
    cat = world.cat[merchant]
    amount = rng.normal(world.mean_amount[card], world.std_amount[card]) * CAT_MULT[cat]
    amount = np.abs(amount) + 0.5
    atm = world.kind[merchant] == 2
    amount[atm] = np.maximum(20, np.round(amount[atm] / 20) * 20)
    channel, country, category = _merchant_rows(world, rng, merchant)
    return _frame(world, card, merchant, t, amount, channel, country, category, np.zeros(total), "")


def _compromised_terminal(world, rng, case_days, legit, days):
    # Mark in place: every legitimate transaction at the terminal during the period is fraud.
    terminals = rng.integers(0, world.n_merchants, case_days.size)
    length = rng.integers(14, 29, case_days.size)
    order = np.argsort(legit["merchant"], kind="stable")
    merchants_sorted = legit["merchant"][order]
    for terminal, first, n in zip(terminals, case_days, length, strict=True):  # a few per day, not per tx
        lo, hi = np.searchsorted(merchants_sorted, [terminal, terminal + 1])
        rows = order[lo:hi]
        t = legit["t"][rows]
        hit = rows[(t >= first * US_PER_DAY) & (t < (first + n) * US_PER_DAY)]
        legit["fraud"][hit] = True
        legit["pattern"][hit] = "compromised_terminal"
    return None


def _stolen_card(world, rng, case_days, legit, days):
    cases = case_days.size
    cards = rng.integers(0, world.n_customers, cases)
    sizes = rng.integers(3, 11, cases)
    card = np.repeat(cards, sizes)
    n = card.size
    night = rng.random(cases) < 0.5
    t0 = case_days * US_PER_DAY + np.where(night, _night_time_us(rng, cases), _time_of_day_us(rng, cases))
    t = np.repeat(t0, sizes) + rng.integers(0, 4 * US_PER_HOUR, n)
    online = rng.random(n) < 0.6
    merchant = np.where(
        online,
        rng.choice(world.online, n),
        rng.choice(world.physical if world.physical.size else world.online, n),
    )
    amount = world.mean_amount[card] * rng.uniform(3, 10, n)
    channel, country, category = _merchant_rows(world, rng, merchant)
    return _frame(world, card, merchant, t, amount, channel, country, category, np.ones(n), "stolen_card")


def _card_testing(world, rng, case_days, legit, days):
    cases = case_days.size
    cards = rng.integers(0, world.n_customers, cases)
    sizes = rng.integers(5, 21, cases)
    card = np.repeat(cards, sizes)
    n = card.size
    t0 = case_days * US_PER_DAY + _time_of_day_us(rng, cases)
    t = np.repeat(t0, sizes) + rng.integers(0, 10 * 60_000_000, n)  # within ten minutes
    merchant = np.repeat(rng.choice(world.online, cases), sizes)
    amount = rng.uniform(0.5, 3.0, n)
    # Often the test is followed by the real purchase.
    follow = rng.random(cases) < 0.6
    f_card = cards[follow]
    f_t = t0[follow] + 15 * 60_000_000 + rng.integers(0, US_PER_HOUR, f_card.size)
    f_merchant = rng.choice(world.online, f_card.size)
    f_amount = rng.uniform(200, 1500, f_card.size)
    card = np.r_[card, f_card]
    t = np.r_[t, f_t]
    merchant = np.r_[merchant, f_merchant]
    amount = np.r_[amount, f_amount]
    channel, country, category = _merchant_rows(world, rng, merchant)
    return _frame(
        world, card, merchant, t, amount, channel, country, category, np.ones(card.size), "card_testing"
    )


def _large_amount(world, rng, case_days, legit, days):
    n = case_days.size
    card = rng.integers(0, world.n_customers, n)
    big = np.flatnonzero(np.isin(world.cat, [ELECTRONICS, TRAVEL]))
    pool = big if big.size else np.arange(world.n_merchants)
    merchant = rng.choice(pool, n)
    t = case_days * US_PER_DAY + _time_of_day_us(rng, n)
    amount = np.maximum(400, world.mean_amount[card] * rng.uniform(8, 25, n))
    channel, country, category = _merchant_rows(world, rng, merchant)
    return _frame(world, card, merchant, t, amount, channel, country, category, np.ones(n), "large_amount")


def _compromised_card(world, rng, case_days, legit, days):
    # In place: a third of the card's own transactions for 14 days are inflated and fraud.
    cards = rng.integers(0, world.n_customers, case_days.size)
    order = np.argsort(legit["card"], kind="stable")
    cards_sorted = legit["card"][order]
    for card, first in zip(cards, case_days, strict=True):  # a few cases per day, not per tx
        lo, hi = np.searchsorted(cards_sorted, [card, card + 1])
        rows = order[lo:hi]
        t = legit["t"][rows]
        rows = rows[(t >= first * US_PER_DAY) & (t < (first + 14) * US_PER_DAY) & ~legit["fraud"][rows]]
        hit = rows[rng.random(rows.size) < 1 / 3]
        legit["amount"][hit] = _cents(legit["amount"][hit] * rng.uniform(3, 6, hit.size))
        legit["fraud"][hit] = True
        legit["pattern"][hit] = "compromised_card"
    return None


def _foreign_use(world, rng, case_days, legit, days):
    cases = case_days.size
    cards = rng.integers(0, world.n_customers, cases)
    sizes = rng.integers(1, 5, cases)
    card = np.repeat(cards, sizes)
    n = card.size
    far = np.repeat(rng.integers(0, world.far_loc.shape[0], cases), sizes)
    t = np.repeat(case_days * US_PER_DAY + _time_of_day_us(rng, cases), sizes) + rng.integers(
        0, 6 * US_PER_HOUR, n
    )
    amount = world.mean_amount[card] * rng.uniform(1.5, 6, n) * CAT_MULT[world.far_cat[far]]
    kind = CAT_KIND[world.far_cat[far]]
    channel = _channel_for(rng, kind)
    # Foreign terminals get their own ids after the home merchants.
    merchant = world.n_merchants + far
    country = world.far_country[far]
    category = MCC[world.far_cat[far]]
    return _frame(world, card, merchant, t, amount, channel, country, category, np.ones(n), "foreign_use")


def _atm_cashout(world, rng, case_days, legit, days):
    cases = case_days.size
    cards = rng.integers(0, world.n_customers, cases)
    sizes = rng.integers(3, 9, cases)
    card = np.repeat(cards, sizes)
    n = card.size
    t = np.repeat(case_days * US_PER_DAY + _night_time_us(rng, cases), sizes) + rng.integers(
        0, US_PER_HOUR, n
    )
    merchant = rng.choice(world.atms, n)
    amount = rng.integers(1, 6, n) * 100.0
    channel, country, category = _merchant_rows(world, rng, merchant)
    channel = np.full(n, "atm", dtype=object)
    return _frame(world, card, merchant, t, amount, channel, country, category, np.ones(n), "atm_cashout")


def _finish(world, rng, data, start, days, label_delay):
    t = data["t"]
    keep = (t >= 0) & (t < days * US_PER_DAY)
    data = {key: value[keep] for key, value in data.items()}
    order = np.lexsort((data["card"], data["t"]))
    data = {key: value[order] for key, value in data.items()}
    n = data["t"].size
    start_us = (start - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    occurred = data["t"] + start_us

    fraud = data["fraud"]
    delay = np.full(n, int(label_delay / timedelta(microseconds=1)), dtype=np.int64)
    # Fraud is reported after 1 h to 14 days; fast patterns get noticed faster.
    report_days = np.clip(rng.lognormal(np.log(3.0), 0.9, n), 1 / 24, 14)
    fast = np.isin(data["pattern"], ["stolen_card", "card_testing"])
    report_days[fast] /= 3
    delay[fraud] = (np.maximum(report_days[fraud], 1 / 24) * US_PER_DAY).astype(np.int64)

    width = max(7, len(str(n)))
    n_merchants = world.n_merchants + world.far_loc.shape[0]
    # Categoricals: building millions of Python strings is what would make this slow.
    frame = pd.DataFrame(
        {
            "transaction_id": pd.Categorical.from_codes(
                np.arange(n), categories=[f"T{i:0{width}d}" for i in range(1, n + 1)]
            ),
            "occurred_at": pd.to_datetime(occurred, unit="us", utc=True),
            "card_id": pd.Categorical.from_codes(
                data["card"], categories=[f"C{i:06d}" for i in range(world.n_customers)]
            ),
            "merchant_id": pd.Categorical.from_codes(
                data["merchant"], categories=[f"M{i:06d}" for i in range(n_merchants)]
            ),
            "amount": data["amount"],
            "currency": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=["EUR"]),
            "merchant_category": pd.Categorical(data["category"]),
            "channel": pd.Categorical(data["channel"]),
            "country": pd.Categorical(data["country"]),
            "is_fraud": fraud.astype(np.int8),
            "label_known_at": pd.to_datetime(occurred + delay, unit="us", utc=True),
            "fraud_pattern": pd.Categorical(data["pattern"].astype(str)),
        }
    )
    return frame


def write_csv(frame: pd.DataFrame, path, *, chunksize: int = 200_000) -> None:
    """The canonical CSV: ISO 8601 times in UTC, amounts with two decimals."""
    out = frame[CANONICAL_COLUMNS].copy()
    for column in ("occurred_at", "label_known_at"):
        out[column] = out[column].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    out.to_csv(path, index=False, float_format="%.2f", chunksize=chunksize)


def pattern_summary(frame: pd.DataFrame) -> dict:
    """Fraudulent transactions by pattern (from the frame `simulate()` returned)."""
    patterns = frame["fraud_pattern"].astype(str)
    counts = patterns[patterns != ""].value_counts().sort_index()
    return {str(k): int(v) for k, v in counts.items()}
