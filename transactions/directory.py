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

from core import rows
from core.cache import TTLCache
from transactions.models import Card, Merchant

TTL_SECONDS = {Card: 10.0, Merchant: 300.0}
_found = TTLCache(ttl=lambda key: TTL_SECONDS[key[0]])


def lookup(model, external_id):
    """The Card or Merchant with this external id, or None (unknown ones are not remembered:
    the API creates them)."""
    return _found.get_or_load((model, external_id), lambda: rows.get_by(model, "external_id", external_id))


def forget(sender, instance, **kwargs):
    """Receiver of a saved or deleted card or merchant (connected in TransactionsConfig.ready)."""
    _found.pop((sender, instance.external_id))
