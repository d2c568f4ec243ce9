"""Detection settings with their defaults. Read them through these functions (not at import time)
so tests and deployments can override any of them in Django settings."""

from pathlib import Path

from django.conf import settings


def label_delay_days() -> int:
    return int(getattr(settings, "DETECTION_LABEL_DELAY_DAYS", 7))


def block_precision() -> float:
    """Validation precision the block band must keep."""
    return float(getattr(settings, "DETECTION_BLOCK_PRECISION", 0.9))


def review_cards_per_day() -> int:
    """Analyst capacity the review band is sized to."""
    return int(getattr(settings, "DETECTION_REVIEW_CARDS_PER_DAY", 100))


def card_precision_k() -> int:
    return int(getattr(settings, "DETECTION_CARD_PRECISION_K", 100))


def models_dir() -> Path:
    default = Path(settings.BASE_DIR) / "var" / "models"
    return Path(getattr(settings, "DETECTION_MODELS_DIR", default))


def history_source_path() -> str:
    """Dotted path to the HistorySource the online features read (lives with the tables)."""
    return getattr(settings, "DETECTION_HISTORY_SOURCE", "transactions.history.DatabaseHistory")


def training_source_path() -> str:
    """Dotted path to a callable(start=None, end=None) returning all transactions as a frame in
    the canonical columns: the training data when no CSV is given."""
    return getattr(settings, "DETECTION_TRAINING_SOURCE", "transactions.history.transactions_frame")


def training_params() -> dict:
    """Overrides of the candidate algorithms' parameters, by algorithm name, e.g.
    {"random_forest": {"n_estimators": 200}} (see detection.training.CANDIDATES)."""
    return dict(getattr(settings, "DETECTION_TRAINING_PARAMS", {}))


def training_threads() -> int:
    """OpenMP/BLAS threads for training. 1 by default: on a machine shared with web and worker
    processes, OpenMP threads that spin waiting for a core made gradient boosting 7x slower
    than a single thread (measured on 2 busy cores)."""
    return int(getattr(settings, "DETECTION_TRAINING_THREADS", 1))


def champion_check_seconds() -> float:
    """How often a process asks the database whether the champion changed."""
    return float(getattr(settings, "DETECTION_CHAMPION_CHECK_SECONDS", 5))


def rules_cache_seconds() -> float:
    """How long a process keeps rules and lists before reading them again."""
    return float(getattr(settings, "DETECTION_RULES_CACHE_SECONDS", 5))
