"""The shapes that cross the boundary between `detection` and its callers.

`transactions` (and the API) hand `decide()` a TransactionInput and get a DecisionResult back; the
online features read history through a HistorySource, whose implementation lives with the
tables (`settings.DETECTION_HISTORY_SOURCE`), so `detection` never imports `transactions`.
"""

from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

import pandas as pd
from django.db import models
from django.utils.translation import gettext_lazy as _


class Decision(models.TextChoices):
    """What happens to a transaction: the one spelling of the three outcomes, stored in
    `Transaction.decision`, returned by the API and written by `score_csv` as these values."""

    APPROVE = "approve", _("Approve")
    REVIEW = "review", _("Review")
    BLOCK = "block", _("Block")


# Card ids are one namespace per issuer: the bank's own (its customers' cards, imported history)
# and one per integrator. What detection sees as `card_id` (history, velocity, lists, the frames
# of training and evaluation) is a key unique across all of them: the bank's ids as they are, an
# integrator's as "<integrator's user id>~<their id>". Integrators' ids never contain "~", so no
# key of one integrator can be spelt by another, and two integrators' "c1" never share history.
CARD_KEY_SEPARATOR = "~"


def card_key(card_id: str, *, issuer_id: int | None) -> str:
    """The detection key of the card that `issuer_id` (None: the bank) names `card_id`."""
    return card_id if issuer_id is None else f"{issuer_id}{CARD_KEY_SEPARATOR}{card_id}"


@dataclass(frozen=True)
class TransactionInput:
    transaction_id: str
    occurred_at: datetime
    card_id: str  # the card's key (see card_key), never an integrator's bare id
    merchant_id: str
    amount: Decimal
    currency: str = ""
    merchant_category: str = ""
    channel: str = ""
    country: str = ""
    card_fingerprint: str = ""


@dataclass(frozen=True)
class Reason:
    """Why, as a code and the values it speaks of: its sentence is written when it is shown, in
    the reader's language (`detection.sentences.reason_sentence`)."""

    code: str  # stable, machine-readable, e.g. "amount_vs_card_history"
    params: dict = field(default_factory=dict)  # JSON-safe values of the sentence, e.g. {"ratio": 9.0}
    # How much the score drops without this factor: negative for a factor that lowers the risk
    # (the score would be higher with the card's typical value).
    contribution: float = 0.0

    def as_stored(self) -> dict:
        return {"code": self.code, "params": self.params, "contribution": self.contribution}


@dataclass(frozen=True)
class DecisionResult:
    """What `decide()` returns: the decision and everything that explains it."""

    decision: Decision
    risk_score: int | None  # 0-100; None when a list or a rule decided (no fraud risk to tell)
    score: float | None = None  # the model's probability, None when no model decided
    model_version: str = ""
    decided_by: str = ""  # "allow_list" | "block_list" | "rule" | "model" | "fallback"
    # Not empty when the champion named here could not be loaded and `model_version`, an
    # earlier champion, scored instead (see registry.ServingStatus).
    model_fallback_from: str = ""
    rule_hits: list[dict] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict)
    # What each rule or challenger in shadow or rollout would have decided under the arm that did
    # not decide (`detection.serving.scoring.trial_verdicts`); recorded by whoever stores the
    # decision (`detection.services.shadow_verdicts_record`), never told to the submitter.
    trials: list[dict] = field(default_factory=list)

    def as_dict(self):
        return asdict(self)


class HistorySource(Protocol):
    """Past transactions, for the online features. Both methods return a DataFrame in the
    canonical columns (transaction_id, occurred_at, card_id, merchant_id, amount, currency,
    merchant_category, channel, country, is_fraud, label_known_at) for start <= occurred_at < end."""

    def card_history(self, card_id: str, start: datetime, end: datetime) -> pd.DataFrame: ...

    def merchant_history(self, merchant_id: str, start: datetime, end: datetime) -> pd.DataFrame: ...
