"""Demo cards, merchants and a few months of history. Part of `seed_demo`, which runs it before
the model part (demo/model.py) trains a model on the history.

Three parts: the bank's wider traffic (hundreds of cards, months of it) from detection's simulator,
imported like any canonical CSV, so the model, the queue and the dashboards have real volume; the
demo customers' own cards with a readable history of everyday merchants (`history_rows()`); and
the demo integrator's cards, in its own namespace of card ids (see `Card`), with the payments it
submitted through the API, so its `GET /api/v1/transactions/` has something to show and the admin
shows whose card each is.
"""

import random
import tempfile
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from demo.reasons import DEMO_HISTORY
from detection.contracts import Decision
from detection.ml.simulator import simulate, write_csv
from transactions import services
from transactions.cards import luhn_valid
from transactions.importing import transactions_import
from transactions.models import Card, FraudReport, Transaction

DEMO_CUSTOMERS = ["alice@example.com", "bob@example.com"]
DEMO_INTEGRATOR = "integrator@example.com"
# The integrator's own ids: "pos-0001" is its card, whoever else calls a card so.
INTEGRATOR_CARDS = ["pos-0001", "pos-0002"]
INTEGRATOR_DAYS = 30
HISTORY_DAYS = 90
# Older approved spending is taken as paid off by monthly statements: the balance is what was
# spent in the current statement period.
STATEMENT_DAYS = 30
SEED = 2026

MERCHANTS = [
    # external id, name, MCC, country, typical amount
    ("m_green_grocer", "Green Grocer", "5411", "US", 45),
    ("m_corner_cafe", "Corner Café", "5814", "US", 8),
    ("m_metro_transit", "Metro Transit", "4111", "US", 3),
    ("m_fuel_stop", "FuelStop", "5541", "US", 55),
    ("m_bookworm", "Bookworm Books", "5942", "US", 25),
    ("m_pharma_plus", "Pharma Plus", "5912", "US", 20),
    ("m_cinema_city", "Cinema City", "7832", "US", 30),
    ("m_home_hardware", "Home Hardware", "5251", "US", 70),
    ("m_streamflix", "StreamFlix", "4899", "US", 15),
    ("m_bistro_paris", "Bistro de Paris", "5812", "FR", 60),
    ("m_electro_world", "ElectroWorld Online", "5732", "US", 250),
    ("m_sky_air", "SkyAir Tickets", "4511", "US", 400),
    # Where the stolen card numbers get used in the demo.
    ("m_gift_cards_24", "GiftCards 24/7", "5999", "RU", 300),
    ("m_crypto_xchg", "QuickCrypto Exchange", "6051", "NG", 500),
]
FRAUD_MERCHANTS = {"m_gift_cards_24", "m_crypto_xchg"}


def _card_number(rng, prefix):
    """A Luhn-valid demo number; it is fingerprinted and dropped like any other."""
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(15 - len(prefix)))
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable: one check digit always fits")


def history_rows(*, cards, merchants, start, days, seed):
    """Plausible spending per card in the canonical CSV columns: a few everyday payments a day
    at regular merchants, an occasional large one, and rare bursts of fraud at odd merchants."""
    rng = random.Random(seed)
    everyday = [m for m in merchants if m.external_id not in FRAUD_MERCHANTS]
    shady = [m for m in merchants if m.external_id in FRAUD_MERCHANTS]
    typical = {external_id: amount for external_id, _n, _c, _k, amount in MERCHANTS}
    rows = []
    for card in cards:
        regulars = rng.sample(everyday, k=min(7, len(everyday)))
        fraud_days = set(rng.sample(range(days), k=1))
        for day in range(days):
            base = start + timedelta(days=day)
            for _ in range(rng.choice([0, 1, 1, 2, 2, 3])):
                # Small everyday payments are frequent, big ones rare.
                merchant = rng.choices(regulars, weights=[1 / typical[m.external_id] for m in regulars])[0]
                amount = max(
                    1.0,
                    rng.gauss(typical[merchant.external_id], typical[merchant.external_id] / 3),
                )
                occurred_at = base + timedelta(hours=rng.randint(7, 21), minutes=rng.randrange(60))
                rows.append(_row(card, merchant, amount, occurred_at, "in_store", False, rng))
            if day in fraud_days and shady:
                burst_at = base + timedelta(hours=rng.randint(0, 4), minutes=rng.randrange(60))
                for n in range(rng.randint(2, 3)):
                    merchant = rng.choice(shady)
                    amount = rng.uniform(150, 600)
                    rows.append(
                        _row(card, merchant, amount, burst_at + timedelta(minutes=4 * n), "online", True, rng)
                    )
    return sorted(rows, key=lambda row: row["occurred_at"])


def _row(card, merchant, amount, occurred_at, channel, is_fraud, rng):
    return {
        # The id its owner knows the card by: an integrator reads these transactions back.
        "transaction_id": f"demo_{card.display_id}_{int(occurred_at.timestamp())}_{rng.randrange(10**6):06d}",
        "occurred_at": occurred_at,
        "card_id": card.external_id,
        "merchant_id": merchant.external_id,
        "amount": Decimal(f"{amount:.2f}"),
        "currency": "USD",
        "merchant_category": merchant.category,
        "channel": channel,
        "country": merchant.country,
        "is_fraud": is_fraud,
    }


def _store_history(rows, *, cards, merchants, now, submitted_by=None):
    """History as it would have been decided and resolved: frauds were declined or confirmed after
    a report (by the customer, or by the integrator that submitted them); the rest approved.
    Balances are set from the current statement period."""
    cards_by_id = {card.external_id: card for card in cards}
    merchants_by_id = {merchant.external_id: merchant for merchant in merchants}
    transactions, frauds = [], []
    for row in rows:
        fraud = row["is_fraud"]
        decided_at = row["occurred_at"]
        tx = Transaction(
            external_id=row["transaction_id"],
            card=cards_by_id[row["card_id"]],
            merchant=merchants_by_id[row["merchant_id"]],
            amount=row["amount"],
            currency=row["currency"],
            occurred_at=row["occurred_at"],
            channel=row["channel"],
            country=row["country"],
            submitted_by=submitted_by,
            decision=Decision.REVIEW if fraud else Decision.APPROVE,
            risk_score=78 if fraud else 8,
            decided_by="demo",
            reasons=[{"code": DEMO_HISTORY, "params": {}}],
            decided_at=decided_at,
            status=Transaction.Status.CONFIRMED_FRAUD if fraud else Transaction.Status.APPROVED,
            is_fraud=fraud,
            label_known_at=decided_at + timedelta(days=2) if fraud else None,
            label_source=(FraudReport.Source.INTEGRATOR if submitted_by else FraudReport.Source.CUSTOMER)
            if fraud
            else "",
        )
        transactions.append(tx)
        if fraud:
            frauds.append(tx)
    Transaction.objects.bulk_create(transactions, batch_size=500)
    FraudReport.objects.bulk_create(
        [
            FraudReport(
                transaction=tx,
                reported_by=submitted_by or tx.card.owner,
                source=FraudReport.Source.INTEGRATOR if submitted_by else FraudReport.Source.CUSTOMER,
                note="Chargeback from the cardholder." if submitted_by else "I did not make this payment.",
                status=FraudReport.Status.CONFIRMED,
                resolved_at=tx.label_known_at,
                resolution_note="Confirmed with the customer.",
            )
            for tx in frauds
        ]
    )
    # auto_now_add stamped the reports with today: date them when they were made.
    for tx in frauds:
        FraudReport.objects.filter(transaction=tx).update(created_at=tx.occurred_at + timedelta(hours=6))
    statement_start = now - timedelta(days=STATEMENT_DAYS)
    for card in cards:
        spent = sum(
            (
                tx.amount
                for tx in transactions
                if tx.card is card
                and tx.status == Transaction.Status.APPROVED
                and tx.occurred_at >= statement_start
            ),
            start=Decimal("0.00"),
        )
        Card.objects.filter(pk=card.pk).update(balance=spent)
    return len(transactions)


def _merchants():
    merchants = []
    for external_id, name, category, country, _amount in MERCHANTS:
        merchants.append(
            services.merchant_get_or_create(
                external_id=external_id, name=name, category=category, country=country
            )
        )
    return merchants


# The simulated bank: about 1,200 transactions a day, enough for the time-honest training.
BANK_CARDS, BANK_MERCHANTS, BANK_DAYS = 600, 300, 90


def _seed_bank_traffic(*, stdout, now):
    """Simulated traffic up to now. Labels that would only become known after now are left
    out, as they would be in a live bank: those frauds are still waiting to be reported."""
    import pandas as pd

    if Transaction.objects.filter(external_id__startswith="sim_").exists():
        return
    start = (now - timedelta(days=BANK_DAYS)).replace(hour=0, minute=0, second=0)
    frame = simulate(customers=BANK_CARDS, merchants=BANK_MERCHANTS, days=BANK_DAYS, seed=SEED, start=start)
    frame = frame[frame["occurred_at"] < pd.Timestamp(now)].copy()
    for column in ("transaction_id", "card_id", "merchant_id"):
        frame[column] = frame[column].cat.rename_categories(lambda value: f"sim_{value}")
    unknown = frame["label_known_at"] >= pd.Timestamp(now)
    frame["is_fraud"] = frame["is_fraud"].astype("Int8")
    frame.loc[unknown, "is_fraud"] = pd.NA
    frame.loc[unknown, "label_known_at"] = pd.NaT
    with tempfile.NamedTemporaryFile(suffix=".csv") as handle:
        write_csv(frame, handle.name)
        result = transactions_import(path=handle.name, progress=False)
    stdout.write(
        f"  Simulated bank traffic: {result.imported:,} transactions of {result.cards_created} cards "
        f"at {result.merchants_created} merchants over {BANK_DAYS} days"
    )


def _seed_integrator(*, stdout, merchants, now):
    """The demo integrator's own cards and what it submitted on them, once."""
    integrator = User.objects.filter(email=DEMO_INTEGRATOR).first()
    if integrator is None or Card.objects.filter(issuer=integrator).exists():
        return
    cards = [
        services.card_get_or_create(external_id=card_id, issuer=integrator) for card_id in INTEGRATOR_CARDS
    ]
    rows = history_rows(
        cards=cards,
        merchants=merchants,
        start=now - timedelta(days=INTEGRATOR_DAYS),
        days=INTEGRATOR_DAYS,
        seed=SEED,
    )
    count = _store_history(rows, cards=cards, merchants=merchants, now=now, submitted_by=integrator)
    stdout.write(
        f"  {DEMO_INTEGRATOR}: its cards {', '.join(INTEGRATOR_CARDS)}, {count} transactions over "
        f"{INTEGRATOR_DAYS} days"
    )


def seed(*, stdout):
    """Idempotent: what exists is kept; customers who already have cards are left alone."""
    rng = random.Random(SEED)
    now = timezone.now().replace(microsecond=0)
    _seed_bank_traffic(stdout=stdout, now=now)
    with transaction.atomic():
        merchants = _merchants()
        for index, email in enumerate(DEMO_CUSTOMERS):
            customer = User.objects.filter(email=email).first()
            if customer is None or customer.cards.exists():
                continue
            cards = [
                services.card_add(
                    owner=customer,
                    number=_card_number(rng, prefix),
                    expiry_month=rng.randint(1, 12),
                    expiry_year=now.year + rng.randint(1, 4),
                    cardholder_name=customer.get_full_name(),
                    credit_limit=limit,
                )
                for prefix, limit in (("4", Decimal("5000")), ("52", Decimal("2500")))
            ]
            rows = history_rows(
                cards=cards,
                merchants=merchants,
                start=now - timedelta(days=HISTORY_DAYS),
                days=HISTORY_DAYS,
                seed=SEED + index,
            )
            count = _store_history(rows, cards=cards, merchants=merchants, now=now)
            stdout.write(f"  {email}: 2 cards, {count} transactions over {HISTORY_DAYS} days")
        _seed_integrator(stdout=stdout, merchants=merchants, now=now)
