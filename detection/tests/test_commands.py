import json
from io import StringIO

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from detection.tests.pipelines import register_feature_model, simulated

pytestmark = pytest.mark.django_db


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "history.csv"
    frame = simulated().copy()
    frame["occurred_at"] = frame["occurred_at"].map(lambda t: t.isoformat())
    frame["label_known_at"] = frame["label_known_at"].map(lambda t: t.isoformat())
    frame.drop(columns=["fraud_pattern"], errors="ignore").to_csv(path, index=False)
    return path


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_score_csv_writes_the_contract_columns_for_the_period(csv_file, tmp_path):
    version = register_feature_model()
    out = tmp_path / "scores.csv"
    summary = json.loads(
        run(
            "score_csv",
            str(csv_file),
            "--out",
            str(out),
            "--start",
            "2025-01-25",
            "--end",
            "2025-01-30",
            "--json",
        )
    )
    scores = pd.read_csv(out, dtype={"transaction_id": str, "reasons": str}, keep_default_na=False)
    assert list(scores.columns) == ["transaction_id", "score", "risk_score", "decision", "reasons"]
    frame = simulated()
    in_period = frame[(frame["occurred_at"] >= "2025-01-25") & (frame["occurred_at"] < "2025-01-30")]
    assert set(scores["transaction_id"]) == set(in_period["transaction_id"])
    assert scores["score"].between(0, 1).all()
    assert scores["risk_score"].between(0, 100).all()
    assert set(scores["decision"]) <= {"approve", "review", "block"}
    assert summary["rows_scored"] == len(scores)
    assert summary["model_version"] == version.version


def test_score_csv_explains_clearly_what_is_wrong(csv_file, tmp_path):
    out = str(tmp_path / "o.csv")
    with pytest.raises(CommandError, match="No such file"):
        run("score_csv", str(tmp_path / "missing.csv"), "--out", out)
    with pytest.raises(CommandError, match="no usable champion"):
        run("score_csv", str(csv_file), "--out", out)
    register_feature_model()
    with pytest.raises(CommandError, match="--start must be an ISO date"):
        run("score_csv", str(csv_file), "--out", out, "--start", "yesterday")
    with pytest.raises(CommandError, match="before --end"):
        run("score_csv", str(csv_file), "--out", out, "--start", "2025-02-01", "--end", "2025-01-01")
    with pytest.raises(CommandError, match="no model version v9999"):
        run("score_csv", str(csv_file), "--out", out, "--model", "v9999")
    with pytest.raises(CommandError, match="No transaction"):
        run("score_csv", str(csv_file), "--out", out, "--start", "2030-01-01")
    with pytest.raises(CommandError, match="does not exist"):
        run("score_csv", str(csv_file), "--out", str(tmp_path / "nowhere" / "o.csv"))
    assert not (tmp_path / "o.csv").exists()


def test_evaluate_model_reports_the_metrics_of_a_period(csv_file):
    version = register_feature_model()
    result = json.loads(
        run(
            "evaluate_model",
            version.version,
            "--csv",
            str(csv_file),
            "--start",
            "2025-01-15",
            "--end",
            "2025-01-31",
            "--json",
        )
    )
    metrics = result["metrics"]
    frame = simulated()
    period = frame[(frame["occurred_at"] >= "2025-01-15") & (frame["occurred_at"] < "2025-01-31")]
    assert metrics["n"] == len(period)
    assert metrics["n_fraud"] == int(period["is_fraud"].sum())
    assert 0.5 < metrics["roc_auc"] <= 1
    assert 0 < metrics["average_precision"] <= 1
    assert 0 <= metrics["card_precision_at_k"] <= 1
    text = run("evaluate_model", "--csv", str(csv_file), "--start", "2025-01-15", "--end", "2025-01-31")
    assert "Card precision@100" in text and version.version in text


def test_evaluate_model_errors(csv_file):
    with pytest.raises(CommandError, match="no champion"):
        run("evaluate_model", "--csv", str(csv_file), "--start", "2025-01-15", "--end", "2025-01-31")
    register_feature_model()
    with pytest.raises(CommandError, match="No labelled transaction"):
        run("evaluate_model", "--csv", str(csv_file), "--start", "2031-01-01", "--end", "2031-02-01")
    with pytest.raises(CommandError, match="no model version nope"):
        run("evaluate_model", "nope", "--csv", str(csv_file), "--start", "2025-01-15", "--end", "2025-01-31")
