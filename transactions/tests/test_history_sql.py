"""The whole-period reads in plain SQL (`transactions_frame`, `decisions_frame`) against the
ORM's reading of the same rows (`_orm_*`, kept as the reference): the same frame, to the dtype,
the bit and the row, on SQLite and PostgreSQL alike."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from transactions import history
from transactions.history import decisions_frame, transactions_frame
from transactions.tests.factories import CardFactory, MerchantFactory, TransactionFactory, integrator_card

BASE = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def awkward(db, integrator):
    """A history with every case a reading could get wrong."""
    bank_card = CardFactory(external_id="card_bank")
    # Two integrators' namespaces: the card's key, not the integrator's id, is the frame's card_id.
    their_card = integrator_card(integrator, "card_bank")
    other_card = integrator_card(integrator, "ünï-卡-1")
    shops = [
        MerchantFactory(external_id="m_plain", category="5411", country="US"),
        MerchantFactory(external_id="café-東京-🙂", category="", country=""),
        MerchantFactory(external_id="m 'quoted\" %s", category="5999", country="FR"),
    ]
    cases = [
        # (offset in µs, amount, is_fraud, label known after (None: not recorded), decision, rule_hits, score)
        (0, "0.00", None, None, "approve", [], 0.01),
        (999_499, "0.01", False, timedelta(days=7), "approve", [], 0.1),
        (999_500, "12.34", True, timedelta(hours=3, microseconds=1), "block", [{"code": "velocity"}], 0.97),
        (999_999, "0.10", True, None, "block", [{"code": "card_frozen"}], None),
        (1_000_000, "99999999.99", None, timedelta(days=1), "review", [None], 0.5),
        (1_999_999, "1234567.89", False, timedelta(0), "block", [{"code": "over_credit_limit"}], 0.3),
        (1_999_999, "0.07", None, None, "", [], None),  # the same instant: ordered by id
        (
            86_400_000_000,
            "33.33",
            True,
            timedelta(days=40),
            "block",
            [{"code": "velocity"}, {"code": "card_frozen"}],
            0.9,
        ),
        (86_400_000_001, "0.29", False, None, "approve", [{"rule": "no code"}], 0.2),
        (
            2 * 86_400_000_000 + 123_456,
            "1.15",
            None,
            timedelta(seconds=1),
            "review",
            [{"code": "ünïcode"}],
            0.44,
        ),
        (3 * 86_400_000_000 + 7, "2.675", False, timedelta(days=3), "approve", [], 0.0),
    ]
    cards = [bank_card, their_card, other_card]
    for line, (offset, amount, fraud, known_after, decision, hits, score) in enumerate(cases):
        at = BASE + timedelta(microseconds=offset)
        TransactionFactory(
            external_id=f"tx_ü_{line:02d}",
            card=cards[line % 3],
            merchant=shops[line % 3],
            occurred_at=at,
            amount=Decimal(amount),
            currency=["USD", "EUR", ""][line % 3],
            channel=["online", "pos", ""][line % 3],
            country=["US", "", "DE"][line % 3],
            is_fraud=fraud,
            label_known_at=None if known_after is None else at + known_after,
            decision=decision,
            rule_hits=hits,
            score=score,
            risk_score=None if score is None else round(score * 100),
            model_version="" if score is None else "v3",
            decided_by=["model", "rule", ""][line % 3],
        )
    # Far from the others: before 1970 and after 2038 (2**31 seconds), as integer microseconds.
    for line, at in enumerate(
        [
            datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
            datetime(2040, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        ]
    ):
        TransactionFactory(external_id=f"tx_far_{line}", card=bank_card, merchant=shops[0], occurred_at=at)


PERIODS = [
    (None, None),
    (BASE + timedelta(microseconds=999_500), None),
    (None, BASE + timedelta(days=1)),
    (BASE + timedelta(microseconds=1), BASE + timedelta(days=2, microseconds=123_456)),
    (BASE + timedelta(days=30), BASE + timedelta(days=31)),  # nothing in it
]


def _same(fast, reference):
    pd.testing.assert_frame_equal(
        fast, reference, check_exact=True, check_index_type=True, check_column_type=True, check_flags=True
    )


@pytest.fixture
def sql_only(monkeypatch):
    """The readings under test must not fall back on the ORM."""

    def refuse(*args, **kwargs):
        raise AssertionError("read through the ORM")

    references = (history._orm_transactions_frame, history._orm_decisions_frame)
    monkeypatch.setattr(history, "_orm_transactions_frame", refuse)
    monkeypatch.setattr(history, "_orm_decisions_frame", refuse)
    return references


@pytest.mark.parametrize("chunk_rows", [20_000, 3])
@pytest.mark.parametrize(("start", "end"), PERIODS)
def test_transactions_frame_is_the_orm_frame(awkward, sql_only, monkeypatch, start, end, chunk_rows):
    orm_transactions_frame, _ = sql_only
    reference = orm_transactions_frame(start, end)
    monkeypatch.setattr(history, "CHUNK_ROWS", chunk_rows)
    _same(transactions_frame(start, end), reference)
    _same(transactions_frame(start=start, end=end, progress=True), reference)


def test_the_awkward_cases_are_in_the_frame(awkward, sql_only):
    """The fixture holds what it says, read right (not only alike)."""
    frame = transactions_frame()
    assert frame["card_id"].nunique() == 3 and frame["card_id"].str.contains("卡").any()
    assert "café-東京-🙂" in set(frame["merchant_id"])
    assert frame["is_fraud"].isna().any() and frame["label_known_at"].isna().any()
    assert frame["declined"].sum() == 4
    assert (frame["occurred_at"].dt.microsecond == 999_999).any()
    assert 12.34 in frame["amount"].tolist() and 99999999.99 in frame["amount"].tolist()
    assert frame["occurred_at"].iloc[0] == pd.Timestamp("1969-12-31 23:59:59.5", tz="UTC")
    assert (
        frame["transaction_id"].tolist()[7:9] == ["tx_ü_06", "tx_ü_07"] or frame["transaction_id"].is_unique
    )


@pytest.mark.parametrize("chunk_rows", [20_000, 3])
@pytest.mark.parametrize(
    ("start", "end"),
    [p for p in PERIODS if None not in p] + [(BASE - timedelta(days=1), BASE + timedelta(days=9))],
)
def test_decisions_frame_is_the_orm_frame(awkward, sql_only, monkeypatch, start, end, chunk_rows):
    _, orm_decisions_frame = sql_only
    reference = orm_decisions_frame(start, end)
    monkeypatch.setattr(history, "CHUNK_ROWS", chunk_rows)
    if reference.empty:
        monkeypatch.undo()
    frame = decisions_frame(start, end)
    _same(frame, reference)
    if not reference.empty:
        assert frame["account_rule"].tolist().count(True) == (
            2 if start < BASE else frame["account_rule"].sum()
        )
