import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from detection.dataset import read_transactions_csv
from detection.ml import simulator


def small(**kwargs):
    options = {"customers": 300, "merchants": 300, "days": 40, "seed": 7}
    options.update(kwargs)
    return simulator.simulate(**options)


def test_same_seed_gives_the_same_history_and_another_seed_does_not():
    first, again, other = small(), small(), small(seed=8)
    pd.testing.assert_frame_equal(first, again)
    assert not first["amount"].equals(other["amount"])


def test_history_is_canonical_sorted_and_within_the_period():
    frame = small(start=datetime(2025, 3, 1, tzinfo=UTC))
    assert list(frame.columns) == [*simulator.CANONICAL_COLUMNS, "fraud_pattern"]
    assert frame["occurred_at"].is_monotonic_increasing
    assert frame["occurred_at"].min() >= pd.Timestamp("2025-03-01", tz="UTC")
    assert frame["occurred_at"].max() < pd.Timestamp("2025-04-10", tz="UTC")
    assert frame["transaction_id"].is_unique
    assert (frame["amount"] > 0).all()
    assert set(frame["channel"].unique()) <= {"in_store", "contactless", "online", "atm"}
    # Labels become known after the transaction, legitimate ones after the label delay.
    assert (frame["label_known_at"] > frame["occurred_at"]).all()
    legit = frame[frame["is_fraud"] == 0]
    assert ((legit["label_known_at"] - legit["occurred_at"]) == pd.Timedelta(days=7)).all()


def test_fraud_rate_is_realistic_and_every_default_pattern_appears():
    frame = simulator.simulate(customers=2000, merchants=2000, days=60, seed=1)
    assert 0.003 < frame["is_fraud"].mean() < 0.012
    assert set(simulator.pattern_summary(frame)) == {
        "compromised_terminal",
        "stolen_card",
        "card_testing",
        "large_amount",
        "compromised_card",
        "foreign_use",
    }


def test_some_attempts_were_declined_fraud_far_more_often_than_payments():
    frame = simulator.simulate(customers=2000, merchants=2000, days=40, seed=3)
    by_pattern = frame.groupby(frame["fraud_pattern"].astype(str))["declined"].mean()
    assert 0.008 < by_pattern[""] < 0.03  # insufficient funds, limits
    assert by_pattern["card_testing"] > 0.35 and by_pattern["stolen_card"] > 0.2
    assert by_pattern["compromised_terminal"] < 0.1  # skimmed cards look like their owners
    # Legitimate payments far above the card's habit are the ones refused.
    legit = frame[frame["is_fraud"] == 0]
    usual = legit.groupby("card_id", observed=True)["amount"].transform("median")
    assert legit.loc[legit["amount"] > 4 * usual, "declined"].mean() > 3 * legit["declined"].mean() / 2


def test_days_and_nights_and_weekdays_have_a_rhythm():
    frame = small(customers=1000)
    legit = frame[frame["is_fraud"] == 0]
    hours = legit["occurred_at"].dt.hour
    assert (hours.between(10, 17)).mean() > 3 * (hours.isin([0, 1, 2, 3, 4, 5, 22, 23])).mean()
    per_day = legit.groupby(legit["occurred_at"].dt.date).size()
    weekday = pd.to_datetime(pd.Series(per_day.index)).dt.weekday.to_numpy()
    assert per_day.to_numpy()[weekday < 5].mean() > per_day.to_numpy()[weekday >= 5].mean()


def test_fraud_patterns_have_their_signatures():
    frame = simulator.simulate(customers=2000, merchants=1000, days=60, seed=3)
    patterns = frame["fraud_pattern"]
    testing = frame[patterns == "card_testing"]
    assert (testing["amount"] <= 1500).all() and (testing["amount"] < 3).mean() > 0.6
    card_mean = frame[frame["is_fraud"] == 0].groupby("card_id", observed=True)["amount"].mean()
    large = frame[patterns == "large_amount"]
    assert (
        large["amount"].to_numpy() > 5 * card_mean.reindex(large["card_id"]).fillna(0).to_numpy()
    ).mean() > 0.9
    foreign = frame[patterns == "foreign_use"]
    assert foreign["country"].isin(simulator.FAR_COUNTRIES).all()
    # A compromised terminal turns every transaction there into fraud for a while.
    terminal = frame[patterns == "compromised_terminal"]["merchant_id"].iloc[0]
    at = frame[frame["merchant_id"] == terminal]
    hit = at[patterns[at.index] == "compromised_terminal"]
    during = at[at["occurred_at"].between(hit["occurred_at"].min(), hit["occurred_at"].max())]
    assert during["is_fraud"].all()


def test_a_new_pattern_can_start_on_a_given_day():
    before = small(customers=1000)
    assert "atm_cashout" not in simulator.pattern_summary(before)
    after = small(customers=1000, patterns={"atm_cashout": {"start_day": 20}})
    patterns = after["fraud_pattern"]
    cashouts = after[patterns == "atm_cashout"]
    assert len(cashouts) > 0
    assert cashouts["occurred_at"].min() >= after["occurred_at"].min().normalize() + pd.Timedelta(days=20)
    assert (cashouts["channel"] == "atm").all()
    with pytest.raises(ValueError, match="Unknown fraud pattern"):
        small(patterns={"teleportation": True})


def test_generate_transactions_writes_a_csv_the_importer_reads(tmp_path, capsys):
    out = tmp_path / "history.csv"
    call_command(
        "generate_transactions", out=str(out), customers=200, merchants=100, days=10, seed=2, json=True
    )
    summary = json.loads(capsys.readouterr().out)
    frame, rejected = read_transactions_csv(out)
    assert rejected == []
    assert len(frame) == summary["rows"] > 0
    assert int(frame["is_fraud"].sum()) == summary["frauds"]
    direct = simulator.simulate(customers=200, merchants=100, days=10, seed=2)
    assert np.allclose(frame["amount"].to_numpy(), direct["amount"].to_numpy())
    assert (frame["transaction_id"].to_numpy() == direct["transaction_id"].astype(str).to_numpy()).all()


def test_generate_transactions_rejects_bad_arguments(tmp_path):
    with pytest.raises(CommandError, match="customers"):
        call_command("generate_transactions", out=str(tmp_path / "x.csv"), customers=0)
    with pytest.raises(CommandError, match="Unknown pattern"):
        call_command("generate_transactions", out=str(tmp_path / "x.csv"), pattern=["nope=3"])
    with pytest.raises(CommandError, match="--start"):
        call_command("generate_transactions", out=str(tmp_path / "x.csv"), start="yesterday")


def test_generates_a_large_history_quickly():
    import time

    started = time.perf_counter()
    frame = simulator.simulate(customers=5000, merchants=5000, days=20, seed=0)
    assert len(frame) > 150_000
    assert time.perf_counter() - started < 10
