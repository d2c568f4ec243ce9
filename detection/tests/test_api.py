"""Model versions through the API: list, read, train in the background, promote."""

import pytest
from django.utils import timezone

from accounts.tests.api_clients import error_of, session_client
from detection.ml import simulator
from detection.models import ModelVersion
from detection.tests.pipelines import register_toy

pytestmark = pytest.mark.django_db
LIGHT = {
    "random_forest": {"n_estimators": 10, "max_depth": 6},
    "hist_gradient_boosting": {"max_iter": 15, "max_leaf_nodes": 15},
}


def train(client, django_capture_on_commit_callbacks, **body):
    body = {"train_start": "2025-01-08T00:00:00Z", "train_end": "2025-01-25T00:00:00Z"} | body
    with django_capture_on_commit_callbacks(execute=True):
        return client.post("/api/v1/models/train", body, format="json")


def test_list_read_and_promote(model_manager, analyst):
    first = register_toy(promote="force")
    second = register_toy(promote="never", seed=1)
    manager = session_client(model_manager)
    listed = manager.get("/api/v1/models/").json()["results"]
    assert [m["version"] for m in listed] == [second.version, first.version]
    assert listed[1]["status"] == "champion" and "test" in listed[1]["metrics"]
    assert (
        manager.get("/api/v1/models/", {"status": "candidate"}).json()["results"][0]["version"]
        == second.version
    )
    assert session_client(analyst).get(f"/api/v1/models/{first.version}/").status_code == 200

    promoted = manager.post(f"/api/v1/models/{second.version}/promote", {"note": "better"}, format="json")
    assert promoted.status_code == 200 and promoted.json()["status"] == "champion"
    first.refresh_from_db()
    assert first.status == ModelVersion.Status.RETIRED
    assert session_client(analyst).post(f"/api/v1/models/{first.version}/promote", {}).status_code == 403
    missing = manager.post("/api/v1/models/nope/promote", {}, format="json")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"


def test_training_without_enough_data_fails_with_a_clear_message(
    model_manager, django_capture_on_commit_callbacks
):
    client = session_client(model_manager)
    job = train(client, django_capture_on_commit_callbacks).json()
    status = client.get(f"/api/v1/models/jobs/{job['id']}/").json()
    assert status["status"] == "failed"
    assert "no transactions" in status["error"].lower()


def test_training_period_is_validated(model_manager, django_capture_on_commit_callbacks):
    client = session_client(model_manager)
    response = train(client, django_capture_on_commit_callbacks, train_end="2025-01-01T00:00:00Z")
    assert response.status_code == 400
    assert "train_end" in error_of(response)["fields"]


@pytest.mark.slow
def test_training_from_the_database_registers_a_version(
    model_manager, settings, tmp_path, django_capture_on_commit_callbacks
):
    from transactions.importing import transactions_import

    settings.DETECTION_TRAINING_PARAMS = LIGHT
    path = tmp_path / "history.csv"
    simulator.write_csv(simulator.simulate(customers=150, merchants=60, days=45, seed=5), path)
    transactions_import(path=path, progress=False)
    client = session_client(model_manager)
    created = train(client, django_capture_on_commit_callbacks, promote="never")
    assert created.status_code == 202
    status = client.get(f"/api/v1/models/jobs/{created.json()['id']}/").json()
    assert status["status"] == "succeeded", status["error"]
    version = ModelVersion.objects.get(version=status["result"]["version"])
    assert version.status == ModelVersion.Status.CANDIDATE
    assert client.get(f"/api/v1/models/{version.version}/").json()["metrics"]


def test_retraining_through_the_gate_is_queued_once_and_can_be_polled(model_manager, analyst):
    from accounts.models import AuditEntry
    from detection.models import RetrainingRun

    manager = session_client(model_manager)

    first = manager.post("/api/v1/models/retrain")
    again = manager.post("/api/v1/models/retrain")

    assert first.status_code == 202
    assert first.json()["status"] == "queued" and first.json()["trigger"] == "api"
    # A second request while the first is waiting returns the same run and queues nothing.
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert RetrainingRun.objects.count() == 1
    assert AuditEntry.objects.filter(action="retraining.request", actor=model_manager).exists()
    polled = manager.get(f"/api/v1/models/retrain/{first.json()['id']}/")
    assert polled.status_code == 200 and polled.json()["outcome"] == ""
    assert session_client(analyst).post("/api/v1/models/retrain").status_code == 403
    assert error_of(manager.get("/api/v1/models/retrain/999999/"))["code"] == "not_found"


def test_retraining_runs_are_listed_newest_first_and_filtered(model_manager, analyst):
    from detection.models import RetrainingRun

    cutoff = timezone.now()
    old = RetrainingRun.objects.create(
        trigger="cron", status="failed", error="the worker stopped", labels_cutoff=cutoff, active=None
    )
    new = RetrainingRun.objects.create(trigger="labels", status="queued", labels_cutoff=cutoff)
    manager = session_client(model_manager)

    listed = manager.get("/api/v1/models/retrain/").json()["results"]
    failed = manager.get("/api/v1/models/retrain/?status=failed").json()["results"]

    assert [run["id"] for run in listed] == [new.pk, old.pk]
    assert [(run["id"], run["error"]) for run in failed] == [(old.pk, "the worker stopped")]
    assert error_of(manager.get("/api/v1/models/retrain/?status=lost"))["code"] == "validation_error"
    assert session_client(analyst).get("/api/v1/models/retrain/").status_code == 403


def test_a_failed_retraining_reports_its_error(model_manager, django_capture_on_commit_callbacks):
    manager = session_client(model_manager)

    with django_capture_on_commit_callbacks(execute=True):
        run = manager.post("/api/v1/models/retrain").json()

    polled = manager.get(f"/api/v1/models/retrain/{run['id']}/").json()
    assert polled["status"] == "failed"
    assert "Not enough history" in polled["error"] or "no transactions" in polled["error"]
