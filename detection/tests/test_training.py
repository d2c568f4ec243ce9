import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from detection.ml import simulator, training
from detection.ml.features import FEATURE_NAMES, compute_features_frame
from detection.ml.options import LearningOptions
from detection.models import ModelVersion

# Module-scoped fixtures train once for every test here: they stay on one parallel worker.
pytestmark = pytest.mark.xdist_group("training_frames")

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


START, END = "2025-01-01", "2025-01-29"  # fit 01-01 → 01-15, gap, validation 01-22 → 01-29
TRAINED_AT = pd.Timestamp("2025-02-05", tz="UTC")  # END + the 7-day label delay


def small_train(frame, **kwargs):
    options = {
        "train_start": START,
        "train_end": END,
        "max_train_rows": 6000,
        "params": LIGHT,
    }
    options.update(kwargs)
    return training.train(frame, options=LearningOptions(), **options)


def test_periods_follow_the_time_honest_protocol():
    day = lambda d: datetime(2025, 1, d, tzinfo=UTC)  # noqa: E731
    # A long window: validation is its last 7 days, after a gap of one label delay.
    periods = training.plan_periods("2025-01-01", "2025-01-29", label_delay=timedelta(days=7))
    assert periods["train"] == (day(1), day(29))
    assert periods["fit"] == (day(1), day(15))
    assert periods["gap"] == (day(15), day(22))
    assert periods["validation"] == (day(22), day(29))
    assert periods["test"] == (datetime(2025, 2, 5, tzinfo=UTC), datetime(2025, 2, 12, tzinfo=UTC))
    # The benchmark's 7 days: no gap, the last 2 days validate; test after the label delay.
    periods = training.plan_periods("2025-01-01", "2025-01-08", label_delay=timedelta(days=7))
    assert periods["fit"] == (day(1), day(6)) and periods["gap"] == (day(6), day(6))
    assert periods["validation"] == (day(6), day(8))
    assert periods["test"] == (day(15), day(22))
    with pytest.raises(training.TrainingError, match="start before"):
        training.plan_periods("2025-01-15", "2025-01-01")
    with pytest.raises(training.TrainingError, match="at least 2 days"):
        training.plan_periods("2025-01-01", "2025-01-02")


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


def _in_window(frame):
    return frame[(frame["occurred_at"] >= START) & (frame["occurred_at"] < END)]


def test_only_labels_known_when_training_happens_are_used(history):
    result = small_train(history, algorithms=["logistic_regression"])
    train = _in_window(history)
    late = history.copy()
    # Five frauds of the window are reported only after training happened.
    late.loc[train.index[train["is_fraud"] == 1][:5], "label_known_at"] = TRAINED_AT + pd.Timedelta(hours=1)
    later = small_train(late, algorithms=["logistic_regression"])
    assert later.training_rows["frauds"] == result.training_rows["frauds"] - 5


def _predictions(result, frame):
    X = compute_features_frame(frame, label_delay=timedelta(days=7))[FEATURE_NAMES].to_numpy()
    return result.pipeline.predict_proba(X)[:, 1]


@pytest.mark.slow
def test_nothing_after_the_window_nor_any_label_known_later_changes_the_model(history):
    result = small_train(history)
    times = pd.to_datetime(history["occurred_at"], utc=True)
    known = pd.to_datetime(history["label_known_at"], utc=True)
    after = times >= pd.Timestamp(END, tz="UTC")
    rng = np.random.default_rng(1)
    changed = history.copy()
    # Every row after the window: other amounts, other labels, half of them gone...
    changed.loc[after, "amount"] = rng.uniform(0, 5000, after.sum()).round(2)
    changed.loc[after, "is_fraud"] = rng.integers(0, 2, after.sum()).astype(changed["is_fraud"].dtype)
    # ...and, before it, every label the bank only learns after training: flipped.
    late = ~after & (known >= TRAINED_AT)
    assert (late & (history["is_fraud"] == 1)).sum() > 5  # frauds reported after training
    changed.loc[late, "is_fraud"] = (1 - changed.loc[late, "is_fraud"]).astype(changed["is_fraud"].dtype)
    changed = changed.drop(changed.index[after.to_numpy()][::2])
    other = small_train(changed)
    assert other.algorithm == result.algorithm
    assert other.thresholds == result.thresholds
    assert other.comparison.keys() == result.comparison.keys()
    for name in result.comparison:
        assert other.comparison[name]["validation"] == result.comparison[name]["validation"]
    window = history[~after.to_numpy()]
    np.testing.assert_array_equal(_predictions(other, window), _predictions(result, window))
    # Without any row after the window at all: the same model, and only the test report is gone.
    alone = small_train(history[~after.to_numpy()])
    np.testing.assert_array_equal(_predictions(alone, window), _predictions(result, window))
    assert "test" in result.metrics and "test" not in alone.metrics


def test_validation_is_the_end_of_the_window_and_the_winner_learns_from_all_of_it(history):
    result = small_train(history, algorithms=["logistic_regression"])
    periods = result.periods
    assert periods["train"] == (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 29, tzinfo=UTC))
    assert periods["fit"][0] == periods["train"][0] and periods["validation"][1] == periods["train"][1]
    assert periods["fit"][1] + timedelta(days=7) == periods["validation"][0]  # the gap
    assert result.training_rows["period_rows"] == len(_in_window(history))
    assert result.training_rows["fit_period_rows"] < result.training_rows["period_rows"]
    # The registered model learnt from the validation days too: their labels change it.
    times = pd.to_datetime(history["occurred_at"], utc=True)
    validation = (times >= pd.Timestamp(periods["validation"][0])) & (times < pd.Timestamp(END, tz="UTC"))
    relabelled = history.copy()
    relabelled.loc[validation & (history["is_fraud"] == 1), "is_fraud"] = 0
    relabelled.loc[validation & (history["amount"] > 300), "is_fraud"] = 1
    other = small_train(relabelled, algorithms=["logistic_regression"])
    rows = _in_window(history)
    assert not np.allclose(_predictions(other, rows), _predictions(result, rows))


def test_legitimate_rows_are_sampled_and_every_fraud_kept(history):
    result = small_train(history, algorithms=["logistic_regression"], max_train_rows=4000)
    rows = result.training_rows
    assert rows["frauds"] + rows["legitimate_sampled"] <= 4000
    assert rows["legitimate_sampling_rate"] < 1
    assert 0 < rows["frauds"] <= int(_in_window(history)["is_fraud"].sum())


def test_the_data_must_cover_the_window_and_test_is_optional(history):
    with pytest.raises(training.TrainingError, match="must cover the whole training period"):
        small_train(history, train_start="2025-01-20", train_end="2025-02-25")
    short = small_train(history, train_end="2025-02-12", algorithms=["logistic_regression"])
    assert any("test" in warning for warning in short.warnings) and "test" not in short.metrics


@pytest.mark.django_db
def test_a_seven_day_window_without_later_data_trains_and_registers(history, tmp_path, capsys):
    path = tmp_path / "week.csv"
    simulator.write_csv(history[history["occurred_at"] < "2025-01-22"], path)
    call_command(
        "train_model",
        csv=str(path),
        train_start="2025-01-15",
        train_end="2025-01-22",
        max_train_rows=6000,
        json=True,
        verbosity=0,
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["periods"]["validation"] == ["2025-01-20T00:00:00+00:00", "2025-01-22T00:00:00+00:00"]
    assert summary["periods"]["fit"] == ["2025-01-15T00:00:00+00:00", "2025-01-20T00:00:00+00:00"]
    assert any("test metrics are not reported" in warning for warning in summary["warnings"])
    version = ModelVersion.objects.get(version=summary["version"])
    assert version.status == ModelVersion.Status.CHAMPION
    assert "test" not in version.metrics and version.metrics["validation"]["average_precision"] > 0


@pytest.mark.slow
@pytest.mark.django_db
def test_train_model_registers_the_chosen_version(history, tmp_path, capsys):
    path = tmp_path / "history.csv"
    simulator.write_csv(history, path)
    call_command(
        "train_model",
        csv=str(path),
        train_start=START,
        train_end=END,
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
    assert version.train_start == datetime(2025, 1, 1, tzinfo=UTC)
    assert version.validation_end == version.train_end == datetime(2025, 1, 29, tzinfo=UTC)
    assert version.test_end == datetime(2025, 2, 12, tzinfo=UTC)


@pytest.mark.slow
@pytest.mark.django_db
def test_train_model_reads_the_database_without_csv(history, tmp_path, capsys):
    from transactions.importing import transactions_import

    path = tmp_path / "history.csv"
    simulator.write_csv(history, path)
    transactions_import(path=path, progress=False)
    call_command(
        "train_model",
        train_start=START,
        train_end=END,
        algorithm=["logistic_regression"],
        max_train_rows=6000,
        promote="never",
        json=True,
        verbosity=0,
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == ModelVersion.Status.CANDIDATE
    assert summary["training_rows"]["period_rows"] == int(
        history["occurred_at"].between(START, END, inclusive="left").sum()
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
    with pytest.raises(CommandError, match=r"No fraud known|No transactions"):
        path = tmp_path / "tiny.csv"
        simulator.write_csv(simulator.simulate(customers=20, merchants=5, days=3), path)
        call_command("train_model", csv=str(path), train_start="2025-01-01", train_end="2025-01-03")
