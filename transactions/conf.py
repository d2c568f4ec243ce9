"""Settings of the transactions app, each declared with its default and bounds (core.conf);
override them in the Django settings."""

from decimal import Decimal

from core import plausible
from core.conf import setting

# TRANSACTIONS_MAX_AMOUNT, TRANSACTIONS_CLOCK_SKEW_SECONDS and TRANSACTIONS_EARLIEST_OCCURRED_AT
# are read by core.plausible, the one validator of amounts and times for every entry point.
max_amount = plausible.max_amount


@setting("TRANSACTIONS_DEFAULT_CREDIT_LIMIT", default="5000.00", minimum=Decimal("0.01"))
def default_credit_limit(value) -> Decimal:
    return Decimal(str(value))


@setting("TRANSACTIONS_MAX_CREDIT_LIMIT", default="1000000.00", minimum=Decimal("0.01"))
def max_credit_limit(value) -> Decimal:
    return Decimal(str(value))


@setting("TRANSACTIONS_CARD_MAX_YEARS_AHEAD", default=20, minimum=1)
def card_max_years_ahead(value) -> int:
    """Cards are issued for a few years; an expiry further out is a typo."""
    return int(value)


@setting("API_BATCH_MAX_BYTES", default=10 * 1024 * 1024, minimum=1)
def batch_max_bytes(value) -> int:
    """The largest CSV accepted by POST /api/v1/batches/ (bytes)."""
    return int(value)


@setting("TRANSACTIONS_REVIEW_SLA_HOURS", default=4, minimum=0.25)
def review_sla_hours(value) -> float:
    """How long an item may wait in the review queue (held payment or fraud report) before it is
    late: the queue colours items green under half of it, amber after, red past it."""
    return float(value)
