"""What a model's thresholds mean, in numbers: the one definition that evaluation, training and
the decision bands (`detection.serving.bands`) use.

A score *reaches* a threshold when it is at or above it. A model has a review and a block
threshold; a missing one is BLOCK_NOTHING, which no probability reaches. The 0-100 risk score
shown to people is the probability in percent.
"""

from collections.abc import Mapping

import numpy as np

# A threshold no probability reaches: "flag nothing".
BLOCK_NOTHING = 1.01

# The thresholds of a model version registered without any (an artifact made by hand): review
# at even odds, block nothing. Serving and evaluating such a version both use these.
WITHOUT_THRESHOLDS = {"review": 0.5, "block": BLOCK_NOTHING}


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


def risk_score(score: float) -> int:
    """The 0-100 risk score of a probability: rounded half to even, as `risk_scores`."""
    return min(100, max(0, round(100 * float(score))))


def risk_scores(scores: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(scores, dtype=float) * 100), 0, 100).astype(int)
