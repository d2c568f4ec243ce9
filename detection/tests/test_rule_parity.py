"""Every kind of list and rule decides a stored history the same way online (one transaction,
its history read from the database) and vectorised (the whole frame at once), row by row.

The history is the simulator's, stored in the database, plus rows written to sit on the edges:
amounts at a limit, velocity windows that start exactly on a transaction, transactions less
than a millisecond apart or at the same instant, lower-case and missing countries and
categories, list entries that expire exactly now.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from detection.contracts import Decision, TransactionInput
from detection.ml.simulator import simulate
from detection.models import ListEntry, Rule
from detection.serving.rules import (
    LIST_KINDS,
    RULE_KINDS,
    evaluate_lists_and_rules,
    evaluate_lists_and_rules_frame,
)
from transactions.history import DatabaseHistory, transactions_frame
from transactions.models import Card, Merchant, Transaction

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # the clock list entries expire against
T0 = datetime(2025, 1, 2, 12, 0, tzinfo=UTC)  # inside the simulated days
US = timedelta(microseconds=1)
MINUTE = timedelta(minutes=1)

# (transaction id, card, merchant, occurred at, amount, country)
EDGE_ROWS = [
    # A burst less than a millisecond apart, then rows on the edges of 10 and 20 minute windows.
    ("v1", "EDGE-V", "M-EDGE", T0, "12.00", "FR"),
    ("v2", "EDGE-V", "M-EDGE", T0 + 400 * US, "12.00", "FR"),
    ("v3", "EDGE-V", "M-EDGE", T0 + 900 * US, "12.00", "FR"),
    ("v4", "EDGE-V", "M-EDGE", T0 + 10 * MINUTE, "12.00", "FR"),
    ("v5", "EDGE-V", "M-EDGE", T0 + 10 * MINUTE + 400 * US, "12.00", "FR"),
    ("v6", "EDGE-V", "M-EDGE", T0 + 20 * MINUTE + 400 * US, "12.00", "FR"),
    ("v7", "EDGE-V", "M-EDGE", T0 + 20 * MINUTE + 900 * US, "12.00", "FR"),
    # Two at the same instant: neither is before the other.
    ("d1", "EDGE-D", "M-EDGE", T0 + 30 * MINUTE, "5.00", "FR"),
    ("d2", "EDGE-D", "M-EDGE", T0 + 30 * MINUTE, "5.00", "FR"),
    ("d3", "EDGE-D", "M-EDGE", T0 + 30 * MINUTE + US, "5.00", "FR"),
    # Amounts around a limit of 500.00.
    ("a1", "EDGE-A", "M-EDGE", T0 + 60 * MINUTE, "500.00", "FR"),
    ("a2", "EDGE-A", "M-EDGE", T0 + 120 * MINUTE, "500.01", "FR"),
    ("a3", "EDGE-A", "M-EDGE", T0 + 180 * MINUTE, "499.99", "FR"),
    # Countries as they may be stored, and categories through their merchants.
    ("c1", "EDGE-C", "M-EDGE", T0 + 240 * MINUTE, "20.00", "ng"),
    ("c2", "EDGE-C", "M-EDGE", T0 + 300 * MINUTE, "20.00", ""),
    ("c3", "EDGE-C", "M-EDGE", T0 + 360 * MINUTE, "20.00", "DE"),
    ("k1", "EDGE-K", "M-CASINO", T0 + 240 * MINUTE, "20.00", "FR"),
    ("k2", "EDGE-K", "M-NOCAT", T0 + 300 * MINUTE, "20.00", "FR"),
]
EDGE_MERCHANTS = {"M-EDGE": "5411", "M-CASINO": "Casino", "M-NOCAT": ""}


def _store_history():
    simulated = simulate(customers=60, merchants=20, days=4, seed=7)
    edges = pd.DataFrame(
        [
            {
                "transaction_id": tx_id,
                "card_id": card,
                "merchant_id": merchant,
                "occurred_at": pd.Timestamp(at),
                "amount": float(amount),
                "currency": "EUR",
                "channel": "online",
                "country": country,
            }
            for tx_id, card, merchant, at, amount, country in EDGE_ROWS
        ]
    )
    rows = pd.concat([simulated, edges], ignore_index=True)
    categories = simulated.drop_duplicates("merchant_id").set_index("merchant_id")["merchant_category"]
    merchants = Merchant.objects.bulk_create(
        Merchant(external_id=m, category={**categories, **EDGE_MERCHANTS}[m], country="FR")
        for m in rows["merchant_id"].unique()
    )
    # Fingerprints on the edge cards and every other simulated one: the others have none, as
    # imported history.
    cards = Card.objects.bulk_create(
        Card(external_id=c, fingerprint=f"fp-{c}" if c.startswith("EDGE") or i % 2 == 0 else None)
        for i, c in enumerate(sorted(rows["card_id"].unique()))
    )
    card_pk = {c.external_id: c.pk for c in cards}
    merchant_pk = {m.external_id: m.pk for m in merchants}
    Transaction.objects.bulk_create(
        Transaction(
            external_id=row.transaction_id,
            card_id=card_pk[row.card_id],
            merchant_id=merchant_pk[row.merchant_id],
            amount=Decimal(f"{row.amount:.2f}"),
            currency=row.currency,
            channel=row.channel,
            country=row.country,
            occurred_at=row.occurred_at.to_pydatetime(),
        )
        for row in rows.itertuples()
    )


@pytest.fixture
def history():
    """(the stored history as the vectorised path reads it, the same rows as decide() gets them)."""
    _store_history()
    frame = transactions_frame()
    fingerprints = dict(Card.objects.values_list("external_id", "fingerprint"))
    frame["card_fingerprint"] = frame["card_id"].map(lambda c: fingerprints[c] or "")
    inputs = [
        TransactionInput(
            transaction_id=tx.external_id,
            occurred_at=tx.occurred_at,
            card_id=tx.card.external_id,
            merchant_id=tx.merchant.external_id,
            amount=tx.amount,
            currency=tx.currency,
            merchant_category=tx.merchant.category,
            channel=tx.channel,
            country=tx.country,
            card_fingerprint=tx.card.fingerprint or "",
        )
        for tx in Transaction.objects.select_related("card", "merchant")
    ]
    assert len(frame) == len(inputs) > 300
    return frame, inputs


def decisions_both_ways(frame, inputs):
    """{transaction id: (decision, source)} online and vectorised; the two must be equal."""
    decision, source = evaluate_lists_and_rules_frame(frame, now=NOW)
    vectorised = dict(zip(frame["transaction_id"], zip(decision, source, strict=True), strict=True))
    database = DatabaseHistory()
    online = {}
    for tx in inputs:
        hit = evaluate_lists_and_rules(tx, history=database, now=NOW)
        online[tx.transaction_id] = (hit.decision, hit.source) if hit is not None else ("", "")
    differ = {i: (online[i], vectorised[i]) for i in online if online[i] != vectorised[i]}
    assert not differ, f"online != vectorised for {len(differ)} rows, e.g. {list(differ.items())[:5]}"
    return online


def matched(decided):
    return {tx_id for tx_id, (decision, _source) in decided.items() if decision}


def test_every_kind_has_its_class():
    assert set(RULE_KINDS) == set(Rule.Kind.values)
    assert list(LIST_KINDS) == ListEntry.Kind.values  # the order lists are looked up in


def test_amount_above_at_and_over_the_limit(history):
    Rule.objects.create(name="big", kind="amount_above", amount=Decimal("500.00"), action="review")
    decided = decisions_both_ways(*history)
    assert {"a2"} <= matched(decided)
    assert not {"a1", "a3"} & matched(decided)


def test_country_in_whatever_the_case(history):
    Rule.objects.create(name="risky countries", kind="country_in", values="NG, DE", action="block")
    decided = decisions_both_ways(*history)
    assert {"c1", "c3"} <= matched(decided)
    assert "c2" not in matched(decided)


def test_category_in_whatever_the_case(history):
    Rule.objects.create(name="gambling", kind="category_in", values="casino, 7995", action="review")
    decided = decisions_both_ways(*history)
    assert "k1" in matched(decided) and "k2" not in matched(decided)


@pytest.mark.parametrize(
    ("max_count", "minutes", "expected", "not_expected"),
    [
        # v3 counts v1 and v2 (under a millisecond before it); v4 counts v1, whose moment starts
        # its window; v6's window starts on v5, v7's just after it; d1 and d2 share an instant.
        (2, 10, {"v3", "v4", "v5", "d3"}, {"v1", "v2", "v6", "v7", "d1", "d2"}),
        (1, 10, {"v2", "v3", "v4", "v5", "v6", "v7", "d3"}, {"v1", "d1", "d2"}),
        (3, 60, {"v4", "v5", "v6", "v7"}, {"v1", "v2", "v3", "d3"}),
        (1, 1, {"v2", "v3", "v5", "v7", "d3"}, {"v1", "v4", "v6", "d1", "d2"}),
    ],
)
def test_velocity_on_the_window_edges(history, max_count, minutes, expected, not_expected):
    Rule.objects.create(
        name="burst", kind="velocity", max_count=max_count, window_minutes=minutes, action="block"
    )
    decided = decisions_both_ways(*history)
    assert expected <= matched(decided)
    assert not not_expected & matched(decided)


# kind: (a live entry, the rows it matches), (an entry expired now, the rows it would match)
LIST_VALUES = {
    "card_fingerprint": (("fp-EDGE-A", {"a1", "a2", "a3"}), ("fp-EDGE-C", {"c1", "c2", "c3"})),
    "card_id": (("EDGE-V", {f"v{i}" for i in range(1, 8)}), ("EDGE-D", {"d1", "d2", "d3"})),
    "merchant_id": (("M-CASINO", {"k1"}), ("M-NOCAT", {"k2"})),
    "country": (("de", {"c3"}), ("NG", {"c1"})),
}


@pytest.mark.parametrize("list_type", ["allow", "block"])
@pytest.mark.parametrize("kind", list(LIST_VALUES))
def test_list_kind(history, kind, list_type):
    (live, live_rows), (expired, expired_rows) = LIST_VALUES[kind]
    for value, fields in (
        (live, {"expires_at": NOW + US}),
        (expired, {"expires_at": NOW}),  # expired at this very moment
    ):
        entry = ListEntry(list_type=list_type, kind=kind, value=value, **fields)
        entry.full_clean()
        entry.save()
    ListEntry.objects.create(list_type=list_type, kind="merchant_id", value="M-EDGE", active=False)
    decided = decisions_both_ways(*history)
    assert live_rows <= matched(decided)
    assert not expired_rows & matched(decided)
    assert {decided[i][0] for i in matched(decided)} == {"approve" if list_type == "allow" else "block"}


def test_lists_then_rules_in_order_every_kind_at_once(history):
    frame, _inputs = history
    busiest_card = frame["card_id"].value_counts().index[0]
    ListEntry.objects.create(list_type="allow", kind="card_id", value="EDGE-V")
    ListEntry.objects.create(list_type="block", kind="merchant_id", value="M-EDGE")  # EDGE-V's too
    ListEntry.objects.create(list_type="block", kind="card_id", value=busiest_card)
    ListEntry.objects.create(list_type="allow", kind="country", value="DE", expires_at=NOW)
    Rule.objects.create(
        name="everything", kind="amount_above", amount=Decimal(0), action="block", order=1, active=False
    )
    Rule.objects.create(
        name="burst", kind="velocity", max_count=1, window_minutes=120, action="block", order=5
    )
    Rule.objects.create(name="gambling", kind="category_in", values="CASINO", action="review", order=6)
    Rule.objects.create(name="small", kind="amount_above", amount=Decimal("150"), action="review", order=7)
    Rule.objects.create(name="home", kind="country_in", values="FR", action="allow", order=8)
    decided = decisions_both_ways(*history)
    assert decided["v3"] == (Decision.APPROVE, "allow_list")  # the allow list wins over the block list
    assert decided["a1"] == (Decision.BLOCK, "block_list")
    assert decided["c3"] == (Decision.BLOCK, "block_list")  # the allow entry for DE has expired
    assert {source for _decision, source in decided.values()} >= {"allow_list", "block_list", "rule"}
    rules_decided = [d for d, s in decided.values() if s == "rule"]
    assert set(rules_decided) == {Decision.BLOCK, Decision.REVIEW, Decision.APPROVE}
