"""The sentence of the demo history's reason, registered with detection's other reasons."""

from django.utils.translation import gettext as _

from detection.sentences import sentence_for

DEMO_HISTORY = "demo_history"


@sentence_for(DEMO_HISTORY)
def _demo_history(params):
    return _("Part of the demo's simulated history.")
