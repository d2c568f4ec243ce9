"""POST /batches/: a canonical CSV, checked whole, scored in the background, downloaded."""

import csv
import io

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from accounts.tests import factories as users
from accounts.tests.api_clients import error_of, key_client, session_client
from api.models import ApiJob
from detection.serving import scoring

pytestmark = pytest.mark.django_db

HEADER = "transaction_id,occurred_at,card_id,merchant_id,amount,currency,channel,country\n"
GOOD = HEADER + "".join(
    f"t{n},2026-11-0{1 + n % 5}T10:00:00Z,c{n % 3},m{n % 2},{10 + n}.50,EUR,online,FR\n" for n in range(6)
)


@pytest.fixture
def upload(django_capture_on_commit_callbacks):
    def post(client, content, name="batch.csv"):
        data = content.encode() if isinstance(content, str) else content
        # The job is queued once its row is committed: inside the test's transaction, on exit.
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/api/v1/batches/", {"file": SimpleUploadedFile(name, data, "text/csv")}, format="multipart"
            )

    return post


@pytest.fixture
def scorer(monkeypatch):
    """Batch scoring belongs to detection (a boundary of this app): a stand-in that ranks by amount."""

    def score_frame(frame, *, version=None):
        score = (frame["amount"] / frame["amount"].max()).round(4)
        return pd.DataFrame(
            {
                "transaction_id": frame["transaction_id"],
                "score": score,
                "risk_score": (score * 100).round().astype(int),
                "decision": ["block" if s > 0.9 else "approve" for s in score],
                "reasons": ["amount_high" if s > 0.9 else "" for s in score],  # as score_frame: ";"-joined
            }
        )

    monkeypatch.setattr(scoring, "score_frame", score_frame, raising=False)


def test_upload_score_poll_and_download(integrator, scorer, upload):
    client = key_client(integrator)
    created = upload(client, GOOD)
    assert created.status_code == 202, created.json()
    job = created.json()
    assert job["total"] == 6
    # The test settings run tasks at once; a worker would take it from the queue.
    status = client.get(f"/api/v1/batches/{job['id']}/").json()
    assert status["status"] == "succeeded" and status["progress"] == 1.0
    result = client.get(status["result_url"])
    assert result.status_code == 200
    assert result["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(result.streaming_content).decode())))
    assert [row["transaction_id"] for row in rows] == [f"t{n}" for n in range(6)]
    assert rows[-1]["decision"] == "block" and rows[-1]["reasons"] == "amount_high"
    assert set(rows[0]) == {"transaction_id", "score", "risk_score", "decision", "reasons"}


def test_someone_elses_batch_is_404(integrator, scorer, upload):
    job = upload(key_client(integrator), GOOD).json()
    other = key_client(users.integrator())
    assert other.get(f"/api/v1/batches/{job['id']}/").status_code == 404
    assert other.get(f"/api/v1/batches/{job['id']}/result/").status_code == 404


def test_result_is_404_until_the_batch_succeeded(integrator, monkeypatch, upload):
    def broken(frame, *, version=None):
        raise RuntimeError("model file missing")

    monkeypatch.setattr(scoring, "score_frame", broken, raising=False)
    client = key_client(integrator)
    job = upload(client, GOOD).json()
    status = client.get(f"/api/v1/batches/{job['id']}/").json()
    assert status["status"] == "failed" and status["error"]
    assert "model file missing" not in status["error"]  # internals stay in the log
    assert client.get(f"/api/v1/batches/{job['id']}/result/").status_code == 404


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (HEADER + "t1,2026-11-01T10:00:00Z,c1,m1,-5,EUR,online,FR\n", "Line 2: amount is negative"),
        (HEADER + "t1,not-a-date,c1,m1,5,EUR,online,FR\n", "Line 2: occurred_at is not"),
        (
            HEADER + "t1,2026-11-01T10:00:00Z,c1,m1,5,EUR,online,FR\nt1,2026-11-01T10:00:00Z,c1,m1,6,,,\n",
            "Line 3: duplicate transaction_id",
        ),
        ("transaction_id,amount\nt1,5\n", "Missing required column"),
        (HEADER, "no transactions"),
        ("", "file is empty"),
        ("just one line without commas\n\x00\x01", "Missing required column"),
        (b"\xff\xfe\x00bad", "not UTF-8"),
    ],
)
def test_a_file_with_bad_rows_is_refused_whole(integrator, content, expected, upload):
    response = upload(key_client(integrator), content)
    assert response.status_code == 400
    messages = " ".join(error_of(response)["fields"]["file"])
    assert expected in messages
    assert not ApiJob.objects.exists()


@override_settings(API_BATCH_MAX_BYTES=1024)
def test_an_oversized_upload_is_413(integrator, upload):
    response = upload(key_client(integrator), GOOD + "x" * 2048)
    assert response.status_code == 413
    assert error_of(response)["code"] == "file_too_large"
    assert not ApiJob.objects.exists()


def test_no_file_or_json_is_refused(integrator):
    client = key_client(integrator)
    missing = client.post("/api/v1/batches/", {}, format="multipart")
    assert missing.status_code == 400 and "file" in error_of(missing)["fields"]
    json_body = client.post("/api/v1/batches/", {"file": "t1,..."}, format="json")
    assert json_body.status_code == 415


def test_customers_cannot_upload_batches(customer, upload):
    assert upload(session_client(customer), GOOD).status_code == 403
