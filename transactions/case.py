"""A transaction as an analyst reads it: a case. What was decided and why, the card's recent
history as a timeline, the features that fed the decision against the card's own normal, the
reports and everything staff did to it (the audit trail)."""

from dataclasses import dataclass, field
from datetime import timedelta

import pandas as pd
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import AuditEntry
from detection import conf
from detection.ml.features import FEATURE_NAMES, compute_features_frame
from detection.models import ListEntry
from transactions.history import DatabaseHistory
from transactions.models import Transaction

TIMELINE_BEFORE = 12
TIMELINE_AFTER = 5
# The card's normal: the median of each feature over its latest transactions before this one.
NORMAL_OVER = 50
# Card features look 30 days back: the normal's oldest rows need 30 days before them.
CARD_FEATURE_HISTORY = timedelta(days=60)
MICROSECOND = timedelta(microseconds=1)
# The features that depend on the card's rows only (the merchant's need every card's rows).
CARD_FEATURES = [
    name for name in FEATURE_NAMES if not name.startswith("merchant_") or name == "merchant_new_for_card"
]

# The features an analyst compares first, in reading order, with what they mean. The others are
# listed under them by their technical names.
FEATURE_LABELS = {
    "amount": _("Amount"),
    "amount_to_card_mean_30d": _("Amount ÷ the card's 30-day mean"),
    "card_count_1h": _("Card's payments in the last hour"),
    "card_count_1d": _("Card's payments in the last day"),
    "card_count_7d": _("Card's payments in the last 7 days"),
    "card_max_amount_30d": _("Card's largest payment in 30 days"),
    "seconds_since_card_previous": _("Seconds since the card's previous attempt"),
    "card_declined_count_1d": _("Card's declined attempts in the last day"),
    "card_known_frauds_30d": _("Card's known frauds in 30 days"),
    "merchant_new_for_card": _("New merchant for this card (1 = yes)"),
    "country_new_for_card": _("New country for this card (1 = yes)"),
    "hour": _("Hour of day (UTC)"),
    "merchant_fraud_rate_30d": _("Merchant's fraud rate over 30 days"),
    "merchant_known_frauds_recent": _("Merchant's frauds reported recently"),
}
# How far from the card's normal a value must be to be pointed out: this many times the normal
# (or more than this absolute difference from a normal of 0).
UNUSUAL_RATIO = 3.0
UNUSUAL_FROM_ZERO = 1.0


@dataclass
class FeatureRow:
    name: str
    label: str
    value: float
    normal: float | None

    @property
    def unusual(self):
        if self.normal is None:
            return False
        if self.normal == 0:
            return abs(self.value) >= UNUSUAL_FROM_ZERO
        ratio = abs(self.value) / abs(self.normal)
        return ratio >= UNUSUAL_RATIO or ratio <= 1 / UNUSUAL_RATIO


@dataclass
class Case:
    transaction: Transaction
    timeline: list[Transaction]
    features: list[FeatureRow]
    other_features: list[FeatureRow]
    reports: list
    audit: list
    listed: list = field(default_factory=list)


def _timeline(tx) -> list[Transaction]:
    same_card = Transaction.objects.filter(card_id=tx.card_id).select_related("merchant")
    before = list(
        same_card.filter(occurred_at__lt=tx.occurred_at).order_by("-occurred_at", "-pk")[:TIMELINE_BEFORE]
    )
    after = list(
        same_card.filter(occurred_at__gt=tx.occurred_at).order_by("occurred_at", "pk")[:TIMELINE_AFTER]
    )
    return [*reversed(after), tx, *before]  # newest first


def _card_features(tx) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The card-level features of the card's transactions up to this one (this one last),
    computed with the decision's own definition over the card's rows: (every row's, the rows
    before this one that make the card's normal). They give the normal for any transaction, and
    this one's values when it was imported without them. Merchant features need every card's
    rows, so they are left out here."""
    start = tx.occurred_at - CARD_FEATURE_HISTORY
    frame = DatabaseHistory().card_history(tx.card.external_id, start, tx.occurred_at + MICROSECOND)
    frame = frame.sort_values("occurred_at", kind="stable").reset_index(drop=True)
    features = compute_features_frame(frame, label_delay=conf.label_delay())[CARD_FEATURES]
    features.index = frame["transaction_id"]
    earlier = features[(frame["occurred_at"] < tx.occurred_at).to_numpy()].tail(NORMAL_OVER)
    return features, earlier


def _feature_rows(tx) -> tuple[list[FeatureRow], list[FeatureRow]]:
    computed, earlier = _card_features(tx)
    values = {name: float(v) for name, v in (tx.features or {}).items() if isinstance(v, int | float)}
    if not values and tx.external_id in computed.index:
        values = computed.loc[tx.external_id].astype(float).to_dict()
    normal = earlier.median().to_dict() if len(earlier) else {}
    main = [
        FeatureRow(name, str(label), values[name], normal.get(name))
        for name, label in FEATURE_LABELS.items()
        if name in values
    ]
    others = [
        FeatureRow(name, name, value, normal.get(name))
        for name, value in values.items()
        if name not in FEATURE_LABELS
    ]
    return main, others


def _listed(tx) -> list[ListEntry]:
    """Active list entries that name this card or merchant (the case page says so)."""
    named = Q(kind=ListEntry.Kind.CARD_ID, value=tx.card.external_id) | Q(
        kind=ListEntry.Kind.MERCHANT_ID, value=tx.merchant.external_id
    )
    if tx.card.fingerprint:
        named |= Q(kind=ListEntry.Kind.CARD_FINGERPRINT, value=tx.card.fingerprint)
    return list(ListEntry.objects.filter(named, active=True))


def transaction_case(tx: Transaction) -> Case:
    main, others = _feature_rows(tx)
    return Case(
        transaction=tx,
        timeline=_timeline(tx),
        features=main,
        other_features=others,
        reports=list(tx.reports.select_related("reported_by", "resolved_by").order_by("-created_at")),
        audit=list(
            AuditEntry.objects.filter(target_type=Transaction._meta.label_lower, target_id=str(tx.pk))
            .select_related("actor")
            .order_by("-created_at", "-id")[:50]
        ),
        listed=_listed(tx),
    )
