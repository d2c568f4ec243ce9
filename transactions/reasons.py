"""The sentences of the reasons this app gives itself, after detection has decided (a frozen
card, no credit left, detection unavailable): registered with detection's other reasons, so
every page and API response words them in its reader's language."""

from django.utils.translation import gettext as _

from detection.sentences import sentence_for
from transactions.services.submission import CARD_FROZEN, DECISION_UNAVAILABLE, OVER_CREDIT_LIMIT


@sentence_for(CARD_FROZEN)
def _card_frozen(params):
    return _("The card is frozen; unfreeze it to pay with it.")


# No figure: whoever submits is told the card is short, never its credit.
@sentence_for(OVER_CREDIT_LIMIT)
def _over_credit_limit(params):
    return _("The amount is more than the card's available credit.")


@sentence_for(DECISION_UNAVAILABLE)
def _decision_unavailable(params):
    return _("The automatic check was unavailable; a person will review it.")
