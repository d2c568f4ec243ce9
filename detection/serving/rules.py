"""Allow and block lists and the staff's rules, evaluated before the model.

Every kind of list entry and of rule is one class below, registered by its kind, with both of
its evaluations side by side: `matches(tx, history)` for one transaction inside a request, and
`mask(frame)` for a whole frame at once (batch scoring, backtests). The two must agree row by
row (`detection/tests/test_rule_parity.py`), so a change to one is a change to both.

Order, the same on both paths: allow list, block list, then the active rules by their order;
the first that matches decides. A rule in shadow never decides; a rule in rollout decides only
for the cards of its share (`buckets`: one bucket function for both paths), and `applies` /
`applies_mask` say so beside `matches` / `mask`. Online, `evaluate_with_trials` also tells what
each rule on trial would have changed (`Trial`), for the shadow verdicts.

Each process keeps the active lists and rules in memory for DETECTION_RULES_CACHE_SECONDS (and
drops them at once when this process saves one), so `decide()` does not query them per call.
"""

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import ClassVar

import numpy as np
import pandas as pd
from django.utils import timezone

from core.cache import on_clear_all
from detection import conf
from detection.contracts import Decision, HistorySource, TransactionInput
from detection.models import ListEntry, Mode, Rule
from detection.serving import buckets

ACTION_TO_DECISION = {
    Rule.Action.ALLOW: Decision.APPROVE,
    Rule.Action.REVIEW: Decision.REVIEW,
    Rule.Action.BLOCK: Decision.BLOCK,
}
LIST_SOURCE = {ListEntry.ListType.ALLOW: "allow_list", ListEntry.ListType.BLOCK: "block_list"}
LIST_DECISION = {ListEntry.ListType.ALLOW: Decision.APPROVE, ListEntry.ListType.BLOCK: Decision.BLOCK}


@dataclass(frozen=True)
class Hit:
    """Why a list or rule decided: recorded with the decision."""

    source: str  # "allow_list" | "block_list" | "rule"
    decision: Decision
    id: int
    name: str
    # A rule's kind and the values it matched on (detection.sentences.rule_detail words them); a
    # list entry's kind and value.
    kind: str = ""
    detail: dict = field(default_factory=dict)

    def as_dict(self):
        return {
            "source": self.source,
            "decision": self.decision,
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "detail": self.detail,
        }


def _text(frame: pd.DataFrame, column: str) -> pd.Series | None:
    """A text column of the frame, None when the frame does not have it."""
    return frame[column].astype(str) if column in frame else None


def _upper(frame: pd.DataFrame, column: str) -> pd.Series | None:
    values = _text(frame, column)
    return None if values is None else values.str.upper()


def _nowhere(frame: pd.DataFrame) -> np.ndarray:
    return np.zeros(len(frame), dtype=bool)


def _isin(values: pd.Series | None, allowed, frame) -> np.ndarray:
    if values is None or not allowed:
        return _nowhere(frame)
    return np.array(values.isin(allowed), dtype=bool)  # a copy: callers combine masks in place


class Check:
    """One list (of a type and kind) or one rule, as it decides a transaction or a frame."""

    source: str
    decision: Decision

    def matches(
        self, tx: TransactionInput, history: HistorySource | None = None, *, now: datetime | None = None
    ) -> Hit | None:
        raise NotImplementedError

    def mask(self, frame: pd.DataFrame, *, now: datetime | None = None) -> np.ndarray:
        """A boolean array over the rows of `frame`: where `matches` would return a hit."""
        raise NotImplementedError

    def applies(self, tx: TransactionInput) -> bool:
        """Whether this check decides for the transaction's card at all (a rollout's share)."""
        return True

    def applies_mask(self, frame: pd.DataFrame) -> np.ndarray | None:
        """`applies` for every row; None when it applies everywhere."""
        return None


# --- Lists ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListItem:
    id: int
    value: str
    reason: str
    expires_at: datetime | None

    def live(self, now) -> bool:
        return self.expires_at is None or self.expires_at > now


LIST_KINDS: dict[str, type["ListCheck"]] = {}  # in the order they are looked up


def register_list(cls):
    LIST_KINDS[cls.kind] = cls
    return cls


class ListCheck(Check):
    """The live entries of one list type (allow or block) for one kind of value."""

    kind: ClassVar[str]  # a ListEntry.Kind
    column: ClassVar[str]  # the frame's column holding the value

    def __init__(self, list_type: str, items: dict[str, ListItem]):
        self.list_type = list_type
        self.source = LIST_SOURCE[list_type]
        self.decision = LIST_DECISION[list_type]
        self.items = items  # by normalised value

    @classmethod
    def normalise(cls, value: str) -> str:
        return value

    @classmethod
    def value(cls, tx: TransactionInput) -> str:
        return cls.normalise(getattr(tx, cls.column) or "")

    @classmethod
    def values(cls, frame: pd.DataFrame) -> pd.Series | None:
        return _text(frame, cls.column)

    def matches(self, tx, history=None, *, now=None):
        value = self.value(tx)
        if not value:
            return None
        item = self.items.get(value)
        if item is None or not item.live(now if now is not None else timezone.now()):
            return None
        return Hit(
            self.source, self.decision, item.id, f"{self.kind}={item.value}", self.kind, {"note": item.reason}
        )

    def mask(self, frame, *, now=None):
        """`now` is one moment, or one per row (a backtest judges each entry's expiry at each
        transaction's time)."""
        now = now if now is not None else timezone.now()
        if isinstance(now, datetime):
            live = [value for value, item in self.items.items() if value and item.live(now)]
            return _isin(self.values(frame), live, frame)
        values = self.values(frame)
        hit = _isin(values, [value for value in self.items if value], frame)
        expiring = [(value, item.expires_at) for value, item in self.items.items() if item.expires_at]
        if expiring:
            moments = pd.DatetimeIndex(pd.to_datetime(now, utc=True))
            for value, expires_at in expiring:
                hit &= ~(np.asarray(values == value, dtype=bool) & (moments >= expires_at))
        return hit


@register_list
class CardFingerprintList(ListCheck):
    kind = ListEntry.Kind.CARD_FINGERPRINT
    column = "card_fingerprint"


@register_list
class CardIdList(ListCheck):
    kind = ListEntry.Kind.CARD_ID
    column = "card_id"


@register_list
class MerchantIdList(ListCheck):
    kind = ListEntry.Kind.MERCHANT_ID
    column = "merchant_id"


@register_list
class CountryList(ListCheck):
    """Countries compare in capitals, however the entry or the transaction spells them."""

    kind = ListEntry.Kind.COUNTRY
    column = "country"

    @classmethod
    def normalise(cls, value):
        return value.upper()

    @classmethod
    def values(cls, frame):
        return _upper(frame, cls.column)


# --- Rules ------------------------------------------------------------------------------------


RULE_KINDS: dict[str, type["RuleCheck"]] = {}


def register_rule(cls):
    RULE_KINDS[cls.kind] = cls
    return cls


class RuleCheck(Check):
    """One active rule; `detail` gives the values it matched on, None when it does not match."""

    kind: ClassVar[str]  # a Rule.Kind
    source = "rule"

    def __init__(
        self,
        *,
        id: int,
        name: str,
        action: str,
        amount: Decimal | None = None,
        max_count: int | None = None,
        window_minutes: int | None = None,
        values=(),
        mode: str = Mode.LIVE,
        rollout_percent: int | None = None,
    ):
        self.id, self.name, self.action = id, name, action
        self.mode, self.rollout_percent = mode, rollout_percent
        self.key = buckets.rule_key(id)
        self.decision = ACTION_TO_DECISION[action]
        self.amount, self.max_count, self.window_minutes = amount, max_count, window_minutes
        self.values = frozenset(values)

    @classmethod
    def from_model(cls, rule: Rule) -> "RuleCheck":
        return cls(
            id=rule.id,
            name=rule.name,
            action=rule.action,
            amount=rule.amount,
            max_count=rule.max_count,
            window_minutes=rule.window_minutes,
            values=rule.value_set,
            mode=rule.mode,
            rollout_percent=rule.rollout_percent,
        )

    @property
    def on_trial(self) -> bool:
        return self.mode != Mode.LIVE

    def applies(self, tx):
        if self.mode == Mode.ROLLOUT:
            return buckets.in_rollout(tx.card_id, self.key, self.rollout_percent or 0)
        return self.mode != Mode.SHADOW

    def applies_mask(self, frame):
        if self.mode == Mode.ROLLOUT:
            return buckets.in_rollout_mask(frame["card_id"], self.key, self.rollout_percent or 0)
        return _nowhere(frame) if self.mode == Mode.SHADOW else None

    def detail(self, tx: TransactionInput, history: HistorySource | None) -> dict | None:
        raise NotImplementedError

    def matches(self, tx, history=None, *, now=None):
        detail = self.detail(tx, history)
        if detail is None:
            return None
        return Hit(self.source, self.decision, self.id, self.name, self.kind, detail)


@register_rule
class AmountAbove(RuleCheck):
    """Amounts strictly over the limit; one exactly at it does not match. Online compares
    decimals, offline floats: the same order for amounts in cents."""

    kind = Rule.Kind.AMOUNT_ABOVE

    def detail(self, tx, history):
        if Decimal(str(tx.amount)) > self.amount:
            return {"amount": str(tx.amount), "limit": str(self.amount)}
        return None

    def mask(self, frame, *, now=None):
        return pd.to_numeric(frame["amount"]).to_numpy(dtype=float) > float(self.amount)


@register_rule
class CountryIn(RuleCheck):
    kind = Rule.Kind.COUNTRY_IN

    def detail(self, tx, history):
        if tx.country and tx.country.upper() in self.values:
            return {"country": tx.country.upper()}
        return None

    def mask(self, frame, *, now=None):
        return _isin(_upper(frame, "country"), self.values, frame)


@register_rule
class CategoryIn(RuleCheck):
    kind = Rule.Kind.CATEGORY_IN

    def detail(self, tx, history):
        if tx.merchant_category and tx.merchant_category.upper() in self.values:
            return {"category": tx.merchant_category}
        return None

    def mask(self, frame, *, now=None):
        return _isin(_upper(frame, "merchant_category"), self.values, frame)


def card_counts(frame: pd.DataFrame, minutes: int) -> np.ndarray:
    """For each row, the card's rows in the `minutes` before it (from the window's start
    inclusive to its own time exclusive), plus one for itself: what `Velocity.matches` counts
    in the card's history. Times compare exactly (as integers), as the database compares them.
    """
    n = len(frame)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    cards = pd.factorize(frame["card_id"])[0].astype(np.int64)
    times = pd.DatetimeIndex(pd.to_datetime(frame["occurred_at"], utc=True)).as_unit("ns").asi8
    # Times by their rank among the distinct times, so that (card, time) fits one int64 key
    # whatever the span and the precision.
    distinct, rank = np.unique(times, return_inverse=True)
    start_rank = np.searchsorted(distinct, times - minutes * 60_000_000_000, side="left")
    stride = len(distinct) + 1
    key = cards * stride + rank
    ordered = np.sort(key)
    before = np.searchsorted(ordered, key, side="left")  # strictly before this moment
    first = np.searchsorted(ordered, cards * stride + start_rank, side="left")
    return before - first + 1


@register_rule
class Velocity(RuleCheck):
    """More than N transactions of the card in the M minutes up to this one, this one included.
    Online it needs the card's history; without one it never matches."""

    kind = Rule.Kind.VELOCITY

    def count(self, tx: TransactionInput, history: HistorySource) -> int:
        start = tx.occurred_at - timedelta(minutes=self.window_minutes)
        return len(history.card_history(tx.card_id, start, tx.occurred_at)) + 1

    def detail(self, tx, history):
        if history is None:
            return None
        count = self.count(tx, history)
        if count > self.max_count:
            return {"count": count, "minutes": self.window_minutes}
        return None

    def mask(self, frame, *, now=None):
        return card_counts(frame, self.window_minutes) > self.max_count


# --- The active lists and rules, cached per process -------------------------------------------


class Snapshot:
    """The active lists and rules, as checks in the order they decide."""

    def __init__(self, entries=None, rules=None):
        """The active ones in the database, or the given list entries and rules (a backtest's
        configuration: unsaved ones included, ordered as the database would order them)."""
        if entries is None:
            entries = ListEntry.objects.filter(active=True).only(
                "id", "list_type", "kind", "value", "reason", "expires_at"
            )
        if rules is None:
            rules = Rule.objects.filter(active=True).order_by("order", "id")
        else:
            rules = sorted(rules, key=lambda rule: (rule.order, rule.id is None, rule.id or 0))
        items: dict[tuple[str, str], dict[str, ListItem]] = {}
        for entry in entries:
            kind = LIST_KINDS.get(entry.kind)
            if kind is not None and entry.list_type in LIST_SOURCE:
                items.setdefault((entry.list_type, entry.kind), {})[kind.normalise(entry.value)] = ListItem(
                    entry.id, entry.value, entry.reason, entry.expires_at
                )
        checks: list[Check] = [
            kind(list_type, items[list_type, kind.kind])
            for list_type in (ListEntry.ListType.ALLOW, ListEntry.ListType.BLOCK)
            for kind in LIST_KINDS.values()
            if (list_type, kind.kind) in items
        ]
        # A rule of a kind this code no longer knows never matches.
        rule_checks = [RULE_KINDS[rule.kind].from_model(rule) for rule in rules if rule.kind in RULE_KINDS]
        # Every check in the order it decides, rules in shadow included (for their verdicts).
        self.ordered: tuple[Check, ...] = (*checks, *rule_checks)
        # What decides: a rule in shadow never does, one in rollout for its cards (`applies`).
        self.checks: tuple[Check, ...] = tuple(
            c for c in self.ordered if getattr(c, "mode", "") != Mode.SHADOW
        )
        self.trials: tuple[RuleCheck, ...] = tuple(c for c in rule_checks if c.on_trial)


class _Cache:
    def __init__(self):
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._loaded_at = float("-inf")

    def get(self) -> Snapshot:
        if time.monotonic() - self._loaded_at >= conf.rules_cache_seconds() or self._snapshot is None:
            with self._lock:
                self._snapshot = Snapshot()
                self._loaded_at = time.monotonic()
        return self._snapshot

    def clear(self):
        self._loaded_at = float("-inf")
        self._snapshot = None


_cache = _Cache()


def snapshot() -> Snapshot:
    """The active lists and rules of this process (reloaded every DETECTION_RULES_CACHE_SECONDS)."""
    return _cache.get()


@on_clear_all
def clear_cache():
    _cache.clear()


def rules_changed(**kwargs):
    """Receiver of a saved or deleted list entry or rule (connected in DetectionConfig.ready):
    this process reads them again at once, others within DETECTION_RULES_CACHE_SECONDS."""
    _cache.clear()


# --- Evaluating ---------------------------------------------------------------------------------


def evaluate_lists_and_rules(
    tx: TransactionInput, *, history: HistorySource | None = None, now: datetime | None = None
) -> Hit | None:
    """The first list entry or rule that decides this transaction, or None (the model decides).
    List entries expire against `now` (default: the current time)."""
    now = now if now is not None else timezone.now()
    for check in snapshot().checks:
        if not check.applies(tx):
            continue
        hit = check.matches(tx, history, now=now)
        if hit is not None:
            return hit
    return None


@dataclass(frozen=True)
class Trial:
    """A rule on trial for one transaction: whether it decided for the card (a rollout's share),
    and the first list or rule that decides under the other arm (None: the model's bands)."""

    check: RuleCheck
    applied: bool
    hit: Hit | None


def evaluate_with_trials(
    tx: TransactionInput, *, history: HistorySource | None = None, now: datetime | None = None
) -> tuple[Hit | None, list[Trial]]:
    """`evaluate_lists_and_rules`, and for each rule in shadow or rollout what would have decided
    with that rule switched to the other arm (applied where it was not, left out where it was).
    Each list and rule is matched at most once."""
    snap = snapshot()
    if not snap.trials:
        return evaluate_lists_and_rules(tx, history=history, now=now), []
    now = now if now is not None else timezone.now()
    matched: dict[int, Hit | None] = {}

    def first(applied) -> Hit | None:
        for check in snap.ordered:
            if applied.get(id(check), True):
                if id(check) not in matched:
                    matched[id(check)] = check.matches(tx, history, now=now)
                if matched[id(check)] is not None:
                    return matched[id(check)]
        return None

    arms = {id(check): check.applies(tx) for check in snap.trials}
    hit = first(arms)
    trials = [
        Trial(check, arms[id(check)], first({**arms, id(check): not arms[id(check)]}))
        for check in snap.trials
    ]
    return hit, trials


def evaluate_lists_and_rules_frame(frame: pd.DataFrame, *, now: datetime | None = None):
    """`evaluate_lists_and_rules` for every row of a frame, the velocity rules counting the
    frame's rows as the history. Returns (decision or "", source or "") as object arrays."""
    decision, source, _ = evaluate_checks_frame(snapshot().checks, frame, now=now)
    return decision, source


def evaluate_checks_frame(checks, frame: pd.DataFrame, *, now=None):
    """The first of `checks` (in their order) that decides each row of the frame: (decision or
    "", source or "", the index in `checks` or -1). `now`: one moment or one per row."""
    now = now if now is not None else timezone.now()
    n = len(frame)
    decision = np.full(n, "", dtype=object)
    source = np.full(n, "", dtype=object)
    which = np.full(n, -1, dtype=np.int64)
    open_rows = np.ones(n, dtype=bool)
    for index, check in enumerate(checks):
        if not open_rows.any():
            break
        hit = check.mask(frame, now=now) & open_rows
        gate = check.applies_mask(frame)
        if gate is not None:
            hit &= gate
        decision[hit], source[hit], which[hit] = check.decision.value, check.source, index
        open_rows &= ~hit
    return decision, source, which
