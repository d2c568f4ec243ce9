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


# --- retraining (detection.retraining) ------------------------------------------------------------


def retrain_min_new_labels() -> int:
    """Confirmed labels since the last retraining that make a new one due (with at least one fraud)."""
    return int(getattr(settings, "DETECTION_RETRAIN_MIN_NEW_LABELS", 50))


def retrain_margin_average_precision() -> float:
    """How much lower than the champion's a challenger's average precision may be and still win."""
    return float(getattr(settings, "DETECTION_RETRAIN_MARGIN_AP", 0.005))


def retrain_margin_card_precision() -> float:
    """The same tolerance for card precision@k."""
    return float(getattr(settings, "DETECTION_RETRAIN_MARGIN_CARD_PRECISION", 0.01))


def retrain_validation_days() -> int:
    return int(getattr(settings, "DETECTION_RETRAIN_VALIDATION_DAYS", 7))


def retrain_evaluation_days() -> int:
    """The most recent period on which challenger and champion are compared."""
    return int(getattr(settings, "DETECTION_RETRAIN_EVALUATION_DAYS", 7))


def retrain_algorithms() -> tuple | None:
    """Candidate algorithms a retraining compares; None: all of detection.training's (the
    caller's default, since this module is below training)."""
    algorithms = getattr(settings, "DETECTION_RETRAIN_ALGORITHMS", None)
    return tuple(algorithms) if algorithms else None


def retrain_max_train_rows() -> int | None:
    """Rows a retraining's final fit may use; None: detection.training's default."""
    rows = getattr(settings, "DETECTION_RETRAIN_MAX_TRAIN_ROWS", None)
    return int(rows) if rows else None


def retrain_heartbeat_seconds() -> float:
    """How often a running retraining's heartbeat thread says it is alive, whatever the training
    is doing."""
    return float(getattr(settings, "DETECTION_RETRAIN_HEARTBEAT_SECONDS", 5))


def retrain_stale_seconds() -> float:
    """A running retraining whose heartbeat is older than this is dead (its worker was killed or
    its machine lost): it is marked failed, its task too, and the slot is freed. Many heartbeats
    long, so a busy database delaying a few of them does not kill a live run."""
    return float(getattr(settings, "DETECTION_RETRAIN_STALE_SECONDS", 45))


def retrain_queued_timeout_minutes() -> float:
    """A retraining no worker picked up within this long is marked failed (is a worker running?)."""
    return float(getattr(settings, "DETECTION_RETRAIN_QUEUED_TIMEOUT_MINUTES", 120))


def health_task_max_wait_seconds() -> float:
    """The health endpoint reports the task queue degraded when the oldest runnable task has
    waited longer than this (no worker taking work?)."""
    return float(getattr(settings, "DETECTION_HEALTH_TASK_MAX_WAIT_SECONDS", 300))


def traffic_source_path() -> str:
    """Dotted path to the object that answers detection's questions about stored traffic and
    labels (label counts, daily volumes, the review queue); it lives with the tables."""
    return getattr(settings, "DETECTION_TRAFFIC_SOURCE", "transactions.traffic.DatabaseTraffic")
