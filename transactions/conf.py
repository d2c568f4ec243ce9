"""Settings of the transactions app, with their defaults (override them in the Django settings)."""

from decimal import Decimal

from django.conf import settings


def max_amount():
    """The largest single transaction we accept; anything above is a typo or an attack."""
    return Decimal(str(getattr(settings, "TRANSACTIONS_MAX_AMOUNT", "1000000.00")))


def clock_skew_seconds():
    """How far in the future an occurred_at may be, for clocks that run a little fast."""
    return int(getattr(settings, "TRANSACTIONS_CLOCK_SKEW_SECONDS", 300))


def default_credit_limit():
    return Decimal(str(getattr(settings, "TRANSACTIONS_DEFAULT_CREDIT_LIMIT", "5000.00")))


def max_credit_limit():
    return Decimal(str(getattr(settings, "TRANSACTIONS_MAX_CREDIT_LIMIT", "1000000.00")))


def card_max_years_ahead():
    """Cards are issued for a few years; an expiry further out is a typo."""
    return int(getattr(settings, "TRANSACTIONS_CARD_MAX_YEARS_AHEAD", 20))
