"""The review of a transaction by an analyst: resolved, assigned, annotated."""

from django.core.exceptions import ValidationError
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
    free_text,
    locked_card,
    move_money,
    on_commit,
    transaction_state,
)
from transactions.services.reports import fraud_report_create, fraud_report_resolve


def transaction_review_resolve(*, transaction, actor, is_fraud, note=""):
    """An analyst settles a transaction held for review: fraud is declined (and labelled),
    legitimate is approved and its hold moves onto the balance."""
    note = free_text(note)
    tx_model_pk = transaction.pk
    with atomic():
        tx = Transaction.objects.select_for_update().get(pk=tx_model_pk)
        if tx.status != Transaction.Status.PENDING_REVIEW:
            raise ValidationError({"transaction": _("Only a transaction pending review can be resolved.")})
        card = locked_card(tx.card_id)
        before = {**transaction_state(tx), "card": card_state(card)}
        if is_fraud:
            move_money(card.pk, held=-tx.amount)
            tx.status = Transaction.Status.DECLINED
        else:
            move_money(card.pk, balance=tx.amount, held=-tx.amount)
            tx.status = Transaction.Status.APPROVED
        tx.is_fraud = bool(is_fraud)
        tx.label_known_at = timezone.now()
        tx.label_source = FraudReport.Source.ANALYST
        tx.save(update_fields=["status", "is_fraud", "label_known_at", "label_source"])
        card.refresh_from_db()
        audit_record(
            actor=actor,
            action="transaction.review_fraud" if is_fraud else "transaction.review_legitimate",
            target=tx,
            before=before,
            after={**transaction_state(tx), "card": card_state(card)},
            note=note,
        )
        webhooks.transaction_reviewed(tx, card=card)
        # A confirmed label may make a retraining due; asked once the label is committed.
        on_commit(retraining.retraining_check)
    return tx


def transaction_confirm(*, transaction, actor, is_fraud, note="", queued_only=False):
    """An analyst's verdict on a transaction, wherever it stands: it settles the open report if
    there is one, else the review; a payment that went through and that the analyst finds to be
    fraud is reported by the analyst and confirmed at once (its amount comes off the balance).
    `queued_only`: the analyst judged it as a queued item, so if someone settled it meanwhile
    nothing more happens (two analysts on one item do not overturn each other)."""
    report = transaction.reports.filter(status=FraudReport.Status.OPEN).first()
    if report is not None:
        return fraud_report_resolve(
            report=report, resolved_by=actor, confirmed=is_fraud, note=note
        ).transaction
    if transaction.status == Transaction.Status.PENDING_REVIEW:
        return transaction_review_resolve(transaction=transaction, actor=actor, is_fraud=is_fraud, note=note)
    if queued_only:
        raise ValidationError(
            {"transaction": _("Someone settled this item meanwhile; it is shown as it is now.")}
        )
    if not is_fraud:
        raise ValidationError({"transaction": _("Nothing waits for a decision on this transaction.")})
    with atomic():
        report = fraud_report_create(
            transaction=transaction, reported_by=actor, source=FraudReport.Source.ANALYST, note=note
        )
        return fraud_report_resolve(report=report, resolved_by=actor, confirmed=True, note=note).transaction


# --- the review queue ---------------------------------------------------------------------------


def transaction_assign(*, transaction, actor, assignee):
    """Give a queued transaction (its review or its open report) to an analyst, or to nobody."""
    with atomic():
        tx = Transaction.objects.select_for_update().get(pk=transaction.pk)
        before = {"assigned_to": tx.assigned_to.email if tx.assigned_to else None}
        tx.assigned_to = assignee
        tx.save(update_fields=["assigned_to"])
        audit_record(
            actor=actor,
            action="transaction.assign",
            target=tx,
            before=before,
            after={"assigned_to": assignee.email if assignee else None},
        )
    return tx


def transaction_add_note(*, transaction, actor, note):
    """An analyst's note on a transaction, kept in the audit trail beside every action on it."""
    errors = {}
    note = checked_note(note, errors)
    if not note and not errors:
        errors["note"] = _("Write a note first.")
    if errors:
        raise ValidationError(errors)
    return audit_record(actor=actor, action="transaction.note", target=transaction, note=note)
