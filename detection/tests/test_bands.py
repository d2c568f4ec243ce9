import numpy as np
import pytest

from detection.contracts import Decision
from detection.ml.thresholds import BLOCK_NOTHING, normalise_thresholds, risk_score, risk_scores
from detection.serving.bands import band, bands

THRESHOLDS = {"review": 0.3, "block": 0.8}
# Scores on, just under and just over each threshold, and the ends.
SCORES = np.array(
    [0.0, np.nextafter(0.3, 0), 0.3, np.nextafter(0.3, 1), 0.5, np.nextafter(0.8, 0), 0.8, 0.95, 1.0]
)


def test_a_score_at_a_threshold_takes_its_band():
    assert band(0.3, THRESHOLDS) == Decision.REVIEW
    assert band(0.8, THRESHOLDS) == Decision.BLOCK
    assert band(np.nextafter(0.3, 0), THRESHOLDS) == Decision.APPROVE


@pytest.mark.parametrize(
    "thresholds",
    [THRESHOLDS, {"review": 0.3}, {"block": 0.8}, {}, 0.5, {"review": 0.9, "block": 0.3}],
)
def test_online_and_vectorised_bands_agree(thresholds):
    assert bands(SCORES, thresholds).tolist() == [band(float(s), thresholds) for s in SCORES]


def test_a_missing_threshold_flags_nothing():
    assert normalise_thresholds({}) == {"review": BLOCK_NOTHING, "block": BLOCK_NOTHING}
    assert band(1.0, {}) == Decision.APPROVE
    assert normalise_thresholds(0.4) == {"review": 0.4, "block": 0.4}


def test_risk_scores_round_half_to_even_both_ways():
    scores = np.array([0.0, 0.004, 0.005, 0.015, 0.125, 0.135, 0.5, 0.994, 0.995, 1.0])
    assert risk_scores(scores).tolist() == [risk_score(float(s)) for s in scores]
    assert risk_score(0.125) == 12 and risk_score(1.0) == 100 and risk_score(0.0) == 0
