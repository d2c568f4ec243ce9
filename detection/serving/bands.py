"""From a model's score to a decision: the one definition that online `decide()` and batch
scoring use. Block when the score reaches the block threshold, else review when it reaches the
review threshold, else approve (what "reaches" means: `detection.ml.thresholds`).
"""

import numpy as np

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
