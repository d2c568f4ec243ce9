import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from detection import simulator, training
from detection.features import FEATURE_NAMES
from detection.models import ModelVersion

BUSY = {
    "compromised_terminal": {"rate": 15},
    "stolen_card": {"rate": 60},
    "card_testing": {"rate": 30},
    "large_amount": {"rate": 60},
    "foreign_use": {"rate": 60},
}


# Light candidates: the tests check the protocol, the benchmark and docs/model.md the quality.
LIGHT = {
    "random_forest": {"n_estimators": 15, "max_depth": 8},
    "hist_gradient_boosting": {"max_iter": 25, "max_leaf_nodes": 15},
}


@pytest.fixture(autouse=True)
def _light_models(settings):
    settings.DETECTION_TRAINING_PARAMS = LIGHT


@pytest.fixture(scope="module")
def history():
    return simulator.simulate(customers=300, merchants=120, days=45, seed=5, patterns=BUSY)


def small_train(frame, **kwargs):
    options = {
        "train_start": "2025-01-08",
        "train_end": "2025-01-25",
        "max_train_rows": 6000,
        "params": LIGHT,
    }
    options.update(kwargs)
    return training.train(frame, **options)


def test_periods_follow_the_time_honest_protocol():
    periods = training.plan_periods("2025-01-01", "2025-01-15", label_delay=timedelta(days=7))
    assert periods["gap"] == (datetime(2025, 1, 15, tzinfo=UTC), datetime(2025, 1, 22, tzinfo=UTC))
    assert periods["validation"] == (datetime(2025, 1, 22, tzinfo=UTC), datetime(2025, 1, 29, tzinfo=UTC))
    assert periods["test"] == (datetime(2025, 1, 29, tzinfo=UTC), datetime(2025, 2, 5, tzinfo=UTC))
    with pytest.raises(training.TrainingError, match="start before"):
        training.plan_periods("2025-01-15", "2025-01-01")


@pytest.mark.slow
def test_training_compares_the_candidates_and_keeps_the_best_on_validation(history):
    result = small_train(history)
    assert set(result.comparison) == set(training.ALGORITHMS)
    best_ap = max(entry["validation"]["average_precision"] for entry in result.comparison.values())
    assert result.comparison[result.algorithm]["validation"]["average_precision"] == best_ap
    test = result.metrics["test"]
    for metric in (
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "average_precision",
        "card_precision_at_k",
    ):
        assert test[metric] is not None
    assert test["roc_auc"] > 0.8
    assert result.thresholds["review"] <= result.thresholds["block"]
    assert set(result.importances) == set(FEATURE_NAMES)
    assert result.curves["test"]["pr"]["precision"]
    assert result.baseline["baseline"] == "logistic_regression"
    # The fitted pipeline scores plain feature matrices, as serving does.
    scores = result.pipeline.predict_proba(pd.DataFrame([result.typical_values])[FEATURE_NAMES].to_numpy())
    assert 0 <= scores[0, 1] <= 1


def test_only_labels_known_when_training_happens_are_used(history):
    result = small_train(history, algorithms=["logistic_regression"])
    train = history[(history["occurred_at"] >= "2025-01-08") & (history["occurred_at"] < "2025-01-25")]
    known_by = pd.Timestamp("2025-02-01", tz="UTC")  # train end + 7 days
    late = history.copy()
    # Every fraud of the training period is reported only after training happened.
    late.loc[train.index[train["is_fraud"] == 1][:5], "label_known_at"] = known_by + pd.Timedelta(hours=1)
    later = small_train(late, algorithms=["logistic_regression"])
    assert later.training_rows["frauds"] == result.training_rows["frauds"] - 5


def test_legitimate_rows_are_sampled_and_every_fraud_kept(history):
    result = small_train(history, algorithms=["logistic_regression"], max_train_rows=4000)
    rows = result.training_rows
    assert rows["frauds"] + rows["legitimate_sampled"] <= 4000
    assert rows["legitimate_sampling_rate"] < 1
    train = history[(history["occurred_at"] >= "2025-01-08") & (history["occurred_at"] < "2025-01-25")]
    assert rows["frauds"] <= int(train["is_fraud"].sum()) and rows["frauds"] > 0


def test_not_enough_later_data_is_said_clearly(history):
    with pytest.raises(training.TrainingError, match="Not enough data after the training period"):
        small_train(history, train_start="2025-01-10", train_end="2025-02-05")
    short = small_train(history, train_end="2025-02-01", algorithms=["logistic_regression"])
    assert any("test" in warning for warning in short.warnings) and "test" not in short.metrics


@pytest.mark.slow
@pytest.mark.django_db
def test_train_model_registers_the_chosen_version(history, tmp_path, capsys):
    path = tmp_path / "history.csv"
    simulator.write_csv(history, path)
    call_command(
        "train_model",
        csv=str(path),
        train_start="2025-01-08",
        train_end="2025-01-25",
        max_train_rows=6000,
        json=True,
        verbosity=0,
    )
    summary = json.loads(capsys.readouterr().out)
    version = ModelVersion.objects.get(version=summary["version"])
    assert version.status == ModelVersion.Status.CHAMPION  # the first one
    assert version.algorithm == summary["algorithm"]
    assert version.feature_names == FEATURE_NAMES
    assert version.metrics["test"]["average_precision"] > 0
    assert set(version.comparison) == set(training.ALGORITHMS)
    assert version.thresholds["block"] >= version.thresholds["review"]
    assert version.train_start == datetime(2025, 1, 8, tzinfo=UTC)
    assert version.test_end == datetime(2025, 2, 15, tzinfo=UTC)


@pytest.mark.slow
@pytest.mark.django_db
def test_train_model_reads_the_database_without_csv(history, tmp_path, capsys):
    from transactions.importing import transactions_import

    path = tmp_path / "history.csv"
    simulator.write_csv(history, path)
    transactions_import(path=path, progress=False)
    call_command(
        "train_model",
        train_start="2025-01-08",
        train_end="2025-01-25",
        algorithm=["logistic_regression"],
        max_train_rows=6000,
        promote="never",
        json=True,
        verbosity=0,
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == ModelVersion.Status.CANDIDATE
    assert summary["training_rows"]["period_rows"] == int(
        history["occurred_at"].between("2025-01-08", "2025-01-25", inclusive="left").sum()
    )


@pytest.mark.django_db
def test_train_model_rejects_bad_arguments(tmp_path):
    with pytest.raises(CommandError, match="before"):
        call_command("train_model", train_start="2025-02-01", train_end="2025-01-01")
    with pytest.raises(CommandError, match="ISO date"):
        call_command("train_model", train_start="soon", train_end="2025-01-01")
    with pytest.raises(CommandError, match="No such file"):
        call_command(
            "train_model", csv=str(tmp_path / "nope.csv"), train_start="2025-01-01", train_end="2025-01-08"
        )
    with pytest.raises(CommandError, match=r"Not enough data|No transactions"):
        path = tmp_path / "tiny.csv"
        simulator.write_csv(simulator.simulate(customers=20, merchants=5, days=3), path)
        call_command("train_model", csv=str(path), train_start="2025-01-01", train_end="2025-01-03")
