"""Retraining: the gate, one run at a time, duplicate deliveries, stale and failed runs, audit."""

import threading
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from django.db import close_old_connections
from django.utils import timezone

from accounts.models import AuditEntry
from detection.dataset import canonical_frame
from detection.lifecycle import retraining
from detection.ml import training
from detection.ml.features import FEATURE_NAMES, compute_features_frame
from detection.ml.options import LearningOptions
from detection.ml.review_budget import recall_at_review_budget
from detection.ml.simulator import CANONICAL_COLUMNS
from detection.models import ModelVersion, RetrainingRun
from detection.serving import registry
from detection.tests.lifecycle import history, strong, weak


def _champion():
    return ModelVersion.objects.get(status=ModelVersion.Status.CHAMPION)


def _run(trigger=RetrainingRun.Trigger.MANUAL, user=None):
    run, created = retraining.retraining_request(trigger=trigger, requested_by=user, enqueue=False)
    assert created
    return retraining.execute_run(run.pk)


# --- the gate, on figures -----------------------------------------------------------------------

MARGINS = {"average_precision": 0.01, "recall_at_review_budget": 0.02}


def test_gate_promotes_a_better_challenger():
    passed, reason = retraining.gate(
        {"average_precision": 0.62, "recall_at_review_budget": 0.30},
        {"average_precision": 0.55, "recall_at_review_budget": 0.29},
        MARGINS,
    )
    assert passed
    assert "0.620" in reason


def test_gate_keeps_the_champion_when_the_challenger_is_worse_on_either_metric():
    worse_ap, why = retraining.gate(
        {"average_precision": 0.50, "recall_at_review_budget": 0.40},
        {"average_precision": 0.55, "recall_at_review_budget": 0.29},
        MARGINS,
    )
    worse_cp, _ = retraining.gate(
        {"average_precision": 0.60, "recall_at_review_budget": 0.20},
        {"average_precision": 0.55, "recall_at_review_budget": 0.29},
        MARGINS,
    )
    assert not worse_ap and not worse_cp
    assert "average_precision 0.500" in why


def test_gate_tolerates_a_difference_within_the_margin():
    passed, _ = retraining.gate(
        {"average_precision": 0.545, "recall_at_review_budget": 0.28},
        {"average_precision": 0.55, "recall_at_review_budget": 0.29},
        MARGINS,
    )
    assert passed


# --- whole runs on a simulated history -------------------------------------------------------------


@pytest.mark.slow
def test_first_run_makes_a_champion_a_better_one_replaces_it_a_worse_one_does_not(settings, model_manager):
    weak(settings)
    first = _run(user=model_manager)
    assert first.status == RetrainingRun.Status.SUCCEEDED, first.error
    assert first.outcome == RetrainingRun.Outcome.FIRST
    stump = _champion()
    assert first.challenger == stump

    strong(settings)
    second = _run(user=model_manager)
    assert second.outcome == RetrainingRun.Outcome.PROMOTED, second.comparison
    assert _champion() == second.challenger != stump
    compared = second.comparison
    assert compared["champion"]["version"] == stump.version
    assert compared["challenger"]["average_precision"] > compared["champion"]["average_precision"]
    # Both were measured on the same period, the newest with mature labels; the stump champion
    # had learnt from it (it was refitted up to the first run's cutoff), so its algorithm was
    # refitted without it to be judged.
    assert compared["periods"]["test"] == compared["evaluation_period"]
    assert compared["champion"]["judged_as"] == "refitted"
    assert set(compared["margins"]) == {"average_precision", "recall_at_review_budget"}

    weak(settings)
    third = _run(user=model_manager)
    assert third.outcome == RetrainingRun.Outcome.KEPT
    assert _champion() == second.challenger
    kept = ModelVersion.objects.get(pk=third.challenger.pk)
    assert kept.status == ModelVersion.Status.CANDIDATE
    assert "Champion kept" in kept.notes
    assert third.comparison["passed"] is False

    # Every promotion is in the audit trail, by the person who asked for the run.
    promotions = AuditEntry.objects.filter(action="model_version.promote").order_by("id")
    assert [e.after["champion"] for e in promotions] == [stump.version, second.challenger.version]
    assert all(e.actor == model_manager for e in promotions)
    assert AuditEntry.objects.filter(action="retraining.finish").count() == 3

    # Rolling back by hand brings the stump back, audited.
    restored = registry.rollback(actor=model_manager, note="test")
    assert restored == stump == _champion()
    assert AuditEntry.objects.filter(action="model_version.rollback", actor=model_manager).exists()


def test_a_failed_run_is_recorded_and_leaves_the_champion(settings, db):
    from detection.tests.pipelines import register_toy

    champion = register_toy(promote="force")
    settings.DETECTION_TRAINING_SOURCE = "detection.tests.lifecycle.empty_source"
    run = _run()
    assert run.status == RetrainingRun.Status.FAILED
    assert "no transactions" in run.error
    assert run.active is None
    assert _champion() == champion
    assert AuditEntry.objects.filter(action="retraining.fail", target_id=str(run.pk)).exists()
    # The slot is free again.
    _again, created = retraining.retraining_request(trigger="manual", enqueue=False)
    assert created


# --- one run at a time ----------------------------------------------------------------------------


def test_a_second_request_gets_the_active_run(db, analyst):
    run, created = retraining.retraining_request(trigger="manual", requested_by=analyst, enqueue=False)
    again, created_again = retraining.retraining_request(trigger="labels", enqueue=False)
    assert created and not created_again
    assert again == run
    assert RetrainingRun.objects.count() == 1


def test_a_run_delivered_twice_trains_once(db):
    run, _ = retraining.retraining_request(trigger="manual", enqueue=False)
    RetrainingRun.objects.filter(pk=run.pk).update(status=RetrainingRun.Status.RUNNING)
    assert retraining.execute_run(run.pk) is None  # claimed by another worker already
    run.refresh_from_db()
    assert run.status == RetrainingRun.Status.RUNNING


@pytest.mark.django_db(transaction=True)
def test_simultaneous_requests_make_one_run():
    barrier = threading.Barrier(4)
    results = []

    def ask():
        try:
            barrier.wait()
            results.append(retraining.retraining_request(trigger="manual", enqueue=False))
        finally:
            close_old_connections()

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert RetrainingRun.objects.count() == 1
    assert sum(created for _run, created in results) == 1
    assert {run.pk for run, _ in results} == {RetrainingRun.objects.get().pk}


# --- a worker that dies -----------------------------------------------------------------------


def test_a_run_whose_worker_stopped_is_marked_failed_and_frees_the_slot(settings, db):
    from detection.tests.pipelines import register_toy

    champion = register_toy(promote="force")
    run, _ = retraining.retraining_request(trigger="manual", enqueue=False)
    long_ago = timezone.now() - timedelta(seconds=50)  # past the default 45 s
    RetrainingRun.objects.filter(pk=run.pk).update(
        status=RetrainingRun.Status.RUNNING, started_at=long_ago, heartbeat_at=long_ago, progress=40
    )
    # A fresh trigger notices, marks it failed and starts over.
    fresh, created = retraining.retraining_request(trigger="labels", enqueue=False)
    run.refresh_from_db()
    assert created and fresh != run
    assert run.status == RetrainingRun.Status.FAILED
    assert "stopped (no heartbeat for 45 s" in run.error
    assert _champion() == champion


def test_a_run_marked_stale_while_training_does_not_promote(settings, db, monkeypatch):
    from detection.tests.pipelines import register_toy

    champion = register_toy(promote="force")
    strong(settings)
    run, _ = retraining.retraining_request(trigger="manual", enqueue=False)
    original = retraining.challenge

    def challenge_then_lose_the_run(*args, **kwargs):
        result = original(*args, **kwargs)
        retraining._fail(run.pk, "marked stale by another process")
        return result

    # Another process gives up on the run while this worker is still training.
    monkeypatch.setattr(retraining, "challenge", challenge_then_lose_the_run)
    retraining.execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == RetrainingRun.Status.FAILED
    assert _champion() == champion


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_keeps_a_live_run_alive_through_a_long_silent_step(settings, monkeypatch):
    """Training steps can take minutes without a progress report; the heartbeat thread keeps
    saying the worker is alive, so only a dead worker's run is released."""
    import time

    from django.db import connection

    settings.DETECTION_TRAINING_SOURCE = "detection.tests.lifecycle.simulated_source"
    settings.DETECTION_RETRAIN_HEARTBEAT_SECONDS = 0.5
    settings.DETECTION_RETRAIN_STALE_SECONDS = 3
    run, _ = retraining.retraining_request(trigger="manual", enqueue=False)
    in_step, release = threading.Event(), threading.Event()

    def a_long_silent_step(*args, **kwargs):
        in_step.set()
        release.wait(60)
        raise retraining.RetrainingError("stopped by the test")

    monkeypatch.setattr(retraining, "challenge", a_long_silent_step)

    def work():
        try:
            retraining.execute_run(run.pk)
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    try:
        assert in_step.wait(60)
        time.sleep(5)  # no progress for longer than the stale limit
        assert retraining.expire_stale_runs() == 0
        run.refresh_from_db()
        assert run.status == RetrainingRun.Status.RUNNING
        assert timezone.now() - run.heartbeat_at < timedelta(seconds=2)
    finally:
        release.set()
        worker.join(60)
    run.refresh_from_db()
    assert run.status == RetrainingRun.Status.FAILED and run.error == "stopped by the test"
    # Once the run has ended its heartbeat stops with it.
    beat = run.heartbeat_at
    time.sleep(1.5)
    run.refresh_from_db()
    assert run.heartbeat_at == beat


def test_a_recent_running_run_is_left_alone(db):
    run, _ = retraining.retraining_request(trigger="manual", enqueue=False)
    now = timezone.now()
    RetrainingRun.objects.filter(pk=run.pk).update(status=RetrainingRun.Status.RUNNING, heartbeat_at=now)
    assert retraining.expire_stale_runs() == 0
    run.refresh_from_db()
    assert run.status == RetrainingRun.Status.RUNNING


def test_labels_confirmed_during_a_run_start_the_next_one_when_it_ends(settings, db):
    from transactions.tests.factories import TransactionFactory

    weak(settings)
    settings.DETECTION_RETRAIN_MIN_NEW_LABELS = 2
    run, _created = retraining.retraining_request(trigger="manual", enqueue=False)
    # Two frauds confirmed while the run waits for its worker: it holds the slot, so no run starts.
    for _ in range(2):
        TransactionFactory(
            is_fraud=True, label_known_at=timezone.now(), label_source="customer", status="confirmed_fraud"
        )
    assert retraining.retraining_check() is None

    finished = retraining.execute_run(run.pk)

    assert finished.status == RetrainingRun.Status.SUCCEEDED, finished.error
    following = RetrainingRun.objects.get(active=True)
    assert (following.trigger, following.status) == ("labels", "queued")
    assert (following.new_labels, following.new_frauds) == (2, 2)
    assert following.labels_cutoff > finished.labels_cutoff


def test_a_run_ending_with_too_few_new_labels_starts_nothing(settings, db):
    weak(settings)
    assert _run().status == RetrainingRun.Status.SUCCEEDED
    assert not RetrainingRun.objects.filter(active=True).exists()


# --- freshness: what the challenger learns from and where the gate judges it ----------------------

# Labels known by 12:00 on 9 February; the history runs to the 11th, so later reports exist.
CUTOFF = pd.Timestamp("2025-02-09 12:00", tz="UTC")
DELAY = pd.Timedelta(days=7)


def _bank_history():
    return canonical_frame(history()[CANONICAL_COLUMNS].reset_index(drop=True))


def _without_reports(frame, rows):
    """The same history where the frauds of `rows` were never reported (they look legitimate)."""
    frame = frame.copy()
    rows = rows & (frame["is_fraud"] == 1)
    frame.loc[rows, "is_fraud"] = 0
    frame.loc[rows, "label_known_at"] = frame.loc[rows, "occurred_at"] + DELAY
    return frame


def _challenge(frame, champion=None):
    return retraining.challenge(frame, champion=champion, known_by=CUTOFF)


def _predictions(pipeline, frame):
    X = compute_features_frame(frame, label_delay=DELAY)[FEATURE_NAMES].to_numpy(dtype=np.float64)
    return pipeline.predict_proba(X)[:, 1]


@pytest.mark.django_db
def test_the_registered_challenger_learns_the_frauds_reported_up_to_the_cutoff(settings):
    strong(settings)
    frame = _bank_history()
    times, known = frame["occurred_at"], frame["label_known_at"]
    # After the comparison week: rows only the final refit learns from.
    recent_known = (times >= CUTOFF.floor("D") - DELAY) & (times < CUTOFF) & (known <= CUTOFF)
    assert (recent_known & (frame["is_fraud"] == 1)).sum() > 20

    learnt = _challenge(frame)
    unreported = _challenge(_without_reports(frame, recent_known))

    # Every fraud known at the cutoff is in the final fit, the newest week's included...
    known_frauds = ((frame["is_fraud"] == 1) & (known <= CUTOFF) & (times < CUTOFF)).sum()
    assert learnt.result.training_rows["frauds"] == known_frauds
    assert learnt.result.periods["refit"][1] == CUTOFF
    # ...so the model differs when those reports had not come (the old 14-day cut ignored them).
    probe = frame[times < CUTOFF]
    assert (
        np.abs(
            _predictions(learnt.result.pipeline, probe) - _predictions(unreported.result.pipeline, probe)
        ).max()
        > 1e-3
    )


def test_recent_rows_count_only_as_reported_frauds(settings):
    """Legitimate rows younger than one label delay are left out of the final fit; the frauds
    reported among them are learnt."""
    strong(settings)
    frame = _bank_history()
    features = compute_features_frame(frame, label_delay=DELAY)
    times = frame["occurred_at"]
    immature = (times >= CUTOFF - DELAY) & (times < CUTOFF)
    reported = (frame["is_fraud"] == 1) & (frame["label_known_at"] <= CUTOFF)
    periods = retraining.plan_periods(
        times.min(),
        times.max(),
        label_delay=DELAY,
        validation_days=7,
        evaluation_days=7,
        labels_cutoff=CUTOFF,
    )

    def train(rows):
        return training.train(
            frame[rows],
            train_start=periods["train"][0],
            train_end=periods["train"][1],
            test_days=0,
            labels_cutoff=CUTOFF,
            algorithms=["logistic_regression"],
            features=features,
            options=LearningOptions(review_cards_per_day=10, card_precision_k=10),
        )

    everything = train(pd.Series(True, index=frame.index))
    without_immature_legitimate = train(~(immature & ~reported))
    without_immature_frauds = train(~(immature & reported))

    probe = features[FEATURE_NAMES].to_numpy(dtype=np.float64)
    assert everything.training_rows["immature_left_out"] == (immature & ~reported).sum() > 0
    np.testing.assert_array_equal(
        everything.pipeline.predict_proba(probe), without_immature_legitimate.pipeline.predict_proba(probe)
    )
    assert (immature & reported).sum() > 0
    assert not np.allclose(
        everything.pipeline.predict_proba(probe), without_immature_frauds.pipeline.predict_proba(probe)
    )


@pytest.mark.django_db
def test_the_gate_judges_the_holdout_fit_on_the_newest_mature_week_by_ap_and_recall_at_budget(settings):
    strong(settings)
    frame = _bank_history()
    result = _challenge(frame)
    comparison = result.comparison()

    # The week ending one label delay before the cutoff's day: every label there is mature.
    mature_end = CUTOFF.floor("D") - DELAY
    assert comparison["evaluation_period"] == [
        (mature_end - pd.Timedelta(days=7)).isoformat(),
        mature_end.isoformat(),
    ]
    assert comparison["labels_cutoff"] == CUTOFF.isoformat()
    assert set(comparison["margins"]) == {"average_precision", "recall_at_review_budget"}
    assert 0 < comparison["challenger"]["recall_at_review_budget"] <= 1
    # The figures are those of the holdout fit, with the labels known at the cutoff.
    rows = result.evaluation_rows
    in_week = frame[rows]
    y = ((in_week["is_fraud"] == 1) & (in_week["label_known_at"] <= CUTOFF)).to_numpy()
    holdout_scores = _predictions(result.result.holdout[0], frame)[rows]
    np.testing.assert_allclose(result.scores["challenger"], holdout_scores)
    assert comparison["challenger"]["recall_at_review_budget"] == pytest.approx(
        recall_at_review_budget(
            y,
            holdout_scores,
            card_ids=in_week["card_id"],
            occurred_at=in_week["occurred_at"],
            cards_per_day=10,
        )
    )


@pytest.mark.django_db
def test_the_comparison_weeks_labels_never_reach_the_model_judged_on_it(settings):
    strong(settings)
    frame = _bank_history()
    honest = _challenge(frame)
    week_frauds = np.flatnonzero(honest.evaluation_rows & (frame["is_fraud"] == 1).to_numpy())
    half = pd.Series(False, index=frame.index)
    half.iloc[week_frauds[::2]] = True
    relabelled = _challenge(_without_reports(frame, half))

    probe = frame[frame["occurred_at"] < CUTOFF]
    np.testing.assert_array_equal(
        _predictions(honest.result.holdout[0], probe), _predictions(relabelled.result.holdout[0], probe)
    )
    assert honest.result.holdout[1] == relabelled.result.holdout[1]
    # The week's labels do count for the judging (and for the final refit).
    assert honest.challenger["n_fraud"] > relabelled.challenger["n_fraud"] > 0


@pytest.mark.django_db
def test_labels_reported_after_the_cutoff_change_nothing(settings):
    strong(settings)
    frame = _bank_history()
    later = frame["label_known_at"] > CUTOFF
    assert ((frame["is_fraud"] == 1) & later).sum() > 10
    champion_run = retraining.challenge(
        frame[frame["occurred_at"] < CUTOFF - 2 * DELAY], champion=None, known_by=CUTOFF - 2 * DELAY
    )
    champion = _loaded(champion_run)

    full = _challenge(frame, champion)
    blanked = _challenge(_without_reports(frame, later), champion)

    assert full.comparison() == blanked.comparison()
    assert full.result.thresholds == blanked.result.thresholds
    probe = frame[frame["occurred_at"] < CUTOFF]
    np.testing.assert_array_equal(
        _predictions(full.result.pipeline, probe), _predictions(blanked.result.pipeline, probe)
    )


def _loaded(challenge):
    return registry.LoadedModel(
        version=ModelVersion(
            version="champion",
            algorithm=challenge.result.algorithm,
            parameters=challenge.result.parameters,
            feature_names=FEATURE_NAMES,
            thresholds=challenge.result.thresholds,
            metrics={"periods": challenge.result.summary()["periods"]},
        ),
        pipeline=challenge.result.pipeline,
    )


@pytest.mark.django_db
def test_a_champion_that_learnt_the_comparison_week_is_judged_by_its_procedure(settings):
    """Scored as served it would be judged on rows it was fitted on; its algorithm fitted on the
    holdout rows is judged instead."""
    strong(settings)
    frame = _bank_history()
    yesterday = _challenge(frame[frame["occurred_at"] < CUTOFF - pd.Timedelta(days=1)])
    champion = _loaded(yesterday)
    assert retraining.champion_learnt_until(champion) > pd.Timestamp(_challenge(frame).periods["test"][0])

    today = _challenge(frame, champion)

    assert today.champion["judged_as"] == "refitted"
    # The same procedure on the same rows: the very same figures, so the fresher refit wins.
    np.testing.assert_array_equal(today.scores["champion"], today.scores["challenger"])
    assert today.passed
    as_served = _predictions(champion.pipeline, frame)[today.evaluation_rows]
    assert not np.allclose(today.scores["champion"], as_served)
