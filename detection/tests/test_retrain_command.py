"""The retrain command: the cron's --if-due, a run in this process with a JSON summary, no
second run while one is active, failures as clear errors."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from detection.lifecycle import retraining
from detection.models import ModelVersion, RetrainingRun
from detection.tests.lifecycle import strong


def _retrain(*args):
    out = StringIO()
    call_command("retrain", *args, "--json", stdout=out, stderr=StringIO())
    return json.loads(out.getvalue())


def test_if_due_does_nothing_without_new_labels(db):
    summary = _retrain("--if-due")
    assert summary["due"] is False and summary["run"] is None
    assert RetrainingRun.objects.count() == 0


@pytest.mark.slow
def test_retrain_runs_here_and_reports_the_gate(settings, db):
    strong(settings)
    summary = _retrain()
    assert summary["status"] == "succeeded"
    assert summary["outcome"] == "first"
    champion = ModelVersion.objects.get(status=ModelVersion.Status.CHAMPION)
    assert summary["challenger"] == champion.version
    assert summary["comparison"]["challenger"]["average_precision"] == pytest.approx(
        RetrainingRun.objects.get().comparison["challenger"]["average_precision"]
    )
    assert RetrainingRun.objects.get().trigger == RetrainingRun.Trigger.MANUAL


def test_no_second_run_while_one_is_active(db):
    run, _ = retraining.retraining_request(trigger="labels", enqueue=False)
    summary = _retrain("--enqueue")
    assert summary["created"] is False and summary["run"] == run.pk
    assert RetrainingRun.objects.count() == 1


def test_a_failed_run_is_a_command_error(settings, db):
    settings.DETECTION_TRAINING_SOURCE = "detection.tests.lifecycle.empty_source"
    with pytest.raises(CommandError, match="failed: There are no transactions"):
        call_command("retrain", stdout=StringIO(), stderr=StringIO())
    assert RetrainingRun.objects.get().status == RetrainingRun.Status.FAILED
