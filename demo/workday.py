"""A working day in the review queue: over the last 24 hours, payments held for review by the
demo's rules (demo/decisioning.py) and fraud reports still open, from customers, a chargeback,
an analyst and the integrator; a few already taken by the demo analyst. Part of `seed_demo`,
the last one.

Everything goes through the services a real day goes through: each payment is submitted and
decided (`transaction_submit`: rules, model, and the hold on the card's credit), each report is
filed (`fraud_report_create`), each item is assigned (`transaction_assign`), all of it in the
audit trail. Only the reports' filing times are moved back into the day, as demo/history.py
does for its reports. Idempotent: every item has its own transaction id and is skipped when
that id exists.
"""

import random
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from demo.history import DEMO_CUSTOMERS, DEMO_INTEGRATOR
from transactions import services
from transactions.models import Card, FraudReport, Transaction

ANALYST = "analyst@example.com"
PREFIX = "demo_q_"
SEED = 15
DAY_MINUTES = 24 * 60
# Another cash-like merchant, for the rule on merchant categories.
WIRE_MERCHANT = ("m_wirenow", "WireNow Money Transfer", "4829", "US")


@dataclass(frozen=True)
class Item:
    key: str
    card: str  # "bank" (a card of the simulated bank), "alice", "bob" or "integrator"
    merchant: str
    amount: Decimal
    channel: str
    minutes_ago: int
    report: str = ""  # a FraudReport.Source when someone reported it
    note: str = ""
    assigned: bool = False


# What held each payment for review: the rule its merchant or amount trips.
HELD = [
    # (how many, merchant, lowest amount, highest amount)
    (8, "m_electro_world", 3100, 4800),  # large payment
    (2, "m_sky_air", 3200, 4600),  # large payment
    (6, "m_crypto_xchg", 150, 900),  # a high-fraud country (and a crypto exchange)
    (4, "m_wirenow", 200, 1500),  # a cash-like merchant
]
REPORTED = [
    # (card, merchant, amount, source, note)
    ("alice", "m_streamflix", "15.99", FraudReport.Source.CUSTOMER, "I never subscribed to StreamFlix."),
    ("alice", "m_electro_world", "289.00", FraudReport.Source.CUSTOMER, "I did not make this payment."),
    ("bob", "m_cinema_city", "64.50", FraudReport.Source.CUSTOMER, "Not me: I was at home all evening."),
    (
        "bank",
        "m_electro_world",
        "749.00",
        FraudReport.Source.CUSTOMER,
        "Cardholder called: card still in her wallet.",
    ),
    ("bank", "m_bookworm", "112.40", FraudReport.Source.CUSTOMER, "Cardholder does not know this merchant."),
    (
        "bank",
        "m_sky_air",
        "1280.00",
        FraudReport.Source.CHARGEBACK,
        "Chargeback: cardholder disputes the ticket.",
    ),
    ("bank", "m_home_hardware", "436.20", FraudReport.Source.CHARGEBACK, "Chargeback: goods not ordered."),
    (
        "bank",
        "m_fuel_stop",
        "95.00",
        FraudReport.Source.ANALYST,
        "Same card used at two fuel stations 300 km apart.",
    ),
    (
        "bank",
        "m_electro_world",
        "512.00",
        FraudReport.Source.ANALYST,
        "Shipping address on a known mule list.",
    ),
    (
        "integrator",
        "m_bistro_paris",
        "188.00",
        FraudReport.Source.INTEGRATOR,
        "Chargeback from the cardholder.",
    ),
]


def plan(seed=SEED) -> list[Item]:
    """The day's items, their times spread over the last 24 hours, every fourth one assigned."""
    rng = random.Random(seed)
    items = []
    for count, merchant, low, high in HELD:
        for _ in range(count):
            amount = Decimal(f"{rng.uniform(low, high):.2f}")
            items.append(("bank", merchant, amount, "online", "", ""))
    items.append(("bob", "m_crypto_xchg", Decimal("240.00"), "online", "", ""))
    items.append(("integrator", "m_crypto_xchg", Decimal("620.00"), "online", "", ""))
    items += [
        (card, merchant, Decimal(amount), "online", source, note)
        for card, merchant, amount, source, note in REPORTED
    ]
    rng.shuffle(items)
    step = (DAY_MINUTES - 60) // len(items)
    return [
        Item(
            key=f"{PREFIX}{index + 1:02d}",
            card=card,
            merchant=merchant,
            amount=amount,
            channel=channel,
            minutes_ago=20 + index * step + rng.randrange(step),
            report=source,
            note=note,
            assigned=index % 4 == 1,
        )
        for index, (card, merchant, amount, channel, source, note) in enumerate(items)
    ]


def _cards(rng):
    """The card an item of each kind is paid with: the bank's cards taken in turn, the demo
    customers' and the integrator's own."""
    bank = list(Card.objects.filter(external_id__startswith="sim_").order_by("external_id")[:200])
    rng.shuffle(bank)
    alice = Card.objects.filter(owner__email=DEMO_CUSTOMERS[0]).order_by("-pk").first()
    bob = Card.objects.filter(owner__email=DEMO_CUSTOMERS[1]).order_by("pk").first()
    integrator = Card.objects.filter(issuer__email=DEMO_INTEGRATOR).order_by("external_id").first()
    return bank, {"alice": alice, "bob": bob, "integrator": integrator}


def seed(*, stdout):
    now = timezone.now()
    analyst = User.objects.filter(email=ANALYST).first()
    integrator = User.objects.filter(email=DEMO_INTEGRATOR).first()
    customers = {email: User.objects.filter(email=email).first() for email in DEMO_CUSTOMERS}
    reporters = {"alice": customers[DEMO_CUSTOMERS[0]], "bob": customers[DEMO_CUSTOMERS[1]]}
    services.merchant_get_or_create(
        external_id=WIRE_MERCHANT[0],
        name=WIRE_MERCHANT[1],
        category=WIRE_MERCHANT[2],
        country=WIRE_MERCHANT[3],
    )
    items = [item for item in plan() if not Transaction.objects.filter(external_id=item.key).exists()]
    if not items:
        stdout.write("  The day's queue is already there.")
        return
    bank, own = _cards(random.Random(SEED))
    held = reported = assigned = skipped = 0
    for item in items:
        card = own.get(item.card) if item.card != "bank" else (bank.pop() if bank else None)
        merchant = services.merchant_get_or_create(external_id=item.merchant)
        if card is None or (item.card == "integrator" and integrator is None):
            skipped += 1
            continue
        occurred_at = now - timedelta(minutes=item.minutes_ago)
        with transaction.atomic():
            tx = services.transaction_submit(
                card=card,
                merchant=merchant,
                amount=item.amount,
                occurred_at=occurred_at,
                channel=item.channel,
                country=merchant.country,
                external_id=item.key,
                submitted_by=integrator if item.card == "integrator" else None,
            )
            if item.report:
                reporter = {
                    FraudReport.Source.CUSTOMER: reporters.get(item.card),
                    FraudReport.Source.ANALYST: analyst,
                    FraudReport.Source.INTEGRATOR: integrator,
                }.get(item.report)
                report = services.fraud_report_create(
                    transaction=tx, reported_by=reporter, source=item.report, note=item.note
                )
                # Filed a while after the payment, still within the day.
                filed_at = min(occurred_at + timedelta(minutes=45 + item.minutes_ago // 6), now)
                FraudReport.objects.filter(pk=report.pk).update(created_at=filed_at)
                reported += 1
            elif tx.status == Transaction.Status.PENDING_REVIEW:
                held += 1
            if (
                item.assigned
                and analyst is not None
                and (item.report or tx.status == Transaction.Status.PENDING_REVIEW)
            ):
                services.transaction_assign(transaction=tx, actor=analyst, assignee=analyst)
                assigned += 1
    stdout.write(
        f"  Review queue over the last 24 hours: {held} payments held for review, {reported} open fraud "
        f"reports, {assigned} of them taken by {ANALYST}"
        + (f" ({skipped} without a card, left out)" if skipped else "")
    )
