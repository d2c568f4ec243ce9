"""Fraud reports: created by a customer, an analyst, a chargeback or an integrator, resolved by an
analyst (confirmed fraud comes off the balance)."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import audit_record
from detection.lifecycle import retraining
from transactions import webhooks
from transactions.models import FraudReport, Transaction
from transactions.services.common import (
    atomic,
    card_state,
    checked_note,
    locked_card,
    move_money,
    on_commit,
    report_state,
    transaction_state,
)


def fraud_report_create(*, transaction, reported_by, source, note=""):
    """Someone says a transaction was fraud; it waits, open, for an analyst. One open report per
    transaction."""
    errors = {}
    if source not in FraudReport.Source.values:
        errors["source"] = _("Choose who reports: customer, analyst, chargeback or integrator.")
    note = checked_note(note, errors)
    if errors:
        raise ValidationError(errors)
    already_open = ValidationError({"transaction": _("This transaction already has an open fraud report.")})
    try:
        with atomic():
            tx = Transaction.objects.select_for_update().get(pk=transaction.pk)
            if tx.status == Transaction.Status.CONFIRMED_FRAUD:
                raise ValidationError({"transaction": _("This transaction is already confirmed as fraud.")})
            if tx.reports.filter(status=FraudReport.Status.OPEN).exists():
                raise already_open
            report = FraudReport.objects.create(
                transaction=tx,
                reported_by=reported_by if reported_by is not None and reported_by.is_authenticated else None,
                source=source,
                note=note,
            )
            audit_record(
                actor=reported_by,
                action="fraud_report.create",
                target=report,
                after={**report_state(report), "transaction": tx.external_id, "source": source},
                note=note,
            )
            webhooks.fraud_report_event(report, tx=tx, card=tx.card, created=True)
    except IntegrityError:  # a concurrent report won the one open slot
        raise already_open from None
    return report


def fraud_report_resolve(*, report, resolved_by, confirmed, note=""):
    """An analyst settles a report. Confirmed: the transaction is labelled fraud and its amount
    comes off the balance (or out of the hold). Rejected: it is labelled legitimate."""
    errors = {}
    note = checked_note(note, errors)
    if errors:
        raise ValidationError(errors)
    with atomic():
        report = FraudReport.objects.select_for_update().get(pk=report.pk)
        if report.status != FraudReport.Status.OPEN:
            raise ValidationError({"report": _("This report has already been resolved.")})
        tx = Transaction.objects.select_for_update().get(pk=report.transaction_id)
        card = locked_card(tx.card_id)
        before = {**report_state(report), "transaction": transaction_state(tx), "card": card_state(card)}
        now = timezone.now()
        if confirmed:
            if tx.status in (Transaction.Status.APPROVED, Transaction.Status.CONFIRMED_LEGITIMATE):
                move_money(card.pk, balance=-tx.amount)
            elif tx.status == Transaction.Status.PENDING_REVIEW:
                move_money(card.pk, held=-tx.amount)
            tx.status = Transaction.Status.CONFIRMED_FRAUD
            tx.is_fraud = True
            report.status = FraudReport.Status.CONFIRMED
        else:
            if tx.status == Transaction.Status.PENDING_REVIEW:
                move_money(card.pk, balance=tx.amount, held=-tx.amount)
            if tx.status in (Transaction.Status.APPROVED, Transaction.Status.PENDING_REVIEW):
                tx.status = Transaction.Status.CONFIRMED_LEGITIMATE
            tx.is_fraud = False
            report.status = FraudReport.Status.REJECTED
        tx.label_known_at = now
        tx.label_source = report.source
        tx.save(update_fields=["status", "is_fraud", "label_known_at", "label_source"])
        report.resolved_by = resolved_by if resolved_by is not None and resolved_by.is_authenticated else None
        report.resolved_at = now
        report.resolution_note = note
        report.save(update_fields=["status", "resolved_by", "resolved_at", "resolution_note"])
        card.refresh_from_db()
        audit_record(
            actor=resolved_by,
            action="fraud_report.confirm" if confirmed else "fraud_report.reject",
            target=report,
            before=before,
            after={**report_state(report), "transaction": transaction_state(tx), "card": card_state(card)},
            note=note,
        )
        webhooks.fraud_report_event(report, tx=tx, card=card, created=False)
        on_commit(retraining.retraining_check)
    return report
