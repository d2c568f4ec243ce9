"""Allow and block lists and the staff's rules, evaluated before the model.

Each process keeps the active lists and rules in memory for DETECTION_RULES_CACHE_SECONDS (and
drops them at once when this process saves one), so `decide()` does not query them per call.
"""

import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _

from detection import conf
from detection.contracts import Decision, TransactionInput
from detection.models import ListEntry, Rule

ACTION_TO_DECISION = {
    Rule.Action.ALLOW: Decision.APPROVE,
    Rule.Action.REVIEW: Decision.REVIEW,
    Rule.Action.BLOCK: Decision.BLOCK,
}


@dataclass(frozen=True)
class Hit:
    """Why a list or rule decided: recorded with the decision."""

    source: str  # "allow_list" | "block_list" | "rule"
    decision: Decision
    id: int
    name: str
    detail: str

    def as_dict(self):
        return {
            "source": self.source,
            "decision": self.decision,
            "id": self.id,
            "name": self.name,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class _Entry:
    id: int
    value: str
    reason: str
    expires_at: object


@dataclass(frozen=True)
class _Rule:
    id: int
    name: str
    kind: str
    action: str
    amount: Decimal | None
    max_count: int | None
    window_minutes: int | None
    values: frozenset


class _Snapshot:
    def __init__(self):
        # {(list_type, kind): {value: _Entry}}
        self.lists: dict[tuple[str, str], dict[str, _Entry]] = {}
        for entry in ListEntry.objects.filter(active=True).only(
            "id", "list_type", "kind", "value", "reason", "expires_at"
        ):
            value = entry.value.upper() if entry.kind == ListEntry.Kind.COUNTRY else entry.value
            self.lists.setdefault((entry.list_type, entry.kind), {})[value] = _Entry(
                entry.id, entry.value, entry.reason, entry.expires_at
            )
        self.rules = [
            _Rule(
                id=rule.id,
                name=rule.name,
                kind=rule.kind,
                action=rule.action,
                amount=rule.amount,
                max_count=rule.max_count,
                window_minutes=rule.window_minutes,
                values=frozenset(rule.value_set),
            )
            for rule in Rule.objects.filter(active=True).order_by("order", "id")
        ]


class _Cache:
    def __init__(self):
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._loaded_at = float("-inf")

    def get(self) -> _Snapshot:
        if time.monotonic() - self._loaded_at >= conf.rules_cache_seconds() or self._snapshot is None:
            with self._lock:
                self._snapshot = _Snapshot()
                self._loaded_at = time.monotonic()
        return self._snapshot

    def clear(self):
        self._loaded_at = float("-inf")
        self._snapshot = None


_cache = _Cache()


def clear_cache():
    _cache.clear()


@receiver(post_save, sender=ListEntry)
@receiver(post_delete, sender=ListEntry)
@receiver(post_save, sender=Rule)
@receiver(post_delete, sender=Rule)
def _rules_changed(**kwargs):
    _cache.clear()


def _list_keys(tx: TransactionInput):
    return (
        (ListEntry.Kind.CARD_FINGERPRINT, tx.card_fingerprint),
        (ListEntry.Kind.CARD_ID, tx.card_id),
        (ListEntry.Kind.MERCHANT_ID, tx.merchant_id),
        (ListEntry.Kind.COUNTRY, (tx.country or "").upper()),
    )


def _list_hit(snapshot, tx, list_type, now):
    for kind, value in _list_keys(tx):
        if not value:
            continue
        entry = snapshot.lists.get((list_type, kind), {}).get(value)
        if entry is None or (entry.expires_at is not None and entry.expires_at <= now):
            continue
        source = "allow_list" if list_type == ListEntry.ListType.ALLOW else "block_list"
        decision = Decision.APPROVE if list_type == ListEntry.ListType.ALLOW else Decision.BLOCK
        return Hit(source, decision, entry.id, f"{kind}={entry.value}", entry.reason)
    return None


def _count_recent(history, tx, minutes):
    """Transactions of this card in the `minutes` before it, this one included."""
    start = tx.occurred_at - timedelta(minutes=minutes)
    past = history.card_history(tx.card_id, start, tx.occurred_at)
    return len(past) + 1


def _rule_matches(rule: _Rule, tx: TransactionInput, history):
    kind = rule.kind
    if kind == Rule.Kind.AMOUNT_ABOVE:
        if Decimal(str(tx.amount)) > rule.amount:
            return _("amount %(amount)s above %(limit)s") % {"amount": tx.amount, "limit": rule.amount}
    elif kind == Rule.Kind.COUNTRY_IN:
        if tx.country and tx.country.upper() in rule.values:
            return _("country %(country)s") % {"country": tx.country.upper()}
    elif kind == Rule.Kind.CATEGORY_IN:
        if tx.merchant_category and tx.merchant_category.upper() in rule.values:
            return _("merchant category %(category)s") % {"category": tx.merchant_category}
    elif kind == Rule.Kind.VELOCITY and history is not None:
        count = _count_recent(history, tx, rule.window_minutes)
        if count > rule.max_count:
            return _("%(count)d transactions in %(minutes)d minutes") % {
                "count": count,
                "minutes": rule.window_minutes,
            }
    return None


def evaluate_lists_and_rules(tx: TransactionInput, *, history=None) -> Hit | None:
    """The first list entry or rule that decides this transaction, or None (the model decides).

    Order: allow list, block list, then active rules by their order; the first match wins.
    """
    snapshot = _cache.get()
    now = timezone.now()
    for list_type in (ListEntry.ListType.ALLOW, ListEntry.ListType.BLOCK):
        hit = _list_hit(snapshot, tx, list_type, now)
        if hit is not None:
            return hit
    for rule in snapshot.rules:
        detail = _rule_matches(rule, tx, history)
        if detail is not None:
            return Hit("rule", ACTION_TO_DECISION[rule.action], rule.id, rule.name, detail)
    return None
