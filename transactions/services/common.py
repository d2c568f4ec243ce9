"""What the services of the transactions app share: identifiers and free text checked the same
way everywhere, the state snapshots the audit trail records, and money moved only under the
card's lock."""

import re
import secrets
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from core.cardnumbers import mask_card_numbers
from core.validators import CARD_NUMBER_MESSAGE, refuse_card_number
from transactions.models import NOTE_MAX_LENGTH, Card

# Some services take a `transaction` argument (the contract), which hides the module inside them.
atomic = transaction.atomic
on_commit = transaction.on_commit

CENT = Decimal("0.01")
_CHARGE_SQL = {}  # (database vendor, column) -> the statement of charge_card
# Never "~": it separates an integrator's id from its namespace in a card's key (Card).
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")


# --- small helpers ------------------------------------------------------------------------------


def new_external_id(prefix):
    return f"{prefix}_{secrets.token_hex(8)}"


def clean_country(value, field, errors) -> str:
    """A country code as stored (upper case, "" when none), or the error under `field`: the one
    rule of every entry point (payments, merchants, the payment form)."""
    country = (value or "").strip().upper()
    if country and not COUNTRY.match(country):
        errors[field] = _("Use a two-letter country code, such as US or FR.")
    return country


def check_external_id(value, field, errors):
    if not isinstance(value, str) or not EXTERNAL_ID.match(value):
        errors[field] = _(
            "Use 1 to 64 letters, digits, '_', '-', '.' or ':', starting with a letter or digit."
        )
        return None
    if not check_identifier(value, field, errors):
        return None
    return value


def check_identifier(value, field, errors):
    """False (with the error) if `value` holds a card number: the one rule, core.validators."""
    try:
        refuse_card_number(value)
    except ValidationError:
        errors[field] = CARD_NUMBER_MESSAGE
        return False
    return True


def free_text(text):
    """Notes and names as stored: stripped, with any card number masked (never refused: a
    customer quoting their card in a report must still be able to send it)."""
    return mask_card_numbers((text or "").strip())


def card_state(card):
    return {"status": card.status, "balance": str(card.balance), "held": str(card.held)}


def transaction_state(tx):
    return {
        "status": tx.status,
        "decision": tx.decision,
        "is_fraud": tx.is_fraud,
        "label_source": tx.label_source,
    }


def report_state(report):
    return {"status": report.status, "resolution_note": report.resolution_note}


def locked_card(card_pk):
    return Card.objects.select_for_update().get(pk=card_pk)


def move_money(card_pk, *, balance=Decimal(0), held=Decimal(0)):
    """Add to the card's balance and hold in SQL, so the row's current values are what change."""
    Card.objects.filter(pk=card_pk).update(balance=F("balance") + balance, held=F("held") + held)


def charge_card(card_pk, amount, *, hold):
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
    state, balance, held = row[0], money(row[1]), money(row[2])
    before = (balance, held - amount) if hold else (balance - amount, held)
    return (
        {"status": state, "balance": str(before[0]), "held": str(before[1])},
        {"status": state, "balance": str(balance), "held": str(held)},
    )


def money(value):
    """A decimal column as the ORM reads it (SQLite returns numbers as floats or integers)."""
    return (value if isinstance(value, Decimal) else Decimal(str(value))).quantize(CENT)


# --- fraud reports ------------------------------------------------------------------------------


def checked_note(note, errors):
    """The note as stored (card numbers masked); too long is an error in `errors`. One limit
    for every entry point: the model field's."""
    note = free_text(note)
    if len(note) > NOTE_MAX_LENGTH:
        errors["note"] = _("The note can have at most %(max)d characters.") % {"max": NOTE_MAX_LENGTH}
    return note
