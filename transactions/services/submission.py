"""A payment submitted and decided: validated, decided outside any lock, stored with its charge or
hold in one database transaction."""

import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import audit_record
from core import plausible, rows
from detection import services as detection_services
from detection.contracts import Decision, Reason, TransactionInput
from detection.serving import scoring
from detection.serving.bands import RISK_WITHOUT_SCORE
from transactions import webhooks
from transactions.models import Card, Transaction
from transactions.services.cards import merchant_from_name
from transactions.services.common import (
    CURRENCY,
    atomic,
    card_state,
    charge_card,
    check_external_id,
    clean_country,
    locked_card,
    move_money,
    new_external_id,
    transaction_state,
)

logger = logging.getLogger(__name__)

# Reason codes of the rules this app applies itself, after detection has decided.
CARD_FROZEN = "card_frozen"
OVER_CREDIT_LIMIT = "over_credit_limit"
DECISION_UNAVAILABLE = "decision_unavailable"

_STATUS_OF_DECISION = {
    Decision.APPROVE: Transaction.Status.APPROVED,
    Decision.REVIEW: Transaction.Status.PENDING_REVIEW,
    Decision.BLOCK: Transaction.Status.DECLINED,
}


def _json_safe_features(features):
    """JSON has no NaN or infinity (PostgreSQL's jsonb refuses them): store those as null."""
    safe = {}
    for name, value in (features or {}).items():
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        elif hasattr(value, "item"):  # numpy scalars
            value = value.item()
            if isinstance(value, float) and not math.isfinite(value):
                value = None
        safe[str(name)] = value
    return safe


# --- transactions -------------------------------------------------------------------------------


def _clean_amount(amount, errors):
    """The one rule of every entry point (core.plausible), in this module's error dict."""
    try:
        return plausible.clean_amount(amount)
    except ValidationError as error:
        errors["amount"] = error.messages[0]
        return None


def _clean_occurred_at(occurred_at, errors):
    if occurred_at is None:
        return timezone.now()
    try:
        return plausible.clean_occurred_at(occurred_at)
    except ValidationError as error:
        errors["occurred_at"] = error.messages[0]
        return None


def _decide(tx_input):
    """Ask detection; if it fails, hold the transaction for a person rather than fail the payment."""
    try:
        decision = scoring.decide(tx_input)
    except Exception:
        logger.exception("decide() failed for transaction %s; held for review", tx_input.transaction_id)
        return None
    if decision.decision not in Decision.values:
        logger.error(
            "decide() returned %r for %s; held for review", decision.decision, tx_input.transaction_id
        )
        return None
    return decision


@dataclass(frozen=True)
class _Fields:
    """A submission's fields, validated and normalised."""

    amount: Decimal
    occurred_at: datetime
    currency: str
    channel: str
    country: str
    external_id: str


@dataclass
class _Verdict:
    """What was decided, as it will be stored (an account rule may still turn it into a block)."""

    decision: str
    risk_score: int | None  # None: a list, a rule or the account's own rules decided, not a fraud risk
    score: float | None
    model_version: str
    decided_by: str
    model_fallback_from: str
    rule_hits: list
    features: dict
    reasons: list
    trials: list  # what rules and a challenger on trial would have decided (detection records them)


def transaction_submit(**arguments):
    """Validate a transaction, decide it through detection, store it with everything decided and
    move the money: approved amounts go on the balance, pending-review ones are held, declined
    ones change nothing. Over the available credit, or on a frozen card, it is declined by rule.
    Takes the arguments of `transaction_submitting`; returns the stored transaction."""
    with transaction_submitting(**arguments) as tx:
        return tx


@contextmanager
def transaction_submitting(
    *,
    card,
    merchant,
    amount,
    occurred_at=None,
    currency="USD",
    channel="",
    country="",
    external_id=None,
    submitted_by=None,
):
    """`transaction_submit` for a caller that writes something of its own with the payment (the
    API's Idempotency-Key record): the stored transaction is yielded inside the database
    transaction that stores it, so what the `with` block writes commits or rolls back with it."""
    fields = _validated(card, merchant, amount, occurred_at, currency, channel, country, external_id)
    # Deciding reads history and may run a model: do it before taking the card's lock.
    verdict = _verdict(card, merchant, fields)
    with transaction.atomic():
        card_before, card_after = _settle(card, fields.amount, verdict)
        try:
            tx = rows.insert(_transaction(card, merchant, fields, verdict, submitted_by))
        except IntegrityError:  # the same external id submitted twice at the same moment
            raise ValidationError({"external_id": _("A transaction with this id already exists.")}) from None
        audit_record(
            actor=submitted_by,
            action="transaction.submit",
            target=tx,
            before={"card": card_before},
            after={**transaction_state(tx), "amount": str(fields.amount), "card": card_after},
        )
        # Beside the decision, in the same database transaction: no verdict without its payment.
        detection_services.shadow_verdicts_record(
            transaction_id=tx.external_id, occurred_at=tx.occurred_at, verdicts=verdict.trials
        )
        webhooks.transaction_decided(tx, card=card, merchant=merchant)
        yield tx


def _validated(card, merchant, amount, occurred_at, currency, channel, country, external_id) -> _Fields:
    errors = {}
    if card is None or card.pk is None:
        errors["card"] = _("Choose a card.")
    if merchant is None or merchant.pk is None:
        errors["merchant"] = _("Choose a merchant.")
    value = _clean_amount(amount, errors)
    occurred_at = _clean_occurred_at(occurred_at, errors)
    currency = (currency or "USD").strip().upper()
    if not CURRENCY.match(currency):
        errors["currency"] = _("Use a three-letter currency code, such as USD.")
    channel = (channel or "").strip()
    if channel and channel not in Transaction.Channel.values:
        errors["channel"] = _("Choose one of: in store, online, contactless, ATM.")
    country = clean_country(country, "country", errors)
    if external_id is None:
        external_id = new_external_id("tx")
    elif check_external_id(external_id, "external_id", errors) and (
        Transaction.objects.filter(external_id=external_id).exists()
    ):
        errors["external_id"] = _("A transaction with this id already exists.")
    if errors:
        raise ValidationError(errors)
    return _Fields(value, occurred_at, currency, channel, country, external_id)


def _verdict(card, merchant, fields: _Fields) -> _Verdict:
    decision = _decide(
        TransactionInput(
            transaction_id=fields.external_id,
            occurred_at=fields.occurred_at,
            card_id=card.external_id,
            merchant_id=merchant.external_id,
            amount=fields.amount,
            currency=fields.currency,
            merchant_category=merchant.category,
            channel=fields.channel,
            country=fields.country or merchant.country,
            card_fingerprint=card.fingerprint or "",
        )
    )
    if decision is None:  # held for a person, never lost
        reason = Reason(DECISION_UNAVAILABLE)
        return _Verdict(
            Decision.REVIEW,
            RISK_WITHOUT_SCORE[Decision.REVIEW],
            None,
            "",
            "fallback",
            "",
            [],
            {},
            [reason],
            [],
        )
    return _Verdict(
        decision.decision,
        decision.risk_score,
        decision.score,
        decision.model_version,
        decision.decided_by,
        decision.model_fallback_from,
        list(decision.rule_hits),
        decision.features,
        list(decision.reasons),
        list(decision.trials),
    )


def _settle(card, value, verdict: _Verdict):
    """Move the money the verdict calls for, under the card's lock; the card's state before and
    after. The account's own rules (frozen card, not enough credit) may turn it into a block."""
    # The usual case, an active card with the credit, locks and charges in one statement.
    if verdict.decision != Decision.BLOCK:
        charged = charge_card(card.pk, value, hold=verdict.decision == Decision.REVIEW)
        if charged is not None:
            return charged
    locked = locked_card(card.pk)
    card_before = card_state(locked)
    # Rules of the account itself, judged on the balances as they are under the lock.
    own_rule = None
    if locked.status == Card.Status.FROZEN:
        own_rule = Reason(CARD_FROZEN)
    elif verdict.decision != Decision.BLOCK and value > locked.available_credit:
        # No figure: whoever submits is told the card is short, never its credit.
        own_rule = Reason(OVER_CREDIT_LIMIT)
    if own_rule is not None:
        verdict.decision, verdict.decided_by = Decision.BLOCK, "rule"
        verdict.risk_score = None  # a frozen card or no credit left says nothing of fraud
        verdict.rule_hits = [{"code": own_rule.code, "kind": "rule"}, *verdict.rule_hits]
        verdict.reasons = [own_rule]
    elif verdict.decision == Decision.APPROVE:  # credit freed or card unfrozen since the refused charge
        move_money(locked.pk, balance=value)
        locked.balance += value  # exact: the row is ours until commit
    elif verdict.decision == Decision.REVIEW:
        move_money(locked.pk, held=value)
        locked.held += value
    return card_before, card_state(locked)


def _transaction(card, merchant, fields: _Fields, verdict: _Verdict, submitted_by) -> Transaction:
    return Transaction(
        external_id=fields.external_id,
        card=card,
        merchant=merchant,
        amount=fields.amount,
        currency=fields.currency,
        occurred_at=fields.occurred_at,
        channel=fields.channel,
        country=fields.country,
        submitted_by=submitted_by if submitted_by is not None and submitted_by.is_authenticated else None,
        decision=verdict.decision,
        score=verdict.score,
        risk_score=None if verdict.risk_score is None else max(0, min(100, int(verdict.risk_score))),
        model_version=verdict.model_version or "",
        decided_by=verdict.decided_by or "",
        model_fallback_from=verdict.model_fallback_from or "",
        rule_hits=verdict.rule_hits,
        reasons=[reason.as_stored() for reason in verdict.reasons],
        features=_json_safe_features(verdict.features),
        decided_at=timezone.now(),
        status=_STATUS_OF_DECISION[verdict.decision],
    )


def customer_payment_submit(*, customer, card, merchant=None, merchant_name="", payment_key, **fields):
    """A payment a customer enters on one of their own cards, at a merchant picked from the list
    or typed by name. A merchant typed here is only kept if the payment is. `payment_key` (one per
    form shown) makes the same form sent twice one payment: the second raises a ValidationError
    on ``external_id``, and `selectors.customer_payment_by_key` finds the first."""
    if card is None or card.owner_id != customer.pk:
        raise ValidationError({"card": _("Choose one of your cards.")})
    with atomic():
        if merchant is None:
            merchant = merchant_from_name(name=merchant_name)
        return transaction_submit(
            card=card,
            merchant=merchant,
            submitted_by=customer,
            external_id=Transaction.web_payment_id(payment_key),
            **fields,
        )
