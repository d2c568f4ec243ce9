"""The one rule for identifiers that come from outside (transaction, card and merchant ids,
merchant names and categories): they must not hold a card number. API serializers, forms,
services and the CSV reader all call this, so the rule and its message exist once.

Free text (notes, names, phone numbers) is not refused but masked with
`core.cardnumbers.mask_card_numbers` by the service that stores it."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from core.cardnumbers import contains_card_number

CARD_NUMBER_CODE = "card_number"
# Never quotes the value: the message may be logged, stored (idempotent replays) or shown.
CARD_NUMBER_MESSAGE = _(
    "This looks like a card number, which we never store. Send your own identifier instead."
)
# The same rule for a CSV cell, where the reason goes into a list of bad lines (not translated,
# like the other reasons of the reader).
CARD_NUMBER_REASON = "{column} holds a card number, which is never stored"


def refuse_card_number(value):
    """A Django (and DRF) validator: ValidationError if `value` holds a card number."""
    if isinstance(value, str) and contains_card_number(value):
        raise ValidationError(CARD_NUMBER_MESSAGE, code=CARD_NUMBER_CODE)
