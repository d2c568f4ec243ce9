from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils.module_loading import import_string

from detection import conf
from detection.contracts import TransactionInput
from detection.dataset import CANONICAL_COLUMNS, read_transactions_csv
from detection.ml import simulator
from detection.ml.features import FEATURE_NAMES, compute_features_frame, compute_features_online
from transactions.history import DatabaseHistory, transactions_frame
from transactions.importing import transactions_import


@pytest.fixture
def imported(tmp_path, db):
    frame = simulator.simulate(
        customers=100,
        merchants=30,
        days=30,
        seed=21,
        patterns={
            "compromised_terminal": {"rate": 300},
            "stolen_card": {"rate": 150},
            "card_testing": {"rate": 80},
        },
    )
    path = tmp_path / "history.csv"
    simulator.write_csv(frame, path)
    transactions_import(path=path, progress=False)
    clean, rejected = read_transactions_csv(path)
    assert rejected == []
    return clean


def test_history_source_setting_names_the_database_history():
    assert import_string(conf.history_source_path()) is DatabaseHistory
    assert import_string(conf.training_source_path()) is transactions_frame


def test_card_and_merchant_history_are_the_period_in_canonical_columns(imported):
    row = imported.iloc[len(imported) // 2]
    start, end = row["occurred_at"] - timedelta(days=3), row["occurred_at"]
    history = DatabaseHistory()
    cards = history.card_history(row["card_id"], start.to_pydatetime(), end.to_pydatetime())
    expected = imported[
        (imported["card_id"] == row["card_id"])
        & (imported["occurred_at"] >= start)
        & (imported["occurred_at"] < end)
    ]
    assert list(cards.columns) == CANONICAL_COLUMNS
    assert sorted(cards["transaction_id"]) == sorted(expected["transaction_id"])
    merchants = history.merchant_history(row["merchant_id"], start.to_pydatetime(), end.to_pydatetime())
    assert set(merchants["merchant_id"]) <= {row["merchant_id"]}
    assert merchants["occurred_at"].between(start, end, inclusive="left").all()
    empty = history.card_history("nobody", start.to_pydatetime(), end.to_pydatetime())
    assert list(empty.columns) == CANONICAL_COLUMNS and empty.empty


def test_transactions_frame_is_the_whole_history_or_a_period(imported):
    whole = transactions_frame()
    assert len(whole) == len(imported) and whole["occurred_at"].is_monotonic_increasing
    assert int(whole["is_fraud"].sum()) == int(imported["is_fraud"].sum())
    # Declined attempts come back as such (imported as blocked decisions).
    assert int(whole["declined"].sum()) == int(imported["declined"].sum()) > 0
    start = datetime(2025, 1, 10, tzinfo=UTC)
    part = transactions_frame(start=start, end=start + timedelta(days=2))
    assert (
        len(part) == imported["occurred_at"].between(start, start + timedelta(days=2), inclusive="left").sum()
    )


@pytest.mark.slow
def test_online_features_from_the_database_equal_offline_features(imported):
    offline = compute_features_frame(imported, label_delay=timedelta(days=7))
    history = DatabaseHistory()
    sample = imported.sample(150, random_state=2)
    for line, row in sample.iterrows():
        tx = TransactionInput(
            transaction_id=row["transaction_id"],
            occurred_at=row["occurred_at"].to_pydatetime(),
            card_id=row["card_id"],
            merchant_id=row["merchant_id"],
            amount=Decimal(f"{row['amount']:.2f}"),
            channel=row["channel"],
            country=row["country"],
        )
        online = compute_features_online(tx, history=history, label_delay=timedelta(days=7))
        for name in FEATURE_NAMES:
            assert online[name] == pytest.approx(offline.loc[line, name], rel=1e-9, abs=1e-9), (line, name)
    assert offline.loc[sample.index, "merchant_fraud_rate_30d"].gt(0).any()
    assert offline.loc[sample.index, "card_declined_count_7d"].gt(0).any()


@pytest.mark.django_db
def test_card_window_reads_times_to_the_microsecond():
    """SQLite's date functions round to the millisecond: a time at .9995 s or later must not read
    as the next second."""
    from transactions.tests.factories import CardFactory, TransactionFactory

    card = CardFactory()
    base = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
    times = [base + timedelta(microseconds=us) for us in (0, 999_499, 999_500, 1_999_999)]
    for at in times:
        TransactionFactory(card=card, occurred_at=at, is_fraud=False, label_known_at=at + timedelta(days=7))
    window = DatabaseHistory().card_window(card.external_id, base, base + timedelta(seconds=3))
    epoch_us = [round(at.timestamp() * 1_000_000) for at in times]
    assert sorted(window.occurred_us.tolist()) == epoch_us
    assert sorted(window.known_us.tolist()) == [us + 7 * 86_400_000_000 for us in epoch_us]


def test_the_portable_card_window_reads_what_the_sql_one_reads(imported, monkeypatch):
    """Databases without a microsecond expression read the window through the ORM: the same
    arrays, declined attempts included."""
    from transactions import history as history_module

    row = imported[imported["declined"] == 1].iloc[0]
    start, end = (row["occurred_at"] - timedelta(days=30)).to_pydatetime(), row["occurred_at"].to_pydatetime()
    end += timedelta(microseconds=1)
    fast = DatabaseHistory().card_window(row["card_id"], start, end)
    monkeypatch.setattr(history_module, "EPOCH_US_SQL", {})
    portable = DatabaseHistory().card_window(row["card_id"], start, end)
    order_fast, order_portable = (
        fast.occurred_us.argsort(kind="stable"),
        portable.occurred_us.argsort(kind="stable"),
    )
    for name in ("occurred_us", "amount_c", "merchant_id", "country", "fraud", "known_us", "declined"):
        assert getattr(fast, name)[order_fast].tolist() == getattr(portable, name)[order_portable].tolist(), (
            name
        )
    assert fast.declined.any()
