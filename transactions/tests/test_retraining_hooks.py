"""Confirmed labels feed retraining: enough of them (with a fraud) queue exactly one run."""

import pytest
from django.tasks import task_backends

from accounts.models import AuditEntry
from detection.models import RetrainingRun
from transactions import services
from transactions.models import Transaction
from transactions.tests.factories import FraudReportFactory, TransactionFactory


@pytest.fixture
def queue(settings):
    """A backend that keeps what was enqueued instead of running it."""
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    backend = task_backends["default"]
    backend.clear()
    return backend


def test_confirmed_labels_queue_one_retraining_once_enough_arrived(
    settings, queue, analyst, django_capture_on_commit_callbacks
):
    settings.DETECTION_RETRAIN_MIN_NEW_LABELS = 3
    reports = [FraudReportFactory() for _ in range(4)]
    with django_capture_on_commit_callbacks(execute=True):
        for report in reports[:2]:
            services.fraud_report_resolve(report=report, resolved_by=analyst, confirmed=False)
    assert RetrainingRun.objects.count() == 0  # two labels: not enough
    assert queue.results == []

    with django_capture_on_commit_callbacks(execute=True):
        for report in reports[2:]:
            services.fraud_report_resolve(report=report, resolved_by=analyst, confirmed=True)
    run = RetrainingRun.objects.get()
    assert run.trigger == RetrainingRun.Trigger.LABELS
    assert (run.new_labels, run.new_frauds) == (4, 2)
    assert len(queue.results) == 1  # the second confirmation found the run already queued
    assert queue.results[0].kwargs == {"run_id": run.pk}

    # Every label is in the audit trail, by the analyst who gave it.
    labels = AuditEntry.objects.filter(action__in=["fraud_report.confirm", "fraud_report.reject"])
    assert labels.count() == 4
    assert set(labels.values_list("actor", flat=True)) == {analyst.pk}


def test_labels_without_a_fraud_do_not_retrain(settings, queue, analyst, django_capture_on_commit_callbacks):
    settings.DETECTION_RETRAIN_MIN_NEW_LABELS = 2
    held = [TransactionFactory(status=Transaction.Status.PENDING_REVIEW, decision="review") for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        for tx in held:
            services.transaction_review_resolve(transaction=tx, actor=analyst, is_fraud=False)
    assert RetrainingRun.objects.count() == 0
    assert AuditEntry.objects.filter(action="transaction.review_legitimate", actor=analyst).count() == 3


def test_labels_counted_by_a_run_do_not_count_again(
    settings, queue, analyst, django_capture_on_commit_callbacks
):
    settings.DETECTION_RETRAIN_MIN_NEW_LABELS = 2
    held = [TransactionFactory(status=Transaction.Status.PENDING_REVIEW, decision="review") for _ in range(4)]
    with django_capture_on_commit_callbacks(execute=True):
        services.transaction_review_resolve(transaction=held[0], actor=analyst, is_fraud=True)
        services.transaction_review_resolve(transaction=held[1], actor=analyst, is_fraud=False)
    run = RetrainingRun.objects.get()
    # The worker finished it; one more label is not enough for another run.
    RetrainingRun.objects.filter(pk=run.pk).update(status=RetrainingRun.Status.SUCCEEDED, active=None)
    with django_capture_on_commit_callbacks(execute=True):
        services.transaction_review_resolve(transaction=held[2], actor=analyst, is_fraud=True)
    assert RetrainingRun.objects.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.transaction_review_resolve(transaction=held[3], actor=analyst, is_fraud=False)
    assert RetrainingRun.objects.count() == 2
