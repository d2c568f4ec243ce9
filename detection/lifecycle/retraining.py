"""Retraining after new labels, with a champion/challenger gate.

Triggers
--------
* **On demand**: ``retraining_request(trigger="manual")`` (the admin's "Train now", the
  ``retrain`` command, the API).
* **New labels**: ``retraining_check()`` runs after a label is confirmed (on commit); a run is
  due when at least ``DETECTION_RETRAIN_MIN_NEW_LABELS`` (50) labels, one of them a fraud, became
  known since the last run was requested. Labels confirmed while a run is queued or running find
  the slot taken; when that run succeeds it checks again, so they get their own run at once.
* **Schedule**: ``manage.py retrain --if-due --enqueue`` from cron (see docs/model.md) catches
  labels that arrived without a hook (imports); ``manage.py retrain --enqueue`` weekly refreshes
  the model regardless.

Safety
------
* One run at a time: a run is created with ``active=True`` and a partial unique constraint lets
  the database (SQLite or PostgreSQL) refuse a second active run; a second trigger gets the run
  that is already queued or running. A worker claims a run with a conditional UPDATE
  (queued → running), so a task delivered twice trains once.
* The champion changes only in the last, short transaction, and only if the run is still
  running then. A worker killed mid-training leaves the champion as it was.
* A dead worker is noticed within a minute: while a run trains, a thread of its worker touches
  ``heartbeat_at`` every ``DETECTION_RETRAIN_HEARTBEAT_SECONDS`` (5), whatever the training is
  doing. A run whose heartbeat is older than ``DETECTION_RETRAIN_STALE_SECONDS`` (45) is marked
  failed by the next trigger, look at the runs (admin or API) or ``retrain`` command; its slot is
  freed and its task (the django_tasks_db row or the RQ job) is marked failed too, since the
  killed worker can no longer say so. A run no worker picked up is failed after
  ``DETECTION_RETRAIN_QUEUED_TIMEOUT_MINUTES``.

The gate
--------
The challenger is trained with the time-honest protocol of `detection.ml.training` on all the
history known at the run's labels cutoff C (``labels_cutoff``). Its **comparison period** is the
newest ``DETECTION_RETRAIN_EVALUATION_DAYS`` (7) days whose labels are mature at C: the week
ending one label delay before C's day. Training (fit, gap, validation: algorithm and thresholds)
ends where the comparison starts, and the chosen algorithm fitted on that window (the *holdout*
fit, which never saw the comparison rows) is what the gate measures. The registered challenger
is then refitted on everything known at C: every fraud reported by C, however recent, and
legitimate rows only where their labels are mature (older than one label delay; younger
unreported rows may still be fraud, and counting them legitimate would teach the model that
recent means legitimate). Features use a label only from when it became known; no label
reported after C is read at all. Both models are judged with the labels known at C on
**average precision** and **recall at the review budget** (the share of fraudulent cards found
by reviewing each day the ``DETECTION_REVIEW_CARDS_PER_DAY`` cards ranked highest), each no
worse than the champion's minus a margin (``DETECTION_RETRAIN_MARGIN_AP``,
``DETECTION_RETRAIN_MARGIN_RECALL_AT_BUDGET``). A champion that learnt from the comparison
period (a recent refit) would be judged in-sample there: its algorithm and parameters are
fitted on the holdout rows instead and that fit is judged. Otherwise the challenger stays a
candidate, and the comparison is stored on the run and in its notes.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from django.db import DatabaseError, IntegrityError, close_old_connections, connection, transaction
from django.db.models import Q
from django.tasks import TaskResultStatus, task, task_backends
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from accounts.services import audit_record
from core.rq_backend import RQBackend
from detection import conf, services
from detection.ml import evaluation, training
from detection.ml.features import FEATURE_NAMES, compute_features_frame
from detection.ml.options import REVIEW_BY_RATE
from detection.ml.review_budget import recall_at_review_budget
from detection.ml.thresholds import WITHOUT_THRESHOLDS
from detection.models import ModelVersion, RetrainingRun
from detection.serving import registry

logger = logging.getLogger(__name__)

GATE_METRICS = ("average_precision", "recall_at_review_budget")
SHOWN_METRICS = (
    *GATE_METRICS,
    "review_cards_per_day",
    "card_precision_at_k",
    "roc_auc",
    "precision",
    "recall",
    "f1",
    "n",
    "n_fraud",
)


class RetrainingError(Exception):
    """A retraining that cannot be done as the data stand (too little history, no fraud...)."""


def traffic():
    """The traffic and labels source (lives with the tables; see conf.traffic_source_path)."""
    return import_string(conf.traffic_source_path())()


# --- triggers -----------------------------------------------------------------------------------


@dataclass
class Due:
    due: bool
    labels: int
    frauds: int
    threshold: int
    since: datetime | None


def _labels_since() -> datetime | None:
    """Labels known after this moment are new: the last run's cutoff, else the champion's birth."""
    last = RetrainingRun.objects.order_by("-labels_cutoff").values_list("labels_cutoff", flat=True).first()
    if last is not None:
        return last
    return (
        ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION)
        .values_list("created_at", flat=True)
        .first()
    )


def retraining_due() -> Due:
    since = _labels_since()
    counts = traffic().label_counts(since=since)
    threshold = conf.retrain_min_new_labels()
    return Due(
        due=counts["labels"] >= threshold and counts["frauds"] >= 1,
        labels=counts["labels"],
        frauds=counts["frauds"],
        threshold=threshold,
        since=since,
    )


def active_run() -> RetrainingRun | None:
    return RetrainingRun.objects.filter(active=True).first()


def expire_stale_runs() -> int:
    """Mark failed the runs whose worker died (no heartbeat for DETECTION_RETRAIN_STALE_SECONDS)
    or that no worker picked up; their slot is freed for the next trigger and their task is
    marked failed. Returns how many. One indexed query when nothing is stale."""
    now = timezone.now()
    stale_running = Q(
        status=RetrainingRun.Status.RUNNING,
        heartbeat_at__lt=now - timedelta(seconds=conf.retrain_stale_seconds()),
    )
    stale_queued = Q(
        status=RetrainingRun.Status.QUEUED,
        created_at__lt=now - timedelta(minutes=conf.retrain_queued_timeout_minutes()),
    )
    expired = 0
    for run_id, status in RetrainingRun.objects.filter(stale_running | stale_queued, active=True).values_list(
        "pk", "status"
    ):
        if status == RetrainingRun.Status.RUNNING:
            message = _(
                "The worker running this retraining stopped (no heartbeat for %(seconds)d s: killed, "
                "crashed or its machine lost); the champion was not changed. Request a new run."
            ) % {"seconds": conf.retrain_stale_seconds()}
        else:
            message = _("No worker picked this run up in time; is a task worker running?")
        expired += _fail(run_id, message, task_lost=True)
    return expired


def retraining_request(*, trigger, requested_by=None, enqueue=True) -> tuple[RetrainingRun, bool]:
    """Ask for a retraining. Returns (run, created): when a run is already queued or running,
    that run and False, and nothing new is queued. The task is enqueued once the request is
    committed."""
    if trigger not in RetrainingRun.Trigger.values:
        raise ValueError(f"Unknown trigger {trigger!r}.")
    expire_stale_runs()
    due = retraining_due()
    try:
        with transaction.atomic():
            run = RetrainingRun.objects.create(
                trigger=trigger,
                requested_by=requested_by
                if requested_by is not None and requested_by.is_authenticated
                else None,
                labels_cutoff=timezone.now(),
                new_labels=due.labels,
                new_frauds=due.frauds,
                stage=_("Waiting for a worker"),
            )
            audit_record(
                actor=requested_by,
                action="retraining.request",
                target=run,
                after={"trigger": trigger, "new_labels": due.labels, "new_frauds": due.frauds},
            )
    except IntegrityError:  # another run holds the one active slot
        existing = active_run()
        if existing is None:  # it finished in between: the caller may simply ask again
            raise
        return existing, False
    if enqueue:
        transaction.on_commit(lambda: _enqueue(run.pk))
    return run, True


def _enqueue(run_id):
    try:
        result = retrain.enqueue(run_id=run_id)
        RetrainingRun.objects.filter(pk=run_id).update(task_id=str(result.id))
    except Exception as error:  # a broken queue must not break the request that asked
        logger.exception("retraining run %s could not be queued", run_id)
        _fail(run_id, _("The run could not be queued: %(error)s") % {"error": error})


def retraining_check(*, trigger=RetrainingRun.Trigger.LABELS) -> RetrainingRun | None:
    """After labels are confirmed: request a run when enough new ones arrived. Never raises
    (a label is stored whatever happens to the retraining)."""
    try:
        if active_run() is not None:
            expire_stale_runs()
            if active_run() is not None:
                return None
        if not retraining_due().due:
            return None
        run, created = retraining_request(trigger=trigger)
        return run if created else None
    except Exception:
        logger.exception("retraining check failed")
        return None


# --- the gate (frames in, figures out) ----------------------------------------------------------


@dataclass
class Challenge:
    result: training.TrainingResult
    periods: dict
    challenger: dict
    champion: dict | None
    passed: bool
    reason: str
    margins: dict
    labels_cutoff: datetime
    evaluation_rows: np.ndarray = field(repr=False)
    scores: dict = field(default_factory=dict, repr=False)

    def comparison(self) -> dict:
        return {
            # The newest week whose labels were mature at the cutoff (see plan_periods).
            "evaluation_period": [self.periods["test"][0].isoformat(), self.periods["test"][1].isoformat()],
            "labels_cutoff": self.labels_cutoff.isoformat(),
            "periods": {k: [v[0].isoformat(), v[1].isoformat()] for k, v in self.periods.items()},
            "challenger": self.challenger,
            "champion": self.champion,
            "margins": self.margins,
            "passed": self.passed,
            "reason": self.reason,
        }


def plan_periods(first, last, *, label_delay, validation_days, evaluation_days, labels_cutoff=None) -> dict:
    """The run's periods, from the labels cutoff C (or the day after the last transaction, when
    earlier): T is that day's start.

    * **comparison** (stored as ``test``) ``[T − D − E, T − D)``: the newest days whose labels
      are mature at C (every row at least one label delay old); the gate measures both models
      there;
    * **train** ``[first day, T − D − E)``: fit, gap and validation (see
      `training.plan_periods`), then the holdout fit the gate measures;
    * **refit** ``[first day, C)``: what the registered challenger learns from (every fraud
      known at C; legitimate rows only where mature)."""
    end = pd.Timestamp(last).floor("D") + pd.Timedelta(days=1)
    if labels_cutoff is not None:
        end = min(end, pd.Timestamp(labels_cutoff).floor("D"))
    test_end = end - pd.Timedelta(label_delay)
    test_start = test_end - pd.Timedelta(days=evaluation_days)
    train_start = pd.Timestamp(first).floor("D")
    needed = evaluation_days + label_delay.days + validation_days + 1
    if test_start - train_start < pd.Timedelta(days=validation_days + 1):
        raise RetrainingError(
            _(
                "Not enough history to retrain: the evaluation (%(e)d days), label delay (%(d)d days) "
                "and validation (%(v)d days) need at least %(n)d days of transactions."
            )
            % {"e": evaluation_days, "v": validation_days, "d": label_delay.days, "n": needed}
        )
    periods = training.plan_periods(
        train_start.to_pydatetime(),
        test_start.to_pydatetime(),
        label_delay=label_delay,
        validation_days=validation_days,
        test_days=0,
    )
    periods["test"] = (test_start.to_pydatetime(), test_end.to_pydatetime())
    return periods


def _summary(metrics: dict | None) -> dict | None:
    if metrics is None:
        return None
    return {name: metrics.get(name) for name in SHOWN_METRICS}


def champion_scores(champion: registry.LoadedModel, features: pd.DataFrame) -> np.ndarray:
    names = list(champion.feature_names)
    missing = [name for name in names if name not in features.columns]
    if missing:
        raise RetrainingError(
            _("The champion needs features that no longer exist: %(names)s.") % {"names": ", ".join(missing)}
        )
    X = features[names].to_numpy(dtype=np.float64)
    return champion.pipeline.predict_proba(X)[:, 1] if len(X) else np.zeros(0)


def champion_learnt_until(champion: registry.LoadedModel):
    """The end of the newest rows the champion was fitted on (its refit's, else its training
    window's), or None when its version does not say."""
    periods = (champion.version.metrics or {}).get("periods") or {}
    period = periods.get("refit") or periods.get("train")
    return pd.Timestamp(period[1]) if period else None


def gate_metrics(y, scores, frame, thresholds, *, options, include_curves=False) -> dict:
    """Every figure of `evaluation.evaluate` plus recall at the review budget (cards a day from
    the bank's LearningOptions), the second figure the gate judges on."""
    card_ids = frame["card_id"].astype(str).to_numpy()
    metrics = evaluation.evaluate(
        y,
        scores,
        card_ids=card_ids,
        occurred_at=frame["occurred_at"],
        thresholds=thresholds or WITHOUT_THRESHOLDS,
        k=options.card_precision_k,
        include_curves=include_curves,
    )
    budget = review_budget_cards(options, frame)
    metrics["recall_at_review_budget"] = recall_at_review_budget(
        y, scores, card_ids=card_ids, occurred_at=frame["occurred_at"], cards_per_day=budget
    )
    metrics["review_cards_per_day"] = budget
    return metrics


def review_budget_cards(options, frame) -> int:
    """The analysts' daily capacity in cards: as the bank states it, or, when it states an alert
    rate, that share of the period's payments a day (at least one card)."""
    basis, target = options.review_capacity
    if basis != REVIEW_BY_RATE or frame.empty:
        return int(options.review_cards_per_day)
    days = max(1, frame["occurred_at"].dt.floor("D").nunique())
    return max(1, round(target * len(frame) / days))


def challenge(
    frame: pd.DataFrame,
    *,
    champion: registry.LoadedModel | None,
    known_by=None,
    label_delay=None,
    validation_days=None,
    evaluation_days=None,
    algorithms=None,
    max_train_rows=None,
    seed=0,
    log=None,
) -> Challenge:
    """Train a challenger on a canonical frame and compare it with `champion` on the newest
    period whose labels are mature. `known_by` (the labels cutoff, default now): only labels known
    by then are read, for learning and for judging alike."""
    log = log or (lambda message, progress=None: None)
    options = conf.learning_options()  # once per run: staff's band settings are a query
    label_delay = conf.label_delay() if label_delay is None else label_delay
    validation_days = conf.retrain_validation_days() if validation_days is None else validation_days
    evaluation_days = conf.retrain_evaluation_days() if evaluation_days is None else evaluation_days
    if len(frame) == 0:
        raise RetrainingError(_("There are no transactions to train on."))
    known_by = pd.Timestamp(timezone.now() if known_by is None else known_by)
    times = pd.to_datetime(frame["occurred_at"], utc=True)
    periods = plan_periods(
        times.min(),
        times.max(),
        label_delay=label_delay,
        validation_days=validation_days,
        evaluation_days=evaluation_days,
        labels_cutoff=known_by,
    )
    log(_("Computing features for %(n)d transactions") % {"n": len(frame)}, 15)
    features = compute_features_frame(frame, label_delay=label_delay)

    # Learn from every label known at the cutoff: a fraud of the training window reported after
    # the window still counts (features above still saw it only from when it was known).
    train_end = pd.Timestamp(periods["train"][1])
    fit_frame = frame.copy()
    known = pd.to_datetime(fit_frame["label_known_at"], utc=True)
    fraud = pd.to_numeric(fit_frame["is_fraud"], errors="coerce").fillna(0).to_numpy() == 1
    known_at_cutoff = fraud & (known <= known_by).to_numpy()
    fit_frame.loc[known_at_cutoff & (times < train_end).to_numpy(), "label_known_at"] = train_end
    # A label reported after the cutoff is not known yet: the rows look legitimate, as they did.
    fit_frame.loc[fraud & ~known_at_cutoff, "is_fraud"] = 0

    def train(algorithms, params, labels_cutoff):
        try:
            return training.train(
                fit_frame,
                train_start=periods["train"][0],
                train_end=periods["train"][1],
                label_delay=label_delay,
                validation_days=validation_days,
                test_days=0,
                labels_cutoff=labels_cutoff,
                algorithms=algorithms,
                max_train_rows=max_train_rows
                or conf.retrain_max_train_rows()
                or training.DEFAULT_MAX_TRAIN_ROWS,
                seed=seed,
                features=features,
                params=params,
                options=options,
                log=lambda message: log(message, None),
            )
        except training.TrainingError as error:
            raise RetrainingError(str(error)) from error

    log(_("Training the challenger"), 30)
    result = train(
        algorithms or conf.retrain_algorithms() or training.ALGORITHMS, conf.training_params(), known_by
    )
    holdout_pipeline, holdout_thresholds = result.holdout

    # The comparison period, judged with the labels known at the cutoff (mature there).
    rows = (
        (times >= pd.Timestamp(periods["test"][0])) & (times < pd.Timestamp(periods["test"][1]))
    ).to_numpy()
    eval_frame = frame[rows]
    y = known_at_cutoff[rows].astype(np.int8)
    eval_features = features[rows]
    scores = {
        "challenger": holdout_pipeline.predict_proba(eval_features[FEATURE_NAMES].to_numpy(dtype=np.float64))[
            :, 1
        ]
    }
    challenger_metrics = gate_metrics(
        y, scores["challenger"], eval_frame, holdout_thresholds, options=options, include_curves=True
    )
    if challenger_metrics.get("average_precision") is None:
        raise RetrainingError(
            _(
                "The evaluation period has no fraud (or no transactions): challenger and champion cannot be compared."
            )
        )
    # What the registered version shows as its test: the holdout fit on the comparison period.
    result.periods["test"] = periods["test"]
    result.curves["test"] = challenger_metrics.pop("curves")
    result.metrics["test"] = challenger_metrics

    log(_("Scoring the champion on the evaluation period"), 80)
    margins = {
        "average_precision": conf.retrain_margin_average_precision(),
        "recall_at_review_budget": conf.retrain_margin_recall_at_budget(),
    }
    champion_metrics = None
    champion_error = ""
    judged_as = None
    if champion is not None:
        learnt_until = champion_learnt_until(champion)
        try:
            if learnt_until is not None and learnt_until > pd.Timestamp(periods["test"][0]):
                # The champion learnt from (part of) the comparison period: its figures there
                # would be in-sample. Judge its procedure instead: its algorithm and parameters
                # fitted on the challenger's holdout rows.
                judged_as = "refitted"
                log(_("Refitting the champion's algorithm on the holdout rows"), 75)
                scores["champion"], champion_thresholds = _champion_procedure_scores(
                    champion, result, eval_features, train=train
                )
            else:
                judged_as = "as_served"
                scores["champion"] = champion_scores(champion, eval_features)
                champion_thresholds = champion.thresholds
        except RetrainingError as error:  # it cannot even be measured: the challenger replaces it
            champion_error = str(error)
            champion_metrics = {}
        else:
            champion_metrics = gate_metrics(
                y, scores["champion"], eval_frame, champion_thresholds, options=options
            )
    passed, reason = gate(_summary(challenger_metrics), _summary(champion_metrics), margins)
    if champion_error:
        reason = f"{champion_error} {reason}"
    return Challenge(
        result=result,
        periods=periods,
        challenger={"version": None, "algorithm": result.algorithm, **_summary(challenger_metrics)},
        champion=None
        if champion is None
        else {
            "version": champion.name,
            "algorithm": champion.version.algorithm,
            "judged_as": judged_as,
            **_summary(champion_metrics),
        },
        passed=passed,
        reason=reason,
        margins=margins,
        labels_cutoff=known_by.to_pydatetime(),
        evaluation_rows=rows,
        scores=scores,
    )


def _champion_procedure_scores(champion, result, eval_features, *, train) -> tuple[np.ndarray, dict]:
    """Scores on the comparison period (and thresholds) of the champion's algorithm and
    parameters fitted as the challenger's holdout was (same rows, labels and seed): the same
    procedure gives the very same model, so only a different one is fitted."""
    algorithm = champion.version.algorithm
    if algorithm not in training.CANDIDATES:
        raise RetrainingError(_("The champion's algorithm %(name)s is unknown.") % {"name": algorithm})
    # "class_weight" in stored parameters is a note on the weighting, not the estimator's.
    accepted = set(training.CANDIDATES[algorithm][0]().get_params()) - {"class_weight"}
    params = {k: v for k, v in (champion.version.parameters or {}).items() if k in accepted}
    if algorithm == result.algorithm and params == {
        k: v for k, v in result.parameters.items() if k in accepted
    }:
        pipeline, thresholds = result.holdout
    else:
        replay = train((algorithm,), {algorithm: params}, None)
        pipeline, thresholds = replay.pipeline, replay.thresholds
    X = eval_features[FEATURE_NAMES].to_numpy(dtype=np.float64)
    return (pipeline.predict_proba(X)[:, 1] if len(X) else np.zeros(0)), thresholds


def gate(challenger: dict, champion: dict | None, margins: dict) -> tuple[bool, str]:
    """(promote?, why) from both models' metrics on the same period: the challenger must reach
    the champion's average precision and recall at the review budget, each less its margin."""
    if champion is None:
        return True, _("There is no champion yet: the challenger becomes the first one.")
    shortfalls = []
    for metric in GATE_METRICS:
        ours, theirs = challenger.get(metric), champion.get(metric)
        if ours is None:
            shortfalls.append(_("%(metric)s cannot be measured for the challenger") % {"metric": metric})
        elif theirs is not None and ours < theirs - margins[metric]:
            shortfalls.append(
                _("%(metric)s %(ours).3f is below the champion's %(theirs).3f by more than %(margin).3f")
                % {"metric": metric, "ours": ours, "theirs": theirs, "margin": margins[metric]}
            )
    if shortfalls:
        return False, _("Champion kept: %(why)s.") % {"why": "; ".join(shortfalls)}
    return True, _(
        "Challenger promoted: average precision %(ap).3f (champion %(cap)s), recall at the review "
        "budget %(rb).3f (champion %(crb)s)."
    ) % {
        "ap": challenger["average_precision"],
        "cap": _fmt(champion.get("average_precision")),
        "rb": challenger["recall_at_review_budget"],
        "crb": _fmt(champion.get("recall_at_review_budget")),
    }


def _fmt(value):
    return "n/a" if value is None else f"{value:.3f}"


# --- running a retraining (the worker's side) ---------------------------------------------------


def _progress(run_id, *, progress=None, stage=None):
    fields = {"heartbeat_at": timezone.now()}
    if progress is not None:
        fields["progress"] = max(0, min(100, int(progress)))
    if stage is not None:
        fields["stage"] = str(stage)[:200]
    RetrainingRun.objects.filter(pk=run_id, status=RetrainingRun.Status.RUNNING).update(**fields)


def _fail(run_id, message, *, task_lost=False) -> int:
    """Mark an active run failed and free the slot; 0 when it had already ended. `task_lost`:
    its worker is gone, so mark its task failed as well."""
    with transaction.atomic():
        updated = RetrainingRun.objects.filter(pk=run_id, active=True).update(
            status=RetrainingRun.Status.FAILED,
            active=None,
            error=str(message)[:5000],
            finished_at=timezone.now(),
            stage=_("Failed"),
        )
        if updated:
            run = RetrainingRun.objects.get(pk=run_id)
            audit_record(actor=None, action="retraining.fail", target=run, after={"error": run.error})
    if updated and task_lost and run.task_id:
        try:
            task_mark_lost(task_id=run.task_id, message=run.error)
        except Exception:  # the run is released whatever happens to the task's record
            logger.exception(
                "the task %s of retraining run %s could not be marked failed", run.task_id, run_id
            )
    return updated


class WorkerLost(Exception):
    """What a task whose worker died is recorded as having raised."""


def task_mark_lost(*, task_id, message) -> bool:
    """Record the task of a dead worker as failed, as the worker would have: the database
    backend's row, or the RQ job (moved to RQ's failed registry). True when something changed."""
    backend = task_backends[retrain.backend]
    if isinstance(backend, DatabaseBackend):
        return bool(
            DBTaskResult.objects.filter(
                id=task_id, status__in=[TaskResultStatus.RUNNING, TaskResultStatus.READY]
            ).update(
                status=TaskResultStatus.FAILED,
                finished_at=timezone.now(),
                return_value=None,
                exception_class_path=f"{WorkerLost.__module__}.{WorkerLost.__qualname__}",
                traceback=str(message),
            )
        )
    if isinstance(backend, RQBackend):
        return backend.mark_lost(task_id, f"{WorkerLost.__module__}.{WorkerLost.__qualname__}: {message}")
    return False


def execute_run(run_id, *, on_progress=None) -> RetrainingRun | None:
    """Do one queued run: claim it, train, gate, register, maybe promote, record the outcome.
    Returns the run, or None when it was not queued (already taken: a duplicate delivery).
    `on_progress(percent, stage)` is told of each step too (the command's progress bar)."""
    now = timezone.now()
    claimed = RetrainingRun.objects.filter(pk=run_id, status=RetrainingRun.Status.QUEUED, active=True).update(
        status=RetrainingRun.Status.RUNNING, started_at=now, heartbeat_at=now, progress=1, stage=_("Starting")
    )
    if not claimed:
        logger.warning("retraining run %s is not queued any more; not run again", run_id)
        return None
    run = RetrainingRun.objects.get(pk=run_id)
    try:
        with _Heartbeat(run_id):
            _execute(run, on_progress=on_progress)
    except Exception as error:
        logger.exception("retraining run %s failed", run_id)
        _fail(run_id, str(error) or error.__class__.__name__)
    run = RetrainingRun.objects.get(pk=run_id)
    if run.status == RetrainingRun.Status.SUCCEEDED:
        # Labels confirmed while this run trained are not in it (it learnt what was known at its
        # cutoff) and found the slot taken: when they are enough, their run follows now.
        retraining_check()
    return run


class _Heartbeat:
    """A thread that touches the run's heartbeat every DETECTION_RETRAIN_HEARTBEAT_SECONDS while
    the run trains, independently of the training's own progress reports (one step can take
    minutes). It dies with the process, which is the point: no heartbeat, no worker."""

    def __init__(self, run_id):
        self.run_id = run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"retraining-{run_id}-heartbeat", daemon=True)

    def __enter__(self):
        # Inside a transaction (a test's, or a caller's) the run's state is invisible to other
        # connections: a heartbeat from one would only wait on the lock.
        if not connection.in_atomic_block:
            self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _beat(self):
        try:
            while not self._stop.wait(conf.retrain_heartbeat_seconds()):
                try:
                    alive = RetrainingRun.objects.filter(
                        pk=self.run_id, status=RetrainingRun.Status.RUNNING
                    ).update(heartbeat_at=timezone.now())
                except DatabaseError as error:  # the database is away for a moment: try next beat
                    logger.warning("retraining run %s: heartbeat not recorded (%s)", self.run_id, error)
                    close_old_connections()
                    continue
                if not alive:  # finished, or marked failed by someone else
                    return
        finally:
            connection.close()  # this thread's own connection


def _execute(run: RetrainingRun, *, on_progress=None):
    label_delay = conf.label_delay()

    def log(message, progress=None):
        logger.info("retraining run %s: %s", run.pk, message)
        _progress(run.pk, progress=progress, stage=message)
        if on_progress is not None:
            on_progress(progress, str(message))

    log(_("Reading the labelled history"), 5)
    frame = services.stored_history(label_delay=label_delay)
    # The model actually serving (a previous champion if the champion's artifact is refused).
    champion = registry.serving_model()
    result = challenge(frame, champion=champion, known_by=run.labels_cutoff, label_delay=label_delay, log=log)
    log(_("Registering the challenger"), 90)
    version = services.register(
        result.result, promote="never", created_by=run.requested_by, notes=result.reason
    )
    comparison = result.comparison()
    comparison["challenger"]["version"] = version.version
    with transaction.atomic():
        locked = RetrainingRun.objects.select_for_update().get(pk=run.pk)
        if locked.status != RetrainingRun.Status.RUNNING:
            # Marked stale while we trained: someone may already have acted; change nothing.
            raise RetrainingError(
                _("The run was marked failed while training; the champion was not changed.")
            )
        outcome = RetrainingRun.Outcome.KEPT
        if result.passed:
            registry.promote_version(
                version,
                actor=run.requested_by,
                note=_("Retraining run #%(run)d: %(why)s") % {"run": run.pk, "why": result.reason},
            )
            outcome = (
                RetrainingRun.Outcome.FIRST if result.champion is None else RetrainingRun.Outcome.PROMOTED
            )
        locked.status = RetrainingRun.Status.SUCCEEDED
        locked.active = None
        locked.progress = 100
        locked.stage = _("Finished")
        locked.finished_at = timezone.now()
        locked.heartbeat_at = locked.finished_at
        locked.outcome = outcome
        locked.comparison = registry._json_safe(comparison)
        locked.challenger = version
        locked.champion = (
            ModelVersion.objects.filter(version=result.champion["version"]).first()
            if result.champion
            else None
        )
        locked.save()
        audit_record(
            actor=run.requested_by,
            action="retraining.finish",
            target=locked,
            after={"outcome": outcome, "challenger": version.version, "comparison": locked.comparison},
            note=result.reason,
        )


@task()
def retrain(*, run_id):
    """The background task: one retraining run (see execute_run)."""
    run = execute_run(run_id)
    return None if run is None else {"status": run.status, "outcome": run.outcome}
