"""What a transaction's amount and time may be, for every entry point: the API (submit and
score), the customer's payment form, the submitting service and the CSV channels (import, batch
scoring, training). One definition, applied to one value (`clean_amount`, `clean_occurred_at`)
or to a column of a file (`amount_column_problems`, `occurred_at_column_problems`).

Amounts: ASCII digits only ('４２' and '٤' are refused, although Python's Decimal reads them),
more than 0 (history from files may hold 0: the CSV contract says amount >= 0), at most
TRANSACTIONS_MAX_AMOUNT, at most 2 decimal places (files are rounded to cents instead).
Times: not before TRANSACTIONS_EARLIEST_OCCURRED_AT (default 2000-01-01: a year 1 or 1970 is a
typo or an attack, and year 1 broke the model), and for live transactions not later than now
plus TRANSACTIONS_CLOCK_SKEW_SECONDS.

Settings are read on each call, so tests and deployments that change them are honoured.
"""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from core.conf import setting

CENT = Decimal("0.01")
# A plain decimal in ASCII: no Unicode digits, no '1_000', no 'Infinity' or 'NaN'.
_AMOUNT_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")


@setting("TRANSACTIONS_MAX_AMOUNT", default="1000000.00", minimum=Decimal("0.01"))
def max_amount(value) -> Decimal:
    """The largest single transaction we accept; anything above is a typo or an attack."""
    return Decimal(str(value))


@setting("TRANSACTIONS_CLOCK_SKEW_SECONDS", default=300, minimum=timedelta(0))
def clock_skew(value) -> timedelta:
    """How far in the future an occurred_at may be, for clocks that run a little fast."""
    return timedelta(seconds=int(value))


@setting("TRANSACTIONS_EARLIEST_OCCURRED_AT", default="2000-01-01T00:00:00+00:00")
def earliest_occurred_at(value) -> datetime:
    """No transaction of ours happened before this (aware, UTC)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


# --- one value ----------------------------------------------------------------------------------


def _not_a_number():
    return ValidationError(_("Enter the amount as a number, such as 12.50."), code="invalid")


def clean_amount(value, *, allow_zero=False) -> Decimal:
    """The amount as a Decimal of cents, or ValidationError (code invalid, min_value, max_value
    or max_decimal_places). Text is read as ASCII only; numbers (JSON's) as their decimal text."""
    if isinstance(value, bool) or value is None:
        raise _not_a_number()
    if isinstance(value, Decimal):
        text = str(value)
    elif isinstance(value, int | float):
        text = repr(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise _not_a_number()
    if not text.isascii() or not _AMOUNT_TEXT.fullmatch(text):
        raise _not_a_number()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise _not_a_number() from None
    if amount < 0 or (amount == 0 and not allow_zero):
        message = _("The amount cannot be negative.") if allow_zero else _("The amount must be more than 0.")
        raise ValidationError(message, code="min_value")
    if amount > max_amount():
        raise ValidationError(
            _("The amount can be at most %(max)s.") % {"max": max_amount()}, code="max_value"
        )
    if amount != amount.quantize(CENT):
        raise ValidationError(_("The amount can have at most 2 decimal places."), code="max_decimal_places")
    return amount.quantize(CENT)


def check_ascii_date_text(text) -> None:
    """Date parsers (Django's, strptime) read Unicode digits such as '２０２６': refuse them."""
    if isinstance(text, str) and not text.isascii():
        raise ValidationError(_("Enter a date and a time in ASCII digits."), code="invalid")


def clean_occurred_at(value, *, now=None) -> datetime:
    """An aware datetime (naive values are UTC) from the earliest plausible moment up to now plus
    the clock skew, or ValidationError (code invalid, min_value or max_value)."""
    if not isinstance(value, datetime):  # a date alone is not enough
        raise ValidationError(_("Enter a date and a time."), code="invalid")
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    earliest = earliest_occurred_at()
    if value < earliest:
        raise ValidationError(
            _("The date and time cannot be before %(earliest)s.") % {"earliest": earliest.date().isoformat()},
            code="min_value",
        )
    now = now or timezone.now()
    if value > now + clock_skew():
        raise ValidationError(_("The date and time cannot be in the future."), code="max_value")
    return value


# --- a column of a file -------------------------------------------------------------------------


def amount_column_problems(texts: pd.Series, amounts: pd.Series) -> pd.Series:
    """For the CSV channels: the reason each row's amount is refused ("" when it is fine), given
    the raw texts and their numeric reading. Zero is allowed (history); more decimals are rounded
    by the reader."""
    reasons = pd.Series("", index=texts.index, dtype=object)
    present = texts != ""
    plain = texts.str.fullmatch(_AMOUNT_TEXT.pattern).fillna(False).astype(bool) & texts.str.isascii()
    reasons[present & ~plain] = "amount is not a number"
    numeric = present & plain
    reasons[numeric & (amounts < 0)] = "amount is negative"
    reasons[numeric & (amounts > float(max_amount()))] = f"amount is more than {max_amount()}"
    return reasons


def occurred_at_column_problems(texts: pd.Series, moments: pd.Series) -> pd.Series:
    """For the CSV channels: the reason each row's occurred_at is refused ("" when fine), given
    the raw texts and their parsed UTC moments. The future is allowed: files may hold simulated
    or scheduled periods; the earliest plausible date and ASCII digits hold everywhere."""
    reasons = pd.Series("", index=texts.index, dtype=object)
    ascii_only = texts.str.isascii().fillna(True).astype(bool)
    reasons[(texts != "") & ~ascii_only] = "occurred_at must be written in ASCII digits"
    earliest = pd.Timestamp(earliest_occurred_at())
    too_early = np.asarray((moments < earliest).fillna(False), dtype=bool)
    reasons[too_early & (reasons == "").to_numpy()] = f"occurred_at is before {earliest.date().isoformat()}"
    return reasons
