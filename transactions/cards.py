"""Card numbers: normalising, Luhn, brand and the keyed fingerprint. A number passes through
here and is dropped; nothing in this module stores or logs it."""

import hashlib
import hmac
import re

from django.conf import settings

from core.cardnumbers import luhn_valid  # noqa: F401 - part of this module's interface
from core.text import is_ascii_digits

# (brand, lowest prefix, highest prefix), compared on as many leading digits as the bounds have.
# Order matters: the first match wins.
_BRAND_RANGES = [
    ("amex", "34", "34"),
    ("amex", "37", "37"),
    ("diners", "300", "305"),
    ("diners", "36", "36"),
    ("diners", "38", "39"),
    ("jcb", "3528", "3589"),
    ("visa", "4", "4"),
    ("mastercard", "51", "55"),
    ("mastercard", "2221", "2720"),
    ("discover", "6011", "6011"),
    ("discover", "644", "649"),
    ("discover", "65", "65"),
    ("unionpay", "62", "62"),
    ("maestro", "50", "50"),
    ("maestro", "56", "58"),
    ("maestro", "6", "6"),
]

BRAND_LABELS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "jcb": "JCB",
    "diners": "Diners Club",
    "unionpay": "UnionPay",
    "maestro": "Maestro",
    "other": "Card",
}

_SEPARATORS = re.compile(r"[\s-]+")


def normalize_number(raw):
    """The digits 0-9 only; spaces and dashes people type between groups are dropped. None if
    anything else is in the way, other digits included: "４" or "٤" would give the same card
    another fingerprint (a second copy of it), and "¹" is no number at all."""
    digits = _SEPARATORS.sub("", str(raw or ""))
    return digits if is_ascii_digits(digits) else None


def has_other_digits(raw):
    """True when `raw` holds digits other than 0-9 (fullwidth, Arabic-Indic, superscript...)."""
    return any(char.isdigit() and not char.isascii() for char in str(raw or ""))


def brand_of(digits):
    for brand, low, high in _BRAND_RANGES:
        prefix = digits[: len(low)]
        if len(prefix) == len(low) and low <= prefix <= high:
            return brand
    return "other"


def fingerprint(digits):
    key = settings.CARD_FINGERPRINT_KEY.encode()
    return hmac.new(key, digits.encode(), hashlib.sha256).hexdigest()
