"""Writes of the transactions app: cards, submitted transactions and their balances, fraud reports.

Every service that changes state validates first (raising a field-keyed ValidationError, with
nothing stored), then writes inside one database transaction together with its audit entry.
Balances are changed only while the card's row is locked, so concurrent submissions stay exact.
"""

import logging
import math
import re
import secrets
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from accounts.services import audit_record
from core import plausible, rows
from core.cardnumbers import mask_card_numbers
from core.text import is_ascii_digits
from core.validators import CARD_NUMBER_MESSAGE, refuse_card_number
from detection import retraining, scoring
from detection.bands import RISK_WITHOUT_SCORE
from detection.contracts import Decision, Reason, TransactionInput
from transactions import cards as card_numbers
from transactions import conf
from transactions.models import NOTE_MAX_LENGTH, Card, FraudReport, Merchant, Transaction

logger = logging.getLogger(__name__)
# Some services take a `transaction` argument (the contract), which hides the module inside them.
_atomic = transaction.atomic
_on_commit = transaction.on_commit

CENT = Decimal("0.01")
_CHARGE_SQL = {}  # (database vendor, column) -> the statement of _charge_card
# Never "~": it separates an integrator's id from its namespace in a card's key (Card).
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")

# Reason codes of the rules this app applies itself, after detection has decided.
CARD_FROZEN = "card_frozen"
OVER_CREDIT_LIMIT = "over_credit_limit"
DECISION_UNAVAILABLE = "decision_unavailable"

_STATUS_OF_DECISION = {
    Decision.APPROVE: Transaction.Status.APPROVED,
    Decision.REVIEW: Transaction.Status.PENDING_REVIEW,
    Decision.BLOCK: Transaction.Status.DECLINED,
}


# --- small helpers ------------------------------------------------------------------------------


def _new_external_id(prefix):
    return f"{prefix}_{secrets.token_hex(8)}"


def _check_external_id(value, field, errors):
    if not isinstance(value, str) or not _EXTERNAL_ID.match(value):
        errors[field] = _(
            "Use 1 to 64 letters, digits, '_', '-', '.' or ':', starting with a letter or digit."
        )
        return None
    if not _check_identifier(value, field, errors):
        return None
    return value


def _check_identifier(value, field, errors):
    """False (with the error) if `value` holds a card number: the one rule, core.validators."""
    try:
        refuse_card_number(value)
    except ValidationError:
        errors[field] = CARD_NUMBER_MESSAGE
        return False
    return True


def _free_text(text):
    """Notes and names as stored: stripped, with any card number masked (never refused: a
    customer quoting their card in a report must still be able to send it)."""
    return mask_card_numbers((text or "").strip())


def _card_state(card):
    return {"status": card.status, "balance": str(card.balance), "held": str(card.held)}


def _transaction_state(tx):
    return {
        "status": tx.status,
        "decision": tx.decision,
        "is_fraud": tx.is_fraud,
        "label_source": tx.label_source,
    }


def _report_state(report):
    return {"status": report.status, "resolution_note": report.resolution_note}


def _locked_card(card_pk):
    return Card.objects.select_for_update().get(pk=card_pk)


def _move_money(card_pk, *, balance=Decimal(0), held=Decimal(0)):
    """Add to the card's balance and hold in SQL, so the row's current values are what change."""
    Card.objects.filter(pk=card_pk).update(balance=F("balance") + balance, held=F("held") + held)


def _charge_card(card_pk, amount, *, hold):
    """Lock the card and add `amount` to its balance (or, with `hold`, to its holds) in one
    statement, if the card is active and has that much available credit. Returns the card's state
    before and after, or None when it is frozen or short of credit (then nothing changed)."""
    column = "held" if hold else "balance"
    sql = _CHARGE_SQL.get((connection.vendor, column))
    if sql is None:
        table, quote = Card._meta.db_table, connection.ops.quote_name
        # CAST: SQLite would compare a bound decimal (sent as text) as text. ROUND: SQLite keeps
        # decimals as binary floats, in which 1000.00 - 0.07 - 0.07 is less than 999.86.
        sql = _CHARGE_SQL[(connection.vendor, column)] = (
            f"UPDATE {quote(table)} SET {quote(column)} = {quote(column)} + CAST(%s AS NUMERIC) "  # noqa: S608 - names from our model, values as parameters
            f"WHERE {quote('id')} = %s AND {quote('status')} = %s "
            f"AND ROUND({quote('credit_limit')} - {quote('balance')} - {quote('held')}, 2) >= CAST(%s AS NUMERIC) "
            f"RETURNING {quote('status')}, {quote('balance')}, {quote('held')}"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [amount, card_pk, Card.Status.ACTIVE, amount])
        row = cursor.fetchone()
    if row is None:
        return None
    state, balance, held = row[0], _money(row[1]), _money(row[2])
    before = (balance, held - amount) if hold else (balance - amount, held)
    return (
        {"status": state, "balance": str(before[0]), "held": str(before[1])},
        {"status": state, "balance": str(balance), "held": str(held)},
    )


def _money(value):
    """A decimal column as the ORM reads it (SQLite returns numbers as floats or integers)."""
    return (value if isinstance(value, Decimal) else Decimal(str(value))).quantize(CENT)


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


# --- cards --------------------------------------------------------------------------------------


def _expiry_part(value):
    """An int, or a string of the digits 0-9 (int() would also read "１２" or "١٢")."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and is_ascii_digits(value.strip()):
        return int(value.strip())
    raise ValueError(value)


def _clean_expiry(expiry_month, expiry_year, errors):
    try:
        month, year = _expiry_part(expiry_month), _expiry_part(expiry_year)
    except ValueError:
        errors["expiry_month"] = _(
            "Enter the expiry month and year printed on the card, with the digits 0-9."
        )
        return None, None
    if not 1 <= month <= 12:
        errors["expiry_month"] = _("The expiry month must be between 1 and 12.")
        return None, None
    if year < 100:  # "27" on the card means 2027
        year += 2000
    today = timezone.localdate()
    # A card is valid until the last day of its expiry month.
    if (year, month) < (today.year, today.month):
        errors["expiry_year"] = _("This card has expired.")
        return None, None
    if year > today.year + conf.card_max_years_ahead():
        errors["expiry_year"] = _("This expiry date is too far in the future; check the year.")
        return None, None
    return month, year


def _clean_credit_limit(credit_limit, errors):
    if credit_limit is None:
        return conf.default_credit_limit()
    try:
        limit = Decimal(str(credit_limit))
    except InvalidOperation:
        errors["credit_limit"] = _("Enter the credit limit as a number.")
        return None
    if not limit.is_finite() or limit <= 0 or limit > conf.max_credit_limit():
        errors["credit_limit"] = _("The credit limit must be more than 0 and at most %(max)s.") % {
            "max": conf.max_credit_limit()
        }
        return None
    return limit.quantize(CENT)


@sensitive_variables("number", "digits")
def card_add(*, owner, number, expiry_month, expiry_year, cardholder_name="", credit_limit=None):
    """Register a customer's card. The number is checked, fingerprinted and forgotten: only the
    brand, its first 6 and last 4 digits and the keyed fingerprint are kept."""
    errors = {}
    digits = card_numbers.normalize_number(number)
    if digits is None and card_numbers.has_other_digits(number):
        errors["number"] = _("Type the card number with the digits 0-9 only.")
    elif digits is None or not 12 <= len(digits) <= 19:
        errors["number"] = _("Enter the 12 to 19 digits of the card number.")
    elif not card_numbers.luhn_valid(digits):
        errors["number"] = _("This card number is not valid; check it for a typo.")
    month, year = _clean_expiry(expiry_month, expiry_year, errors)
    # A name is free text: a card number typed into it is masked, never stored.
    cardholder_name = mask_card_numbers((cardholder_name or "").strip())
    if len(cardholder_name) > 100:
        errors["cardholder_name"] = _("The name on the card can have at most 100 characters.")
    limit = _clean_credit_limit(credit_limit, errors)
    if errors:
        raise ValidationError(errors)

    fingerprint = card_numbers.fingerprint(digits)
    duplicate = ValidationError({"number": _("This card is already registered.")})
    if Card.objects.filter(fingerprint=fingerprint).exists():
        raise duplicate
    try:
        with transaction.atomic():
            card = Card.objects.create(
                external_id=_new_external_id("card"),
                owner=owner,
                brand=card_numbers.brand_of(digits),
                first6=digits[:6],
                last4=digits[-4:],
                expiry_month=month,
                expiry_year=year,
                cardholder_name=cardholder_name,
                fingerprint=fingerprint,
                credit_limit=limit,
            )
            audit_record(
                actor=owner,
                action="card.add",
                target=card,
                after={"card": card.masked_number, "brand": card.brand, "credit_limit": str(limit)},
            )
    except IntegrityError:  # the same card registered at the same moment by another request
        raise duplicate from None
    return card


def card_set_status(*, card, status, actor):
    """Freeze or unfreeze a card; a frozen card's transactions are declined."""
    if status not in Card.Status.values:
        raise ValidationError({"status": _("Choose active or frozen.")})
    with transaction.atomic():
        locked = _locked_card(card.pk)
        before = _card_state(locked)
        if locked.status != status:
            locked.status = status
            locked.save(update_fields=["status"])
            action = "card.freeze" if status == Card.Status.FROZEN else "card.unfreeze"
            audit_record(actor=actor, action=action, target=locked, before=before, after=_card_state(locked))
    return locked


def card_set_credit_limit(*, card, credit_limit, actor):
    """Change a card's limit (staff). A limit below what is already owed is allowed: the card
    then simply has no available credit until it is paid down."""
    errors = {}
    limit = _clean_credit_limit(credit_limit, errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = _locked_card(card.pk)
        before = {**_card_state(locked), "credit_limit": str(locked.credit_limit)}
        locked.credit_limit = limit
        locked.save(update_fields=["credit_limit"])
        audit_record(
            actor=actor,
            action="card.credit_limit",
            target=locked,
            before=before,
            after={**_card_state(locked), "credit_limit": str(limit)},
        )
    return locked


def card_get_or_create(*, external_id, issuer=None, owner=None):
    """The card `issuer` (an integrator; None for the bank) names `external_id` in its own
    namespace; one we have not seen is created without a number (the owner is only set on
    creation). An integrator's id never reaches another namespace's card (see Card)."""
    errors = {}
    _check_external_id(external_id, "card_id", errors)
    if errors:
        raise ValidationError(errors)
    issuer_id = issuer.pk if issuer is not None else None
    card, _created = Card.objects.get_or_create(
        external_id=Card.key_for(external_id, issuer_id=issuer_id),
        defaults={"owner": owner, "issuer": issuer},
    )
    if card.issuer_id != issuer_id:  # a bank card imported under a reserved key: never lend it out
        raise ValidationError({"card_id": _("This card id cannot be used; choose another one.")})
    return card


def merchant_get_or_create(*, external_id, name="", category="", country=""):
    """The merchant named by its id; one we have not seen is created with what we were told."""
    errors = {}
    _check_external_id(external_id, "merchant_id", errors)
    name = (name or "").strip()
    if len(name) > 200:
        errors["merchant_name"] = _("The merchant name can have at most 200 characters.")
    else:
        _check_identifier(name, "merchant_name", errors)
    category = (category or "").strip()
    if len(category) > 32:
        errors["merchant_category"] = _("The merchant category can have at most 32 characters.")
    else:
        _check_identifier(category, "merchant_category", errors)
    country = (country or "").strip().upper()
    if country and not _COUNTRY.match(country):
        errors["merchant_country"] = _("Use a two-letter country code, such as US or FR.")
    if errors:
        raise ValidationError(errors)
    merchant, _created = Merchant.objects.get_or_create(
        external_id=external_id, defaults={"name": name, "category": category, "country": country}
    )
    return merchant


def merchant_from_name(*, name):
    """A merchant a customer typed by name: the existing one with that name, else a new one."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"new_merchant": _("Type the merchant's name.")})
    if len(name) > 200:
        raise ValidationError({"new_merchant": _("The merchant name can have at most 200 characters.")})
    errors = {}
    if not _check_identifier(name, "new_merchant", errors):
        raise ValidationError(errors)
    existing = Merchant.objects.filter(name__iexact=name).order_by("pk").first()
    if existing is not None:
        return existing
    slug = slugify(name)[:40]
    external_id = f"m_{slug}" if slug else _new_external_id("m")
    if Merchant.objects.filter(external_id=external_id).exists():
        external_id = f"{external_id}_{secrets.token_hex(3)}"
    return merchant_get_or_create(external_id=external_id, name=name)


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
    if not _CURRENCY.match(currency):
        errors["currency"] = _("Use a three-letter currency code, such as USD.")
    channel = (channel or "").strip()
    if channel and channel not in Transaction.Channel.values:
        errors["channel"] = _("Choose one of: in store, online, contactless, ATM.")
    country = (country or "").strip().upper()
    if country and not _COUNTRY.match(country):
        errors["country"] = _("Use a two-letter country code, such as US or FR.")
    if external_id is None:
        external_id = _new_external_id("tx")
    elif _check_external_id(external_id, "external_id", errors) and (
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
                _charge_card(card.pk, value, hold=verdict == Decision.REVIEW)
                if verdict != Decision.BLOCK
                else None
            )
            if charged is not None:
                card_before, card_after = charged
            else:
                locked = _locked_card(card.pk)
                card_before = _card_state(locked)
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
                    _move_money(locked.pk, balance=value)
                    locked.balance += value  # exact: the row is ours until commit
                elif verdict == Decision.REVIEW:
                    _move_money(locked.pk, held=value)
                    locked.held += value
                card_after = _card_state(locked)
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
                after={**_transaction_state(tx), "amount": str(value), "card": card_after},
            )
            if on_stored is not None:
                on_stored(tx)
    except IntegrityError:  # the same external id submitted twice at the same moment
        raise ValidationError({"external_id": _("A transaction with this id already exists.")}) from None
    return tx


def transaction_review_resolve(*, transaction, actor, is_fraud, note=""):
    """An analyst settles a transaction held for review: fraud is declined (and labelled),
    legitimate is approved and its hold moves onto the balance."""
    note = _free_text(note)
    tx_model_pk = transaction.pk
    with _atomic():
        tx = Transaction.objects.select_for_update().get(pk=tx_model_pk)
        if tx.status != Transaction.Status.PENDING_REVIEW:
            raise ValidationError({"transaction": _("Only a transaction pending review can be resolved.")})
        card = _locked_card(tx.card_id)
        before = {**_transaction_state(tx), "card": _card_state(card)}
        if is_fraud:
            _move_money(card.pk, held=-tx.amount)
            tx.status = Transaction.Status.DECLINED
        else:
            _move_money(card.pk, balance=tx.amount, held=-tx.amount)
            tx.status = Transaction.Status.APPROVED
        tx.is_fraud = bool(is_fraud)
        tx.label_known_at = timezone.now()
        tx.label_source = FraudReport.Source.ANALYST
        tx.save(update_fields=["status", "is_fraud", "label_known_at", "label_source"])
        card.refresh_from_db()
        audit_record(
            actor=actor,
            action="transaction.review_fraud" if is_fraud else "transaction.review_legitimate",
            target=tx,
            before=before,
            after={**_transaction_state(tx), "card": _card_state(card)},
            note=note,
        )
        # A confirmed label may make a retraining due; asked once the label is committed.
        _on_commit(retraining.retraining_check)
    return tx


# --- fraud reports ------------------------------------------------------------------------------


def _checked_note(note, errors):
    """The note as stored (card numbers masked); too long is an error in `errors`. One limit
    for every entry point: the model field's."""
    note = _free_text(note)
    if len(note) > NOTE_MAX_LENGTH:
        errors["note"] = _("The note can have at most %(max)d characters.") % {"max": NOTE_MAX_LENGTH}
    return note


def fraud_report_create(*, transaction, reported_by, source, note=""):
    """Someone says a transaction was fraud; it waits, open, for an analyst. One open report per
    transaction."""
    errors = {}
    if source not in FraudReport.Source.values:
        errors["source"] = _("Choose who reports: customer, analyst, chargeback or integrator.")
    note = _checked_note(note, errors)
    if errors:
        raise ValidationError(errors)
    already_open = ValidationError({"transaction": _("This transaction already has an open fraud report.")})
    try:
        with _atomic():
            tx = Transaction.objects.select_for_update().get(pk=transaction.pk)
            if tx.status == Transaction.Status.CONFIRMED_FRAUD:
                raise ValidationError({"transaction": _("This transaction is already confirmed as fraud.")})
            if tx.reports.filter(status=FraudReport.Status.OPEN).exists():
                raise already_open
            report = FraudReport.objects.create(
                transaction=tx,
                reported_by=reported_by if reported_by is not None and reported_by.is_authenticated else None,
                source=source,
                note=note,
            )
            audit_record(
                actor=reported_by,
                action="fraud_report.create",
                target=report,
                after={**_report_state(report), "transaction": tx.external_id, "source": source},
                note=note,
            )
    except IntegrityError:  # a concurrent report won the one open slot
        raise already_open from None
    return report


def fraud_report_resolve(*, report, resolved_by, confirmed, note=""):
    """An analyst settles a report. Confirmed: the transaction is labelled fraud and its amount
    comes off the balance (or out of the hold). Rejected: it is labelled legitimate."""
    errors = {}
    note = _checked_note(note, errors)
    if errors:
        raise ValidationError(errors)
    with _atomic():
        report = FraudReport.objects.select_for_update().get(pk=report.pk)
        if report.status != FraudReport.Status.OPEN:
            raise ValidationError({"report": _("This report has already been resolved.")})
        tx = Transaction.objects.select_for_update().get(pk=report.transaction_id)
        card = _locked_card(tx.card_id)
        before = {**_report_state(report), "transaction": _transaction_state(tx), "card": _card_state(card)}
        now = timezone.now()
        if confirmed:
            if tx.status in (Transaction.Status.APPROVED, Transaction.Status.CONFIRMED_LEGITIMATE):
                _move_money(card.pk, balance=-tx.amount)
            elif tx.status == Transaction.Status.PENDING_REVIEW:
                _move_money(card.pk, held=-tx.amount)
            tx.status = Transaction.Status.CONFIRMED_FRAUD
            tx.is_fraud = True
            report.status = FraudReport.Status.CONFIRMED
        else:
            if tx.status == Transaction.Status.PENDING_REVIEW:
                _move_money(card.pk, balance=tx.amount, held=-tx.amount)
            if tx.status in (Transaction.Status.APPROVED, Transaction.Status.PENDING_REVIEW):
                tx.status = Transaction.Status.CONFIRMED_LEGITIMATE
            tx.is_fraud = False
            report.status = FraudReport.Status.REJECTED
        tx.label_known_at = now
        tx.label_source = report.source
        tx.save(update_fields=["status", "is_fraud", "label_known_at", "label_source"])
        report.resolved_by = resolved_by if resolved_by is not None and resolved_by.is_authenticated else None
        report.resolved_at = now
        report.resolution_note = note
        report.save(update_fields=["status", "resolved_by", "resolved_at", "resolution_note"])
        card.refresh_from_db()
        audit_record(
            actor=resolved_by,
            action="fraud_report.confirm" if confirmed else "fraud_report.reject",
            target=report,
            before=before,
            after={**_report_state(report), "transaction": _transaction_state(tx), "card": _card_state(card)},
            note=note,
        )
        _on_commit(retraining.retraining_check)
    return report


def customer_payment_submit(*, customer, card, merchant=None, merchant_name="", **fields):
    """A payment a customer enters on one of their own cards, at a merchant picked from the list
    or typed by name. A merchant typed here is only kept if the payment is."""
    if card is None or card.owner_id != customer.pk:
        raise ValidationError({"card": _("Choose one of your cards.")})
    with _atomic():
        if merchant is None:
            merchant = merchant_from_name(name=merchant_name)
        return transaction_submit(card=card, merchant=merchant, submitted_by=customer, **fields)


# --- the review queue ---------------------------------------------------------------------------


def transaction_assign(*, transaction, actor, assignee):
    """Give a queued transaction (its review or its open report) to an analyst, or to nobody."""
    with _atomic():
        tx = Transaction.objects.select_for_update().get(pk=transaction.pk)
        before = {"assigned_to": tx.assigned_to.email if tx.assigned_to else None}
        tx.assigned_to = assignee
        tx.save(update_fields=["assigned_to"])
        audit_record(
            actor=actor,
            action="transaction.assign",
            target=tx,
            before=before,
            after={"assigned_to": assignee.email if assignee else None},
        )
    return tx


def transaction_add_note(*, transaction, actor, note):
    """An analyst's note on a transaction, kept in the audit trail beside every action on it."""
    errors = {}
    note = _checked_note(note, errors)
    if not note and not errors:
        errors["note"] = _("Write a note first.")
    if errors:
        raise ValidationError(errors)
    return audit_record(actor=actor, action="transaction.note", target=transaction, note=note)
