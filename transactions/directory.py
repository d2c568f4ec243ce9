"""Cards and merchants by external id, as the API's decision path needs them.

Every submission names a card and a merchant; looking both up was two queries per decision to
learn what rarely changes (which row, the card's fingerprint, the merchant's category and
country). Found rows are therefore remembered by this process (TTL_SECONDS). Saving or
deleting a card or merchant forgets it here at once; other processes follow within the TTL.
Merchants are few and busy, so they are kept longer: with 1,000 merchants and 10 seconds, a web
process at 50 decisions a second still read two in three of them from the database.
Nothing that moves money comes from here: the card is read again under its lock before a
transaction is stored.
"""

import time

from django.db.models.signals import post_delete, post_save

from core import rows
from transactions.models import Card, Merchant

TTL_SECONDS = {Card: 10.0, Merchant: 300.0}
MAX_ENTRIES = 50_000  # past this, start again rather than grow without bound
_found: dict[tuple[type, str], tuple[float, object]] = {}


def lookup(model, external_id):
    """The Card or Merchant with this external id, or None (unknown ones are not remembered:
    the API creates them)."""
    key = (model, external_id)
    hit = _found.get(key)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    row = rows.get_by(model, "external_id", external_id)
    if row is None:
        return None
    if len(_found) >= MAX_ENTRIES:
        _found.clear()
    _found[key] = (now + TTL_SECONDS[model], row)
    return row


def forget_all():
    _found.clear()


def _forget(sender, instance, **kwargs):
    _found.pop((sender, instance.external_id), None)


for _model in (Card, Merchant):
    post_save.connect(_forget, sender=_model, dispatch_uid=f"directory-save-{_model.__name__}")
    post_delete.connect(_forget, sender=_model, dispatch_uid=f"directory-delete-{_model.__name__}")
