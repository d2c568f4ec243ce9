"""From a model's score to a decision and a risk score: the one definition that online
`decide()`, batch scoring, evaluation and training all use.

A score *reaches* a threshold when it is at or above it. Block when the score reaches the block
threshold, else review when it reaches the review threshold, else approve. A missing threshold
is BLOCK_NOTHING, which no probability reaches.
"""

from collections.abc import Mapping

import numpy as np

from detection.contracts import Decision

# A threshold no probability reaches: "flag nothing".
BLOCK_NOTHING = 1.01

# The risk score of a decision taken without a model score (a list or rule with no model, or
# the fallback to review).
RISK_WITHOUT_SCORE = {Decision.APPROVE: 0, Decision.REVIEW: 50, Decision.BLOCK: 100}


def normalise_thresholds(thresholds) -> dict[str, float]:
    """{"review": t, "block": t} from a model's thresholds (a single number is used for both)."""
    if isinstance(thresholds, Mapping):
        return {
            "review": float(thresholds.get("review", BLOCK_NOTHING)),
            "block": float(thresholds.get("block", BLOCK_NOTHING)),
        }
    return {"review": float(thresholds), "block": float(thresholds)}


def reaches(scores, threshold):
    """Whether each score is flagged at `threshold` (a bool, or a boolean array for an array)."""
    return scores >= threshold


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


def risk_score(score: float) -> int:
    """The 0-100 risk score of a probability: rounded half to even, as `risk_scores`."""
    return min(100, max(0, round(100 * float(score))))


def risk_scores(scores: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(scores, dtype=float) * 100), 0, 100).astype(int)
