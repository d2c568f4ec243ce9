"""The fraud team's own rules and allow/block lists, as they would have written them in the
admin. Part of `seed_demo`, after the model part; the queue part (demo/workday.py) relies on
them to hold payments for review.

Written through detection's services, so they are validated as the admin validates them and
recorded in the audit trail. Idempotent: a rule is kept when one of its name exists, a list
entry when its list already holds its value.
"""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.models import User
from demo.history import DEMO_CUSTOMERS
from detection import services
from detection.models import ListEntry, Rule
from transactions.cards import fingerprint
from transactions.models import Card

# The role that manages rules and lists (README: the demo logins).
WRITTEN_BY = "manager@example.com"

# Names say what a rule is for: the admin's list of rules shows only them and the condition.
RULES = [
    {
        "name": "Card testing: block more than 5 payments on a card within 10 minutes",
        "kind": Rule.Kind.VELOCITY,
        "max_count": 5,
        "window_minutes": 10,
        "action": Rule.Action.BLOCK,
        "order": 10,
    },
    {
        "name": "Large payment: review anything over 3,000 (above most cards' monthly spend)",
        "kind": Rule.Kind.AMOUNT_ABOVE,
        "amount": Decimal("3000.00"),
        "action": Rule.Action.REVIEW,
        "order": 20,
    },
    {
        "name": "Abroad in high-fraud countries: review payments in NG and RU (most of last quarter's chargebacks)",
        "kind": Rule.Kind.COUNTRY_IN,
        "values": "NG, RU",
        "action": Rule.Action.REVIEW,
        "order": 30,
    },
    {
        "name": "Cash-like merchants: review crypto exchanges, money transfers and betting (MCC 6051, 4829, 7995)",
        "kind": Rule.Kind.CATEGORY_IN,
        "values": "6051, 4829, 7995",
        "action": Rule.Action.REVIEW,
        "order": 40,
    },
]

# A card number from a breach dump, listed by its fingerprint only (the number is never stored).
BREACHED_NUMBER = "4000056655665556"
TRAVEL_DAYS = 14


def _list_entries(now):
    entries = [
        (
            ListEntry.ListType.ALLOW,
            ListEntry.Kind.MERCHANT_ID,
            "m_metro_transit",
            "City transit operator: small fares, merchant verified by the acquirer; never hold a commuter.",
            None,
        ),
        (
            ListEntry.ListType.BLOCK,
            ListEntry.Kind.MERCHANT_ID,
            "m_gift_cards_24",
            "Gift-card reseller behind last month's chargeback wave; blocked until the acquirer's "
            "investigation ends.",
            None,
        ),
        (
            ListEntry.ListType.BLOCK,
            ListEntry.Kind.COUNTRY,
            "KP",
            "Sanctioned country: the bank does not process payments there.",
            None,
        ),
        (
            ListEntry.ListType.BLOCK,
            ListEntry.Kind.CARD_FINGERPRINT,
            fingerprint(BREACHED_NUMBER),
            "Card number found in a breach dump; the issuer has replaced the card.",
            None,
        ),
    ]
    # The first demo customer told the bank she travels: her main card is let through for a while.
    card = Card.objects.filter(owner__email=DEMO_CUSTOMERS[0]).order_by("pk").first()
    if card is not None and card.fingerprint:
        entries.append(
            (
                ListEntry.ListType.ALLOW,
                ListEntry.Kind.CARD_FINGERPRINT,
                card.fingerprint,
                f"Cardholder called: travelling in Europe for {TRAVEL_DAYS} days, do not hold her payments.",
                now + timedelta(days=TRAVEL_DAYS),
            )
        )
    return entries


def seed(*, stdout):
    now = timezone.now()
    staff = User.objects.filter(email=WRITTEN_BY).first()
    created = 0
    for rule in RULES:
        if not Rule.objects.filter(name=rule["name"]).exists():
            fields = {
                key: value for key, value in rule.items() if key not in ("name", "kind", "action", "order")
            }
            services.rule_create(
                actor=staff,
                name=rule["name"],
                kind=rule["kind"],
                action=rule["action"],
                order=rule["order"],
                **fields,
            )
            created += 1
    stdout.write(f"  Rules: {created} created, {len(RULES) - created} already there")
    entries = _list_entries(now)
    created = 0
    for list_type, kind, value, reason, expires_at in entries:
        if not ListEntry.objects.filter(list_type=list_type, kind=kind, value=value).exists():
            services.list_entry_add(
                actor=staff,
                list_type=list_type,
                kind=kind,
                value=value,
                reason=reason,
                expires_at=expires_at,
            )
            created += 1
    stdout.write(f"  Allow and block list entries: {created} created, {len(entries) - created} already there")
