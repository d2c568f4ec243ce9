from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from detection.contracts import TransactionInput
from detection.ml import simulator
from detection.ml.features import FEATURE_NAMES, compute_features_frame, compute_features_online

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)  # a Monday, noon UTC


class FrameHistory:
    """A HistorySource over a frame (the database one is tested in transactions)."""

    def __init__(self, frame):
        self.frame = frame

    def _period(self, rows, start, end):
        return rows[(rows["occurred_at"] >= start) & (rows["occurred_at"] < end)]

    def card_history(self, card_id, start, end):
        return self._period(self.frame[self.frame["card_id"] == card_id], start, end)

    def merchant_history(self, merchant_id, start, end):
        return self._period(self.frame[self.frame["merchant_id"] == merchant_id], start, end)


def rows(*items):
    """(minutes after T0, card, merchant, amount, is_fraud, label known minutes after T0 or None)."""
    records = []
    for i, (minutes, card, merchant, amount, *label) in enumerate(items):
        fraud = label[0] if label else 0
        known = label[1] if len(label) > 1 else None
        records.append(
            {
                "transaction_id": f"t{i}",
                "occurred_at": pd.Timestamp(T0 + timedelta(minutes=minutes)),
                "card_id": card,
                "merchant_id": merchant,
                "amount": amount,
                "is_fraud": fraud,
                "label_known_at": pd.Timestamp(T0 + timedelta(minutes=known))
                if known is not None
                else pd.NaT,
            }
        )
    frame = pd.DataFrame(records)
    frame["label_known_at"] = pd.to_datetime(frame["label_known_at"], utc=True)
    return frame


def features_of(frame, index=-1, **kwargs):
    return compute_features_frame(frame, label_delay=timedelta(days=7), **kwargs).iloc[index]


DAY = 24 * 60


def test_card_windows_count_only_earlier_transactions_within_each_window():
    frame = rows(
        (-40 * DAY, "c", "m1", 999),  # outside every window
        (-20 * DAY, "c", "m1", 10),
        (-3 * DAY, "c", "m2", 20),
        (-120, "c", "m3", 30),
        (-30, "c", "m3", 40),
        (-10, "other", "m3", 500),  # another card
        (0, "c", "m1", 100),
        (0, "c", "m9", 7),  # same instant: not "before"
    )
    f = features_of(frame, index=6)
    assert f["card_count_1h"] == 1 and f["card_mean_amount_1h"] == 40 and f["card_max_amount_1h"] == 40
    assert f["card_count_1d"] == 2 and f["card_mean_amount_1d"] == 35
    assert f["card_count_7d"] == 3 and f["card_max_amount_7d"] == 40
    assert f["card_count_30d"] == 4 and f["card_mean_amount_30d"] == 25
    assert f["amount"] == 100
    assert f["amount_to_card_mean_30d"] == pytest.approx(4.0)
    std = np.std([10, 20, 30, 40])
    assert f["amount_zscore_30d"] == pytest.approx((100 - 25) / std)
    assert f["seconds_since_card_previous"] == 30 * 60
    assert f["merchant_new_for_card"] == 0  # m1 was used 20 days ago
    assert features_of(frame, index=7)["merchant_new_for_card"] == 1


def test_a_declined_attempt_is_an_attempt_not_spending():
    # A declined 4,999.99 attempt, then a coffee: the card has not spent 4,999.99 in the last
    # hour, it has been refused once.
    frame = rows(
        (-3 * DAY, "c", "grocer", 42.10),
        (-50, "c", "electronics", 4999.99),
        (-20, "c", "abroad", 12.0),
        (0, "c", "cafe", 7.77),
    )
    frame["declined"] = [0, 1, 1, 0]
    frame["country"] = ["FR", "FR", "US", "FR"]
    f = features_of(frame)
    assert f["card_count_1h"] == 0 and f["card_max_amount_1h"] == 0
    assert f["card_count_7d"] == 1 and f["card_mean_amount_7d"] == pytest.approx(42.10)
    assert f["amount_to_card_mean_30d"] == pytest.approx(7.77 / 42.10)
    assert f["seconds_since_card_previous"] == 20 * 60  # since the last attempt, declined or not
    assert f["card_declined_count_1h"] == 2 and f["card_declined_count_7d"] == 2
    assert f["card_declined_max_amount_1d"] == pytest.approx(4999.99)
    assert f["seconds_since_card_declined"] == 20 * 60
    # A merchant or a country tried and refused is not one the card uses.
    frame.loc[3, ["merchant_id", "country"]] = ["electronics", "US"]
    f = features_of(frame)
    assert f["merchant_new_for_card"] == 1 and f["country_new_for_card"] == 1
    # The same history, all charged (or without the column): the old reading.
    charged = features_of(frame.drop(columns="declined"))
    assert charged["card_count_1h"] == 2 and charged["card_max_amount_1h"] == pytest.approx(4999.99)
    assert charged["card_declined_count_1h"] == 0 and charged["seconds_since_card_declined"] == 30 * 86400
    pd.testing.assert_series_equal(charged, features_of(frame.assign(declined=0)))


def test_a_card_without_history_has_neutral_values():
    f = features_of(rows((0, "c", "m", 50)))
    assert f["card_count_30d"] == 0 and f["card_mean_amount_30d"] == 0
    assert f["amount_to_card_mean_30d"] == 1 and f["amount_zscore_30d"] == 0
    assert f["seconds_since_card_previous"] == 30 * 86400
    assert f["merchant_new_for_card"] == 1
    assert not compute_features_frame(rows((0, "c", "m", 50)), label_delay=7).isna().any().any()


def test_time_of_day_and_weekend_are_utc():
    frame = rows((0, "c", "m", 1), (11 * 60, "c", "m", 1), (5 * DAY, "c", "m", 1))
    f = compute_features_frame(frame, label_delay=7)
    assert f["hour"].tolist() == [12, 23, 12]
    assert f["is_night"].tolist() == [0, 1, 0]
    assert f["is_weekend"].tolist() == [0, 0, 1]  # Monday, Monday night, Saturday


def test_merchant_fraud_rate_counts_only_labels_known_before_the_transaction():
    frame = rows(
        (-9 * DAY, "a", "m", 10, 1, -2 * DAY),  # fraud known 2 days ago: counted
        (-9 * DAY, "b", "m", 10, 0),
        (-9 * DAY + 5, "b", "m", 10, 1, 60),  # fraud, label known only after t: not counted
        (-8 * DAY, "c", "m", 10, 1, None),  # known at +7 days = 1 day ago: counted
        (-2 * DAY, "d", "m", 10, 1, -DAY),  # inside the delay, already reported
        (0, "e", "m", 10),
    )
    f = features_of(frame)
    # [t-7d-7d, t-7d) holds 4 transactions of which 2 are known fraud.
    assert f["merchant_fraud_rate_7d"] == pytest.approx(2 / 4)
    assert f["merchant_fraud_rate_1d"] == 1  # [t-8d, t-7d): the one fraud on day -8
    assert f["merchant_known_frauds_recent"] == 1
    assert f["merchant_count_7d"] == 1 and f["merchant_count_30d"] == 5
    assert f["card_known_frauds_30d"] == 0


def test_card_known_frauds_and_country_and_channel_context():
    frame = rows((-DAY, "c", "m", 10, 1, -60), (-30, "c", "m", 10), (0, "c", "m2", 10))
    frame["country"] = ["FR", "FR", "US"]
    frame["channel"] = ["in_store", "online", "atm"]
    f = compute_features_frame(frame, label_delay=7)
    assert f["card_known_frauds_30d"].tolist() == [0, 1, 1]
    assert f["country_new_for_card"].tolist() == [0, 0, 1]  # no history, same country, new country
    assert f[["channel_online", "channel_atm", "channel_contactless"]].to_numpy().tolist() == [
        [0, 0, 0],
        [1, 0, 0],
        [0, 1, 0],
    ]


def test_features_do_not_depend_on_row_order_and_keep_the_index():
    frame = simulator.simulate(customers=80, merchants=30, days=10, seed=5)
    frame.index = frame.index + 100
    shuffled = frame.sample(frac=1, random_state=1)
    a = compute_features_frame(frame, label_delay=7)
    b = compute_features_frame(shuffled, label_delay=7)
    assert list(a.columns) == FEATURE_NAMES and list(b.index) == list(shuffled.index)
    pd.testing.assert_frame_equal(a, b.loc[a.index])


def busy_history(days=25, seed=11):
    return simulator.simulate(
        customers=120,
        merchants=40,
        days=days,
        seed=seed,
        patterns={
            "compromised_terminal": {"rate": 300},
            "stolen_card": {"rate": 150},
            "card_testing": {"rate": 80},
            "foreign_use": {"rate": 150},
        },
    )


def test_nothing_after_a_transaction_changes_its_features():
    frame = busy_history()
    before = compute_features_frame(frame, label_delay=7)
    cut = frame["occurred_at"].iloc[len(frame) // 2]
    changed = frame.copy()
    later = changed["occurred_at"] > cut
    changed["amount"] = changed["amount"].mask(later, changed["amount"] * 10 + 1)
    changed["is_fraud"] = changed["is_fraud"].mask(later, 1 - changed["is_fraud"])
    changed["declined"] = changed["declined"].mask(later, 1 - changed["declined"])
    # Labels not yet known at the cut flip too: the past transaction, the future knowledge.
    unknown = ~later & (changed["label_known_at"] > cut)
    changed["is_fraud"] = changed["is_fraud"].mask(unknown, 1 - changed["is_fraud"])
    extra = changed[later].head(50).copy()
    extra["transaction_id"] = "extra-" + extra["transaction_id"].astype(str)
    changed = pd.concat([changed.astype({"transaction_id": str}), extra], ignore_index=False)
    changed = changed.reset_index(drop=True)
    after = compute_features_frame(changed, label_delay=7)
    upto = ~later.to_numpy()
    assert unknown.sum() > 0 and (frame["is_fraud"][unknown] == 1).sum() > 0
    pd.testing.assert_frame_equal(before[upto], after.iloc[: len(frame)][upto])
    # And the changes are visible to transactions after the cut (the test can fail).
    assert not before[~upto].equals(after.iloc[: len(frame)][~upto])


def test_features_of_some_rows_are_those_rows_features_read_from_every_row():
    frame = busy_history()
    frame.index = frame.index * 3 + 7  # not a range: the rows' own labels are kept
    whole = compute_features_frame(frame, label_delay=7)
    cut = frame["occurred_at"].sort_values().iloc[len(frame) * 2 // 3]
    later = (frame["occurred_at"] >= cut).to_numpy()
    some = compute_features_frame(frame, label_delay=7, rows=later)
    pd.testing.assert_frame_equal(some, whole[later])
    # The rows asked about still see the history before them.
    assert some["card_count_30d"].gt(0).mean() > 0.9 and some["merchant_fraud_rate_30d"].gt(0).any()


def test_online_values_equal_offline_values():
    frame = busy_history()
    offline = compute_features_frame(frame, label_delay=7)
    history = FrameHistory(frame)
    sample = frame.sample(300, random_state=3)
    for index, row in sample.iterrows():
        tx = TransactionInput(
            transaction_id=str(row["transaction_id"]),
            occurred_at=row["occurred_at"].to_pydatetime(),
            card_id=str(row["card_id"]),
            merchant_id=str(row["merchant_id"]),
            amount=Decimal(f"{row['amount']:.2f}"),
            channel=str(row["channel"]),
            country=str(row["country"]),
        )
        online = compute_features_online(tx, history=history, label_delay=timedelta(days=7))
        assert list(online) == FEATURE_NAMES
        expected = offline.loc[index]
        for name in FEATURE_NAMES:
            assert online[name] == pytest.approx(expected[name], rel=1e-9, abs=1e-9), (index, name)
    assert offline.loc[sample.index, "merchant_fraud_rate_30d"].gt(0).any()
    assert offline.loc[sample.index, "card_count_1h"].gt(0).any()
    assert offline.loc[sample.index, "card_declined_count_1d"].gt(0).any()


def test_a_transaction_s_own_outcome_is_not_among_its_features():
    # Whether an attempt is declined is decided from its features, not read by them: flipping
    # the outcome of each card's last attempt changes no row's features at all...
    frame = busy_history(days=10)
    before = compute_features_frame(frame, label_delay=7)
    last = ~frame["card_id"].duplicated(keep="last").to_numpy()
    flipped_last = frame.assign(declined=np.where(last, 1 - frame["declined"], frame["declined"]))
    pd.testing.assert_frame_equal(before, compute_features_frame(flipped_last, label_delay=7))
    # ...while the outcome of earlier attempts does change the later ones (the test can fail).
    flipped_all = frame.assign(declined=1 - frame["declined"])
    assert not before.equals(compute_features_frame(flipped_all, label_delay=7))


@pytest.mark.slow
def test_a_long_history_is_computed_quickly():
    import time

    frame = simulator.simulate(customers=5000, merchants=5000, days=30, seed=0)
    started = time.perf_counter()
    compute_features_frame(frame, label_delay=7)
    assert time.perf_counter() - started < 20  # ~320k rows; the benchmark measures 1.8M
