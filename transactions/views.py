"""The customer's pages. Each view reads through a `customer_*` selector (only what the
signed-in person owns: anything else is a 404) and writes through one service."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts.roles import user_roles
from transactions import selectors, services
from transactions.forms import (
    CardAddForm,
    FraudReportForm,
    TransactionFilterForm,
    TransactionForm,
    add_service_errors,
)
from transactions.models import Card, FraudReport, Transaction

PAGE_SIZE = 20


@login_required
def dashboard(request):
    return render(
        request,
        "transactions/dashboard.html",
        {"dashboard": selectors.customer_dashboard(request.user), "roles": user_roles(request.user)},
    )


@sensitive_post_parameters("number", "cardholder_name")
@login_required
def card_add(request):
    form = CardAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            card = services.card_add(owner=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                _("Your card %(card)s was added.") % {"card": f"{card.brand_label} •••• {card.last4}"},
            )
            return redirect("transactions:dashboard")
    return render(request, "transactions/card_add.html", {"form": form})


@login_required
def card_detail(request, pk):
    card = selectors.customer_card_get(request.user, pk)
    page = Paginator(selectors.customer_transactions(request.user, card=card), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "transactions/card_detail.html", {"card": card, "page": page})


@login_required
@require_POST
def card_status(request, pk):
    card = selectors.customer_card_get(request.user, pk)
    status = request.POST.get("status", "")
    try:
        card = services.card_set_status(card=card, status=status, actor=request.user)
    except ValidationError:
        messages.error(request, _("Choose whether to freeze or unfreeze the card."))
    else:
        if card.status == Card.Status.FROZEN:
            messages.success(request, _("The card is frozen: new payments with it are declined."))
        else:
            messages.success(request, _("The card is active again."))
    return redirect("transactions:card_detail", pk=card.pk)


@login_required
def transaction_new(request):
    form = TransactionForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        already = selectors.customer_payment_by_key(request.user, data["payment_key"])
        if already is None:
            try:
                tx = services.customer_payment_submit(
                    customer=request.user,
                    card=data["card"],
                    merchant=data["merchant"],
                    merchant_name=data["new_merchant"],
                    amount=data["amount"],
                    occurred_at=data["occurred_at"],
                    channel=data["channel"],
                    country=data["country"],
                    payment_key=data["payment_key"],
                )
            except ValidationError as error:
                # Sent twice at the same moment: the other request stored it.
                already = selectors.customer_payment_by_key(request.user, data["payment_key"])
                if already is None:
                    add_service_errors(form, error)
            else:
                return redirect(reverse("transactions:transaction_detail", args=[tx.pk]) + "?submitted=1")
        if already is not None:
            messages.info(request, _("This payment was already sent; here it is. It was made only once."))
            return redirect("transactions:transaction_detail", already.pk)
    has_cards = selectors.customer_cards(request.user).exists()
    return render(request, "transactions/transaction_new.html", {"form": form, "has_cards": has_cards})


@login_required
def transaction_list(request):
    filters = TransactionFilterForm(request.GET or None, user=request.user)
    transactions = selectors.customer_transactions(request.user, **filters.filters())
    page = Paginator(transactions, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "transactions/transaction_list.html",
        {"filters": filters, "page": page, "query": query.urlencode()},
    )


def _can_report(tx, open_report):
    return open_report is None and tx.status != Transaction.Status.CONFIRMED_FRAUD


@login_required
def transaction_detail(request, pk, report_form=None):
    tx = selectors.customer_transaction_get(request.user, pk)
    open_report = selectors.open_report_of(tx)
    return render(
        request,
        "transactions/transaction_detail.html",
        {
            "tx": tx,
            "just_submitted": request.GET.get("submitted") == "1",
            "reports": tx.reports.order_by("-created_at", "-pk"),
            "can_report": _can_report(tx, open_report),
            "report_form": report_form or FraudReportForm(),
        },
    )


@login_required
@require_POST
def transaction_report(request, pk):
    tx = selectors.customer_transaction_get(request.user, pk)
    form = FraudReportForm(request.POST)
    if form.is_valid():
        try:
            services.fraud_report_create(
                transaction=tx,
                reported_by=request.user,
                source=FraudReport.Source.CUSTOMER,
                note=form.cleaned_data["note"],
            )
        except ValidationError as error:
            messages.error(
                request,
                " ".join(message for messages_ in error.message_dict.values() for message in messages_),
            )
        else:
            messages.success(
                request, _("Thank you. Your report is open; an analyst will look at it shortly.")
            )
            return redirect("transactions:transaction_detail", pk=tx.pk)
    return transaction_detail(request, pk, report_form=form)


@login_required
def report_list(request):
    page = Paginator(selectors.customer_reports(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "transactions/report_list.html", {"page": page})


@login_required
def report_detail(request, pk):
    report = selectors.customer_report_get(request.user, pk)
    return render(request, "transactions/report_detail.html", {"report": report})
