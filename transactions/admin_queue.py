"""The review queue page in the admin: open fraud reports and transactions pending review,
oldest first, with the queue's counts, each item's age against the SLA, its assignee, risk,
reasons and the card's recent history. Every action goes through the services (balances,
labels, audit trail)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.text import is_ascii_digits
from transactions import conf, queue, services
from transactions.models import Transaction
from transactions.selectors import MAX_PK_DIGITS

ACTIONS = ("confirm_fraud", "confirm_legitimate", "assign_me", "note")
PERMISSIONS = ("transactions.change_transaction", "transactions.change_fraudreport")


def _apply(request, action, tx):
    note = request.POST.get(f"note-{tx.pk}", "")
    if action in ("confirm_fraud", "confirm_legitimate"):
        services.transaction_confirm(
            transaction=tx,
            actor=request.user,
            is_fraud=action == "confirm_fraud",
            note=note,
            queued_only=True,
        )
    elif action == "assign_me":
        services.transaction_assign(transaction=tx, actor=request.user, assignee=request.user)
    elif action == "note":
        services.transaction_add_note(transaction=tx, actor=request.user, note=note)


def _handle_post(request):
    # One row's button says "action:pk"; the bulk buttons name an action for the ticked rows.
    single = request.POST.get("single", "")
    if ":" in single:
        action, _sep, pk = single.partition(":")
        ids = [pk]
    else:
        action, ids = request.POST.get("bulk", ""), request.POST.getlist("selected")
    if action not in ACTIONS:
        messages.error(request, _("Choose an action."))
        return
    if not ids:
        messages.warning(request, _("Tick at least one item first."))
        return
    done = 0
    for tx in Transaction.objects.filter(
        pk__in=[i for i in ids if is_ascii_digits(str(i)) and len(str(i)) <= MAX_PK_DIGITS]
    ):
        try:
            _apply(request, action, tx)
        except ValidationError as error:
            text = " ".join(error.messages)
            messages.warning(request, f"{tx.external_id}: {text}")
        else:
            done += 1
    if done:
        messages.success(request, ngettext("%d item updated.", "%d items updated.", done) % done)


def review_queue_view(request, admin_site):
    if not request.user.has_perms(PERMISSIONS):
        raise PermissionDenied
    if request.method == "POST":
        _handle_post(request)
        return redirect(request.get_full_path())
    show = request.GET.get("show", queue.SHOW_ALL)
    if request.GET.get("mine") == "1":  # the page's earlier link
        show = queue.SHOW_MINE
    if show not in queue.SHOWS:
        show = queue.SHOW_ALL
    items, counts = queue.review_queue(user=request.user, show=show)
    return TemplateResponse(
        request,
        "admin/transactions/review_queue.html",
        {
            **admin_site.each_context(request),
            "title": _("Review queue"),
            "items": items,
            "counts": counts,
            "show": show,
            "shown": {queue.SHOW_ALL: counts.waiting, queue.SHOW_MINE: counts.mine}.get(
                show, counts.unassigned
            ),
            "sla_hours": conf.review_sla_hours(),
        },
    )
