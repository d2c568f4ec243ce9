"""The bank's choices that the learning code needs, passed in rather than read from Django's
settings, so that `detection.ml` runs anywhere (a notebook, a benchmark, a worker). The defaults
here are the settings' defaults: `detection.conf` declares DETECTION_BLOCK_PRECISION and the
others from them and builds the options of a deployment with `conf.learning_options()` (the
environment's values, overridden by what staff set in the admin).
"""

from dataclasses import dataclass

REVIEW_BY_CARDS = "cards_per_day"
REVIEW_BY_RATE = "alert_rate"


@dataclass(frozen=True)
class LearningOptions:
    # Precision the block band must keep, established on validation (docs/model.md, "Bands").
    block_precision: float = 0.9
    # Flagged frauds the block threshold must rest on to count as establishing the precision.
    block_min_frauds: int = 20
    # When validation cannot establish the precision: block this top share of scores.
    block_fallback_share: float = 0.001
    # Analyst capacity the review band is sized to: cards a day, unless an alert rate (share of
    # payments held for review) is given, which then decides.
    review_cards_per_day: int = 100
    review_alert_rate: float | None = None
    # The k of card precision@k (cards an analyst team checks a day, in the published protocol).
    card_precision_k: int = 100
    # OpenMP/BLAS threads for training (see DETECTION_TRAINING_THREADS).
    training_threads: int = 1

    @property
    def review_capacity(self) -> tuple[str, float]:
        """(how the review band is sized, the target): by alert rate or by cards a day."""
        if self.review_alert_rate is not None:
            return REVIEW_BY_RATE, float(self.review_alert_rate)
        return REVIEW_BY_CARDS, int(self.review_cards_per_day)
