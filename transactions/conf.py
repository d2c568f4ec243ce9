"""Settings of the transactions app, with their defaults (override them in the Django settings)."""

from decimal import Decimal

from django.conf import settings

from core import plausible

# TRANSACTIONS_MAX_AMOUNT, TRANSACTIONS_CLOCK_SKEW_SECONDS and TRANSACTIONS_EARLIEST_OCCURRED_AT
# are read by core.plausible, the one validator of amounts and times for every entry point.
max_amount = plausible.max_amount


def clock_skew_seconds():
    return int(plausible.clock_skew().total_seconds())


def default_credit_limit():
    return Decimal(str(getattr(settings, "TRANSACTIONS_DEFAULT_CREDIT_LIMIT", "5000.00")))


def max_credit_limit():
    return Decimal(str(getattr(settings, "TRANSACTIONS_MAX_CREDIT_LIMIT", "1000000.00")))


def card_max_years_ahead():
    """Cards are issued for a few years; an expiry further out is a typo."""
    return int(getattr(settings, "TRANSACTIONS_CARD_MAX_YEARS_AHEAD", 20))
