"""The bank's choices that the learning code needs, passed in rather than read from Django's
settings, so that `detection.ml` runs anywhere (a notebook, a benchmark, a worker). The defaults
here are the settings' defaults: `detection.conf` declares DETECTION_BLOCK_PRECISION and the
others from them and builds the options of a deployment with `conf.learning_options()`.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class LearningOptions:
    # Validation precision the block band must keep.
    block_precision: float = 0.9
    # Analyst capacity the review band is sized to.
    review_cards_per_day: int = 100
    # The k of card precision@k (cards an analyst team checks a day, in the published protocol).
    card_precision_k: int = 100
    # OpenMP/BLAS threads for training (see DETECTION_TRAINING_THREADS).
    training_threads: int = 1
