"""A payment submitted and decided: validated, decided outside any lock, stored with its charge or
hold in one database transaction."""

import logging
import math

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import audit_record
from core import plausible, rows
from detection import scoring
from detection.bands import RISK_WITHOUT_SCORE
from detection.contracts import Decision, Reason, TransactionInput
from transactions.models import Card, Transaction
from transactions.services.cards import merchant_from_name
from transactions.services.common import (
    COUNTRY,
    CURRENCY,
    atomic,
    card_state,
    charge_card,
    check_external_id,
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


def transaction_submit(
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
    on_stored=None,
):
    """Validate a transaction, decide it through detection, store it with everything decided and
    move the money: approved amounts go on the balance, pending-review ones are held, declined
    ones change nothing. Over the available credit, or on a frozen card, it is declined by rule.
    `on_stored(tx)`, if given, runs last inside the database transaction that stores it, so what
    it writes commits or rolls back with the transaction."""
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
    country = (country or "").strip().upper()
    if country and not COUNTRY.match(country):
        errors["country"] = _("Use a two-letter country code, such as US or FR.")
    if external_id is None:
        external_id = new_external_id("tx")
    elif check_external_id(external_id, "external_id", errors) and (
        Transaction.objects.filter(external_id=external_id).exists()
    ):
        errors["external_id"] = _("A transaction with this id already exists.")
    if errors:
        raise ValidationError(errors)

    # Deciding reads history and may run a model: do it before taking the card's lock.
    decision = _decide(
        TransactionInput(
            transaction_id=external_id,
            occurred_at=occurred_at,
            card_id=card.external_id,
            merchant_id=merchant.external_id,
            amount=value,
            currency=currency,
            merchant_category=merchant.category,
            channel=channel,
            country=country or merchant.country,
            card_fingerprint=card.fingerprint or "",
        )
    )
    if decision is None:
        verdict, score, model_version, decided_by = Decision.REVIEW, None, "", "fallback"
        risk_score = RISK_WITHOUT_SCORE[verdict]
        model_fallback_from = ""
        rule_hits, features = [], {}
        reasons = [
            Reason(DECISION_UNAVAILABLE, _("The automatic check was unavailable; a person will review it."))
        ]
    else:
        verdict, risk_score, score = decision.decision, decision.risk_score, decision.score
        model_version, decided_by = decision.model_version, decision.decided_by
        model_fallback_from = decision.model_fallback_from
        rule_hits, features, reasons = list(decision.rule_hits), decision.features, list(decision.reasons)

    try:
        with transaction.atomic():
            # The usual case, an active card with the credit, locks and charges in one statement.
            charged = (
                charge_card(card.pk, value, hold=verdict == Decision.REVIEW)
                if verdict != Decision.BLOCK
                else None
            )
            if charged is not None:
                card_before, card_after = charged
            else:
                locked = locked_card(card.pk)
                card_before = card_state(locked)
                # Rules of the account itself, judged on the balances as they are under the lock.
                own_rule = None
                if locked.status == Card.Status.FROZEN:
                    own_rule = Reason(CARD_FROZEN, _("The card is frozen; unfreeze it to pay with it."))
                elif verdict != Decision.BLOCK and value > locked.available_credit:
                    # No figure: whoever submits is told the card is short, never its credit.
                    own_rule = Reason(
                        OVER_CREDIT_LIMIT, _("The amount is more than the card's available credit.")
                    )
                if own_rule is not None:
                    verdict, decided_by = Decision.BLOCK, "rule"
                    rule_hits = [{"code": own_rule.code, "kind": "rule"}, *rule_hits]
                    reasons = [own_rule]
                elif verdict == Decision.APPROVE:  # credit freed or card unfrozen since the refused charge
                    move_money(locked.pk, balance=value)
                    locked.balance += value  # exact: the row is ours until commit
                elif verdict == Decision.REVIEW:
                    move_money(locked.pk, held=value)
                    locked.held += value
                card_after = card_state(locked)
            status = _STATUS_OF_DECISION[verdict]
            tx = rows.insert(
                Transaction(
                    external_id=external_id,
                    card=card,
                    merchant=merchant,
                    amount=value,
                    currency=currency,
                    occurred_at=occurred_at,
                    channel=channel,
                    country=country,
                    submitted_by=submitted_by
                    if submitted_by is not None and submitted_by.is_authenticated
                    else None,
                    decision=verdict,
                    score=score,
                    risk_score=max(0, min(100, int(risk_score))),
                    model_version=model_version or "",
                    decided_by=decided_by or "",
                    model_fallback_from=model_fallback_from or "",
                    rule_hits=rule_hits,
                    reasons=[{"code": r.code, "message": str(r.message)} for r in reasons],
                    features=_json_safe_features(features),
                    decided_at=timezone.now(),
                    status=status,
                )
            )
            audit_record(
                actor=submitted_by,
                action="transaction.submit",
                target=tx,
                before={"card": card_before},
                after={**transaction_state(tx), "amount": str(value), "card": card_after},
            )
            if on_stored is not None:
                on_stored(tx)
    except IntegrityError:  # the same external id submitted twice at the same moment
        raise ValidationError({"external_id": _("A transaction with this id already exists.")}) from None
    return tx


def customer_payment_submit(*, customer, card, merchant=None, merchant_name="", **fields):
    """A payment a customer enters on one of their own cards, at a merchant picked from the list
    or typed by name. A merchant typed here is only kept if the payment is."""
    if card is None or card.owner_id != customer.pk:
        raise ValidationError({"card": _("Choose one of your cards.")})
    with atomic():
        if merchant is None:
            merchant = merchant_from_name(name=merchant_name)
        return transaction_submit(card=card, merchant=merchant, submitted_by=customer, **fields)
