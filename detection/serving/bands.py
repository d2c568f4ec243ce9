"""From a model's score to a decision: the one definition that online `decide()` and batch
scoring use. Block when the score reaches the block threshold, else review when it reaches the
review threshold, else approve (what "reaches" means: `detection.ml.thresholds`).
"""

import math

import numpy as np
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from detection.contracts import Decision
from detection.ml.thresholds import normalise_thresholds, reaches

# The risk score of a decision taken without a model score (a list or rule with no model, or
# the fallback to review).
RISK_WITHOUT_SCORE = {Decision.APPROVE: 0, Decision.REVIEW: 50, Decision.BLOCK: 100}


def band(score: float, thresholds) -> Decision:
    """The decision for one score (the request path: no numpy on scalars)."""
    limits = normalise_thresholds(thresholds)
    if reaches(score, limits["block"]):
        return Decision.BLOCK
    if reaches(score, limits["review"]):
        return Decision.REVIEW
    return Decision.APPROVE


def bands(scores: np.ndarray, thresholds) -> np.ndarray:
    """`band` for every score of an array, as an object array of the decisions' values."""
    limits = normalise_thresholds(thresholds)
    scores = np.asarray(scores, dtype=float)
    return np.where(
        reaches(scores, limits["block"]),
        Decision.BLOCK.value,
        np.where(reaches(scores, limits["review"]), Decision.REVIEW.value, Decision.APPROVE.value),
    ).astype(object)


def merged_thresholds(current, changes) -> dict[str, float]:
    """`current` thresholds with `changes` ({"review": t, "block": t}, either or both) put in:
    the one validation of new bands, for a backtest's candidate and for the bands that go live.
    Raises ValidationError saying what is wrong."""
    if not isinstance(changes, dict) or not changes or set(changes) - {"review", "block"}:
        raise ValidationError(_('Bands are {"review": t, "block": t}, each a score between 0 and 1.'))
    merged = dict(normalise_thresholds(current))
    for name, value in changes.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not 0 <= number <= 1:
            raise ValidationError(
                _("The %(band)s threshold must be a number between 0 and 1.") % {"band": name}
            )
        merged[name] = number
    if merged["review"] > merged["block"]:
        raise ValidationError(_("The review threshold cannot be above the block threshold."))
    return merged
