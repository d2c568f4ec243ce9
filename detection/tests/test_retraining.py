"""Retraining: the gate, one run at a time, duplicate deliveries, stale and failed runs, audit."""

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections
from django.utils import timezone

from accounts.models import AuditEntry
from detection.lifecycle import retraining
from detection.models import ModelVersion, RetrainingRun
from detection.serving import registry
from detection.tests.lifecycle import strong, weak


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
    # Both were measured on the same, most recent period.
    assert compared["periods"]["test"] == compared["evaluation_period"]

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
