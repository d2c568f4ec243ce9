"""A transaction's page in the staff console, read as a case (transactions.case) with the
analyst's actions: confirm fraud or legitimate, assign, note, freeze the card, put the card or
the merchant on a list. Every action goes through the services (balances, labels, audit)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from detection import services as detection_services
from detection.models import ListEntry
from transactions import admin_queue, services
from transactions.case import transaction_case
from transactions.models import Card, FraudReport, Transaction

# Labelling from a case needs what the review queue needs.
LABEL_PERMISSIONS = admin_queue.PERMISSIONS
FREEZE_PERMISSION = "transactions.freeze_card"
LIST_PERMISSION = "detection.add_listentry"
# What a case can put on a list: the card (by fingerprint when it has one, else by its key), or
# the merchant.
LIST_TARGETS = ("card", "merchant")


def _list_value(tx, target):
    if target == "merchant":
        return ListEntry.Kind.MERCHANT_ID, tx.merchant.external_id
    if tx.card.fingerprint:
        return ListEntry.Kind.CARD_FINGERPRINT, tx.card.fingerprint
    return ListEntry.Kind.CARD_ID, tx.card.external_id


def _act(request, tx, action) -> str:
    """Do one action; returns what to tell the analyst. Raises PermissionDenied or ValidationError."""
    user, note = request.user, request.POST.get("note", "")
    if action in ("confirm_fraud", "confirm_legitimate", "assign_me", "note"):
        if not user.has_perms(LABEL_PERMISSIONS):
            raise PermissionDenied
        if action == "assign_me":
            services.transaction_assign(transaction=tx, actor=user, assignee=user)
            return _("Assigned to you.")
        if action == "note":
            services.transaction_add_note(transaction=tx, actor=user, note=note)
            return _("Note added.")
        fraud = action == "confirm_fraud"
        # The page said whether it was queued when the analyst read it (see transaction_confirm).
        queued_only = request.POST.get("queued") == "1"
        services.transaction_confirm(
            transaction=tx, actor=user, is_fraud=fraud, note=note, queued_only=queued_only
        )
        return _("Confirmed as fraud.") if fraud else _("Confirmed as legitimate.")
    if action in ("freeze_card", "unfreeze_card"):
        if not user.has_perm(FREEZE_PERMISSION):
            raise PermissionDenied
        frozen = action == "freeze_card"
        status = Card.Status.FROZEN if frozen else Card.Status.ACTIVE
        services.card_set_status(card=tx.card, status=status, actor=user)
        return (
            _("The card is frozen: its next payments are declined.")
            if frozen
            else _("The card is active again.")
        )
    if action == "list_add":
        if not user.has_perm(LIST_PERMISSION):
            raise PermissionDenied
        target, list_type = request.POST.get("target", ""), request.POST.get("list_type", "")
        if target not in LIST_TARGETS or list_type not in ListEntry.ListType.values:
            raise ValidationError(_("Choose what to put on which list."))
        kind, value = _list_value(tx, target)
        detection_services.list_entry_add(
            list_type=list_type, kind=kind, value=value, reason=request.POST.get("reason", ""), actor=user
        )
        return _("Added to the list; it applies to the next payments.")
    raise ValidationError(_("Choose an action."))


def case_view(request, model_admin, tx: Transaction):
    if request.method == "POST":
        try:
            done = _act(request, tx, request.POST.get("action", ""))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, done)
        return redirect(request.get_full_path())
    case = transaction_case(tx)
    user = request.user
    queued = tx.status == Transaction.Status.PENDING_REVIEW or any(
        report.status == FraudReport.Status.OPEN for report in case.reports
    )
    return TemplateResponse(
        request,
        "admin/transactions/transaction/case.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "title": _("Payment %(id)s") % {"id": tx.external_id},
            "case": case,
            "tx": tx,
            "queued": queued,
            "can_label": user.has_perms(LABEL_PERMISSIONS),
            "can_freeze": user.has_perm(FREEZE_PERMISSION),
            "can_list": user.has_perm(LIST_PERMISSION),
            "card_frozen": tx.card.status == Card.Status.FROZEN,
            "confirmable_as_fraud": tx.status != Transaction.Status.CONFIRMED_FRAUD,
        },
    )
