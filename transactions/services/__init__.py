"""Writes of the transactions app: cards, submitted transactions and their balances, reviews,
fraud reports; one module per concern, the whole API here.

Every service that changes state validates first (raising a field-keyed ValidationError, with
nothing stored), then writes inside one database transaction together with its audit entry.
Balances are changed only while the card's row is locked, so concurrent submissions stay exact.
"""

from transactions.services.cards import (
    card_add,
    card_get_or_create,
    card_set_credit_limit,
    card_set_status,
    merchant_from_name,
    merchant_get_or_create,
)
from transactions.services.reports import fraud_report_create, fraud_report_resolve
from transactions.services.review import (
    transaction_add_note,
    transaction_assign,
    transaction_confirm,
    transaction_review_resolve,
)
from transactions.services.submission import (
    CARD_FROZEN,
    DECISION_UNAVAILABLE,
    OVER_CREDIT_LIMIT,
    customer_payment_submit,
    transaction_submit,
    transaction_submitting,
)

__all__ = [
    "CARD_FROZEN",
    "DECISION_UNAVAILABLE",
    "OVER_CREDIT_LIMIT",
    "card_add",
    "card_get_or_create",
    "card_set_credit_limit",
    "card_set_status",
    "customer_payment_submit",
    "fraud_report_create",
    "fraud_report_resolve",
    "merchant_from_name",
    "merchant_get_or_create",
    "transaction_add_note",
    "transaction_assign",
    "transaction_confirm",
    "transaction_review_resolve",
    "transaction_submit",
    "transaction_submitting",
]
