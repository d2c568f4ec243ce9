"""The events of this app for webhooks (api/webhooks): what happened to a card, in the shapes the
API shows (`transactions/api.py`), sent to whoever the card belongs to: the integrator whose card
id it is (Card.issuer), or the bank's own subscriptions. Never a card number; a card is the id
its owner knows it by. Reason messages are left out (they are written in the reader's language
when read): codes and their values are."""

from rest_framework import serializers

from api.models import WebhookEventType
from api.webhooks.services import event_emit
from detection.sentences import lowers_risk

_when = serializers.DateTimeField()


def _time(value):
    return None if value is None else _when.to_representation(value)


def _reason(reason):
    params = reason.get("params") if isinstance(reason, dict) else reason.params
    code = reason.get("code") if isinstance(reason, dict) else reason.code
    return {"code": code, "params": params or {}, "direction": "lowers" if lowers_risk(reason) else "raises"}


def transaction_data(tx, *, card, merchant):
    return {
        "id": tx.pk,
        "transaction_id": tx.external_id,
        "card_id": card.display_id,
        "merchant_id": merchant.external_id,
        "amount": str(tx.amount),
        "currency": tx.currency,
        "occurred_at": _time(tx.occurred_at),
        "status": tx.status,
        "decision": tx.decision,
        "risk_score": tx.risk_score,
        "score": tx.score,
        "model_version": tx.model_version,
        "decided_by": tx.decided_by,
        "reasons": [_reason(reason) for reason in tx.reasons],
        "decided_at": _time(tx.decided_at),
    }


def report_data(report, *, tx, card):
    return {
        "id": report.pk,
        "transaction_id": tx.external_id,
        "source": report.source,
        "status": report.status,
        "note": report.note,
        "created_at": _time(report.created_at),
        "resolved_at": _time(report.resolved_at),
        "resolution_note": report.resolution_note,
        "transaction": transaction_data(tx, card=card, merchant=tx.merchant),
    }


def transaction_decided(tx, *, card, merchant):
    event_emit(
        type=WebhookEventType.TRANSACTION_DECIDED,
        integrator_id=card.issuer_id,
        data=lambda: transaction_data(tx, card=card, merchant=merchant),
    )


def transaction_reviewed(tx, *, card):
    event_emit(
        type=WebhookEventType.TRANSACTION_REVIEWED,
        integrator_id=card.issuer_id,
        data=lambda: {**transaction_data(tx, card=card, merchant=tx.merchant), "is_fraud": tx.is_fraud},
    )


def fraud_report_event(report, *, tx, card, created):
    event_emit(
        type=WebhookEventType.FRAUD_REPORT_CREATED if created else WebhookEventType.FRAUD_REPORT_RESOLVED,
        integrator_id=card.issuer_id,
        data=lambda: report_data(report, tx=tx, card=card),
    )


def card_status_changed(card):
    event_emit(
        type=WebhookEventType.CARD_STATUS_CHANGED,
        integrator_id=card.issuer_id,
        data=lambda: {"card_id": card.display_id, "status": card.status},
    )
