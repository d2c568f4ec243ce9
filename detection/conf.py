"""Detection settings, each declared with its default and bounds (core.conf): read them through
these functions, not at import time, so tests and deployments can override any of them in Django
settings; `manage.py check` validates the values set."""

from datetime import timedelta
from pathlib import Path

from django.apps import apps
from django.conf import settings

from core.conf import setting
from detection.ml.options import LearningOptions

DEFAULTS = LearningOptions()


@setting("DETECTION_LABEL_DELAY_DAYS", default=7, minimum=0)
def label_delay_days(value) -> int:
    return int(value)


def label_delay() -> timedelta:
    return timedelta(days=label_delay_days())


# --- decision bands: the bank's risk appetite and capacity (docs/model.md, "Where the bands come from").
# Staff can override the precision and the capacity in the admin (detection.BandSettings).


@setting("DETECTION_BLOCK_PRECISION", default=DEFAULTS.block_precision, minimum=0, maximum=1)
def block_precision(value) -> float:
    """Precision the block band must keep, established on validation."""
    return float(value)


@setting("DETECTION_BLOCK_MIN_FRAUDS", default=DEFAULTS.block_min_frauds, minimum=1)
def block_min_frauds(value) -> int:
    """Flagged validation frauds a block threshold must rest on to establish the precision."""
    return int(value)


@setting("DETECTION_BLOCK_FALLBACK_SHARE", default=DEFAULTS.block_fallback_share, minimum=0, maximum=1)
def block_fallback_share(value) -> float:
    """Top share of scores blocked when validation cannot establish the precision."""
    return float(value)


@setting("DETECTION_REVIEW_CARDS_PER_DAY", default=DEFAULTS.review_cards_per_day, minimum=1)
def review_cards_per_day(value) -> int:
    """Analyst capacity the review band is sized to, in cards a day (unless an alert rate is set)."""
    return int(value)


@setting("DETECTION_REVIEW_ALERT_RATE", default=DEFAULTS.review_alert_rate, optional=True, maximum=1)
def review_alert_rate(value) -> float:
    """Share of payments held for review; when set, it sizes the review band instead of the
    cards a day."""
    rate = float(value)
    if not rate > 0:  # also refuses NaN
        raise ValueError(f"an alert rate is a share above 0 and at most 1, not {value!r}")
    return rate


@setting("DETECTION_CARD_PRECISION_K", default=DEFAULTS.card_precision_k, minimum=1)
def card_precision_k(value) -> int:
    return int(value)


@setting("DETECTION_MODELS_DIR", default=lambda: Path(settings.BASE_DIR) / "var" / "models")
def models_dir(value) -> Path:
    return Path(value)


@setting("DETECTION_HISTORY_SOURCE", default="transactions.history.DatabaseHistory", dotted_path=True)
def history_source_path(value) -> str:
    """Dotted path to the HistorySource the online features read (lives with the tables)."""
    return str(value)


@setting("DETECTION_TRAINING_SOURCE", default="transactions.history.transactions_frame", dotted_path=True)
def training_source_path(value) -> str:
    """Dotted path to a callable(start=None, end=None) returning all transactions as a frame in
    the canonical columns: the training data when no CSV is given."""
    return str(value)


@setting("DETECTION_DECISIONS_SOURCE", default="transactions.history.decisions_frame", dotted_path=True)
def decisions_source_path(value) -> str:
    """Dotted path to a callable(start, end) returning what production decided for the
    transactions of [start, end): transaction_id, decision, score, risk_score, model_version,
    decided_by, account_rule (the account's own rules, not detection, declined it). Backtests
    compare against it."""
    return str(value)


@setting("DETECTION_TRAINING_PARAMS", default={})
def training_params(value) -> dict:
    """Overrides of the candidate algorithms' parameters, by algorithm name, e.g.
    {"random_forest": {"n_estimators": 200}} (see detection.ml.training.CANDIDATES)."""
    return dict(value)


@setting("DETECTION_TRAINING_THREADS", default=DEFAULTS.training_threads, minimum=1)
def training_threads(value) -> int:
    """OpenMP/BLAS threads for training. 1 by default: on a machine shared with web and worker
    processes, OpenMP threads that spin waiting for a core made gradient boosting 7x slower
    than a single thread (measured on 2 busy cores)."""
    return int(value)


@setting("DETECTION_CHAMPION_CHECK_SECONDS", default=5, minimum=0)
def champion_check_seconds(value) -> float:
    """How often a process asks the database whether the champion changed."""
    return float(value)


@setting("DETECTION_RULES_CACHE_SECONDS", default=5, minimum=0)
def rules_cache_seconds(value) -> float:
    """How long a process keeps rules and lists before reading them again."""
    return float(value)


@setting("DETECTION_BACKTEST_JUSTIFICATION_DAYS", default=30, minimum=1)
def backtest_justification_days(value) -> int:
    """How recent a backtest must be to justify a change going live (the audit trail names it);
    an older one measured a world that has moved on, and the change is recorded as untested."""
    return int(value)


# --- retraining (detection.lifecycle.retraining) ------------------------------------------------------------


@setting("DETECTION_RETRAIN_MIN_NEW_LABELS", default=50, minimum=1)
def retrain_min_new_labels(value) -> int:
    """Confirmed labels since the last retraining that make a new one due (with at least one fraud)."""
    return int(value)


@setting("DETECTION_RETRAIN_MARGIN_AP", default=0.005, minimum=0)
def retrain_margin_average_precision(value) -> float:
    """How much lower than the champion's a challenger's average precision may be and still win."""
    return float(value)


@setting("DETECTION_RETRAIN_MARGIN_RECALL_AT_BUDGET", default=0.02, minimum=0)
def retrain_margin_recall_at_budget(value) -> float:
    """The same tolerance for recall at the review budget (the share of fraud the analysts'
    daily capacity of cards would catch)."""
    return float(value)


@setting("DETECTION_RETRAIN_VALIDATION_DAYS", default=7, minimum=1)
def retrain_validation_days(value) -> int:
    return int(value)


@setting("DETECTION_RETRAIN_EVALUATION_DAYS", default=7, minimum=1)
def retrain_evaluation_days(value) -> int:
    """The most recent period on which challenger and champion are compared."""
    return int(value)


@setting("DETECTION_RETRAIN_ALGORITHMS", default=None, optional=True)
def retrain_algorithms(value) -> tuple | None:
    """Candidate algorithms a retraining compares; None: all of detection.ml.training's (the
    caller's default, since this module is below training)."""
    return tuple(value) or None


@setting("DETECTION_RETRAIN_MAX_TRAIN_ROWS", default=None, optional=True, minimum=1)
def retrain_max_train_rows(value) -> int | None:
    """Rows a retraining's final fit may use; None: detection.ml.training's default."""
    return int(value)


@setting("DETECTION_RETRAIN_HEARTBEAT_SECONDS", default=5, minimum=0)
def retrain_heartbeat_seconds(value) -> float:
    """How often a running retraining's heartbeat thread says it is alive, whatever the training
    is doing."""
    return float(value)


@setting("DETECTION_RETRAIN_STALE_SECONDS", default=45, minimum=0)
def retrain_stale_seconds(value) -> float:
    """A running retraining whose heartbeat is older than this is dead (its worker was killed or
    its machine lost): it is marked failed, its task too, and the slot is freed. Many heartbeats
    long, so a busy database delaying a few of them does not kill a live run."""
    return float(value)


@setting("DETECTION_RETRAIN_QUEUED_TIMEOUT_MINUTES", default=120, minimum=0)
def retrain_queued_timeout_minutes(value) -> float:
    """A retraining no worker picked up within this long is marked failed (is a worker running?)."""
    return float(value)


@setting("DETECTION_HEALTH_TASK_MAX_WAIT_SECONDS", default=300, minimum=0)
def health_task_max_wait_seconds(value) -> float:
    """The health endpoint reports the task queue degraded when the oldest runnable task has
    waited longer than this (no worker taking work?)."""
    return float(value)


@setting("DETECTION_TRAFFIC_SOURCE", default="transactions.traffic.DatabaseTraffic", dotted_path=True)
def traffic_source_path(value) -> str:
    """Dotted path to the object that answers detection's questions about stored traffic and
    labels (label counts, daily volumes, the review queue); it lives with the tables."""
    return str(value)


@setting("DETECTION_DASHBOARD_CACHE_SECONDS", default=60, minimum=0)
def dashboard_cache_seconds(value) -> float:
    """How long a process reuses the traffic dashboard's per-day figures (aggregates over every
    transaction of the period) before counting again; the review queue part is always live."""
    return float(value)


def staff_band_settings():
    """What staff set for the bands in the admin (the one `BandSettings` row), or None. Looked up
    by name: this module and `models` are independent siblings in detection's layers."""
    return apps.get_model("detection", "BandSettings").objects.first()


_UNREAD = object()


def learning_options(staff=_UNREAD) -> LearningOptions:
    """The deployment's choices for `detection.ml` (training, retraining, evaluation, thresholds):
    the settings (environment), overridden by the bands' settings staff saved in the admin."""
    options = LearningOptions(
        block_precision=block_precision(),
        block_min_frauds=block_min_frauds(),
        block_fallback_share=block_fallback_share(),
        review_cards_per_day=review_cards_per_day(),
        review_alert_rate=review_alert_rate(),
        card_precision_k=card_precision_k(),
        training_threads=training_threads(),
    )
    if staff is _UNREAD:  # a caller that shows where each value comes from has read it already
        staff = staff_band_settings()
    return staff.applied_to(options) if staff else options
