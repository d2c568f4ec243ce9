"""One rule for amounts and times on every entry point: the API (submit and score), the
customer's payment form, the service, CSV import, batch scoring and training files."""

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accounts.tests.api_clients import error_of, key_client
from detection.dataset import read_transactions_csv
from detection.serving import scoring
from transactions.models import Transaction
from transactions.services import transaction_submit
from transactions.tests.factories import CardFactory, MerchantFactory

pytestmark = pytest.mark.django_db

FUTURE = f"{timezone.now().year + 1}-01-01T00:00:00Z"
BAD_AMOUNTS = ["0", "-0", "0.00", "-5", "1000000.01", "４２", "٤٢", "1_000", "12.345", 0, -0.0, 1e12]
BAD_TIMES = [
    "0001-01-01T00:00:00Z",
    "1900-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    FUTURE,
    "２０２６-01-01T00:00:00Z",
]


@pytest.fixture
def api(integrator):
    return key_client(integrator)


def _body(**overrides):
    return {"card_id": "card_plausible", "merchant_id": "m_plausible", "amount": "10.00"} | overrides


@pytest.mark.parametrize("url", ["/api/v1/transactions/", "/api/v1/decisions/score"])
@pytest.mark.parametrize(
    ("field", "value"),
    [("amount", amount) for amount in BAD_AMOUNTS] + [("occurred_at", when) for when in BAD_TIMES],
)
def test_the_api_refuses_implausible_amounts_and_times_on_submit_and_score(api, url, field, value):
    response = api.post(url, _body(**{field: value}), format="json")

    assert response.status_code == 400, response.content
    assert list(error_of(response)["fields"]) == [field]
    assert not Transaction.objects.exists()


def test_the_api_still_accepts_plausible_values(api):
    body = _body(amount=12.5, occurred_at="2024-02-29T12:00:00Z")
    assert api.post("/api/v1/decisions/score", body, format="json").status_code == 200
    created = api.post("/api/v1/transactions/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["amount"] == "12.50"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "４２"),
        ("amount", "0"),
        ("amount", "٤"),
        ("occurred_at", "1970-01-01T00:00"),
        ("occurred_at", "0001-01-01T00:00"),
        ("occurred_at", "２０２６-01-01T00:00"),
    ],
)
def test_the_payment_form_refuses_them_and_stores_nothing(client, customer, field, value):
    client.force_login(customer)
    card = CardFactory(owner=customer)
    data = {
        "card": card.pk,
        "merchant": MerchantFactory().pk,
        "amount": "25.00",
        "occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "channel": "online",
        "country": "US",
    } | {field: value}

    response = client.post(reverse("transactions:transaction_new"), data)

    assert response.status_code == 200
    assert response.context["form"].errors.get(field), response.context["form"].errors
    assert not Transaction.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("amount", "４２"), ("amount", Decimal("-0")), ("occurred_at", datetime(1, 1, 1, tzinfo=UTC))],
)
def test_the_service_refuses_them(field, value):
    kwargs = {"amount": "5", "occurred_at": None} | {field: value}
    with pytest.raises(ValidationError) as raised:
        transaction_submit(card=CardFactory(), merchant=MerchantFactory(), **kwargs)
    assert field in raised.value.message_dict


HEADER = "transaction_id,occurred_at,card_id,merchant_id,amount\n"
BAD_ROWS = {
    "t_year1,0001-01-01T00:00:00Z,c1,m1,5\n": "before 2000-01-01",
    "t_1970,1970-01-01T00:00:00Z,c1,m1,5\n": "before 2000-01-01",
    "t_wide,２０２５-01-01T00:00:00Z,c1,m1,5\n": "ASCII",
    "t_amount,2025-01-01T00:00:00Z,c1,m1,４２\n": "amount is not a number",
    "t_huge,2025-01-01T00:00:00Z,c1,m1,5000000\n": "amount is more than",
}


@pytest.mark.parametrize(("row", "reason"), BAD_ROWS.items())
def test_training_and_scoring_files_refuse_them(tmp_path, row, reason):
    path = tmp_path / "history.csv"
    path.write_text(HEADER + "t_ok,2025-01-01T00:00:00Z,c1,m1,0\n" + row, encoding="utf-8")

    frame, rejected = read_transactions_csv(path)

    assert list(frame["transaction_id"]) == ["t_ok"]  # history may hold amount 0
    assert len(rejected) == 1 and reason in rejected[0]["reason"]


@pytest.mark.parametrize(("row", "reason"), BAD_ROWS.items())
def test_import_refuses_them_and_imports_nothing(tmp_path, row, reason):
    path = tmp_path / "history.csv"
    path.write_text(HEADER + "t_ok,2025-01-01T00:00:00Z,c1,m1,1\n" + row, encoding="utf-8")

    with pytest.raises(CommandError):
        call_command("import_transactions", str(path), json=True)
    assert not Transaction.objects.exists()


@pytest.mark.parametrize(("row", "reason"), BAD_ROWS.items())
def test_a_batch_upload_refuses_them(api, row, reason):
    upload = SimpleUploadedFile("b.csv", (HEADER + row).encode(), "text/csv")
    response = api.post("/api/v1/batches/", {"file": upload}, format="multipart")

    assert response.status_code == 400
    assert reason in json.dumps(error_of(response)["fields"], ensure_ascii=False)


# --- formula injection in result files -------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def test_batch_results_neutralise_formulas(api, monkeypatch, django_capture_on_commit_callbacks):
    def score_frame(frame, *, version=None):  # detection's scorer is a boundary here
        return pd.DataFrame(
            {
                "transaction_id": frame["transaction_id"],
                "score": 0.5,
                "risk_score": 50,
                "decision": "=review",
                "reasons": "-reason",
            }
        )

    monkeypatch.setattr(scoring, "score_frame", score_frame)
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["transaction_id", "occurred_at", "card_id", "merchant_id", "amount"])
    for n, formula in enumerate(FORMULAS):
        writer.writerow([formula.replace("x", f"x{n}"), "2025-01-01T00:00:00Z", "c1", "m1", "5"])
    upload = SimpleUploadedFile("b.csv", rows.getvalue().encode(), "text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post("/api/v1/batches/", {"file": upload}, format="multipart")
    if created.status_code == 400:  # a stricter id rule refused these ids: nothing to neutralise
        pytest.skip("transaction ids starting with a formula character are refused on upload")
    assert created.status_code == 202, created.content
    result = api.get(f"/api/v1/batches/{created.json()['id']}/result/")
    cells = list(csv.reader(io.StringIO(b"".join(result.streaming_content).decode())))[1:]

    # The reader strips surrounding whitespace, so a leading tab or CR never reaches the result.
    expected = [
        ("'" + f if f[0] in "=+-@" else f.strip()).replace("x", f"x{n}") for n, f in enumerate(FORMULAS)
    ]
    assert [row[0] for row in cells] == expected
    assert {row[3] for row in cells} == {"'=review"} and {row[4] for row in cells} == {"'-reason"}
    assert {row[1] for row in cells} == {"0.500000"}  # numbers stay numbers


def test_score_csv_neutralises_formulas(tmp_path, monkeypatch):
    from detection.management.commands import score_csv

    source = tmp_path / "in.csv"
    source.write_text(HEADER + "=1+1,2025-01-01T00:00:00Z,c1,m1,5\n@x,2025-01-01T00:00:00Z,c1,m1,6\n")

    def score_frame(frame, *, version=None, rows=None, label_delay=None):
        return pd.DataFrame(
            {
                "transaction_id": frame["transaction_id"].to_numpy(),
                "score": 0.25,
                "risk_score": 25,
                "decision": "approve",
                "reasons": "+x",
            }
        )

    monkeypatch.setattr(score_csv, "score_frame", score_frame)
    monkeypatch.setattr(score_csv.registry, "serving_model", lambda: type("M", (), {"name": "stub"}))
    out = tmp_path / "out.csv"
    call_command("score_csv", str(source), "--out", str(out), "--json")

    cells = list(csv.reader(out.open()))
    assert cells[1][0] == "'=1+1" and cells[2][0] == "'@x" and cells[1][4] == "'+x"
    assert cells[1][1] == "0.250000"
