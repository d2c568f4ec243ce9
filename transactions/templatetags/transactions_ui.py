"""Badges, reasons, risk levels, merchants and money as customers see them."""

from django import template
from django.template.defaultfilters import floatformat
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from detection.sentences import lowers_risk, reason_sentence
from transactions import categories
from transactions.models import FraudReport, Transaction
from transactions.services import CARD_FROZEN, OVER_CREDIT_LIMIT

register = template.Library()

# Customer-facing words for each status, and the Bootstrap colour that goes with them.
STATUS_BADGES = {
    Transaction.Status.APPROVED: (_("Approved"), "text-bg-success"),
    Transaction.Status.PENDING_REVIEW: (_("Under review"), "text-bg-warning"),
    Transaction.Status.DECLINED: (_("Declined"), "text-bg-danger"),
    Transaction.Status.CONFIRMED_FRAUD: (_("Confirmed fraud"), "text-bg-dark"),
    Transaction.Status.CONFIRMED_LEGITIMATE: (_("Confirmed legitimate"), "text-bg-success"),
}

REPORT_BADGES = {
    FraudReport.Status.OPEN: (_("Open"), "text-bg-warning"),
    FraudReport.Status.CONFIRMED: (_("Confirmed"), "text-bg-danger"),
    FraudReport.Status.REJECTED: (_("Rejected"), "text-bg-secondary"),
}

# A customer's wording (with what to do) for the reasons of their own account; other reasons read
# as detection words them, in the reader's language.
REASON_TEXTS = {
    "card_frozen": _("This card is frozen, so the payment was declined. Unfreeze the card to use it again."),
    "over_credit_limit": _("The amount is more than the credit still available on this card."),
    "decision_unavailable": _("Our automatic check was unavailable, so a person will review this payment."),
    "no_model": _("Our automatic check is not set up yet, so a person will review this payment."),
}


def _badge(label, css, testid):
    return format_html('<span class="badge rounded-pill {}" data-testid="{}">{}</span>', css, testid, label)


@register.simple_tag
def status_badge(status):
    label, css = STATUS_BADGES.get(status, (status, "text-bg-secondary"))
    return _badge(label, css, "status-badge")


@register.simple_tag
def report_badge(status):
    label, css = REPORT_BADGES.get(status, (status, "text-bg-secondary"))
    return _badge(label, css, "report-status")


# Decisions a list or a rule took: the fraud score did not decide them, so it is not shown as
# their risk (a blocked card with "risk 12 / 100" reads as a contradiction). Such decisions are
# stored without a risk score; this also covers those stored before that.
DECIDED_BY_RULES = ("allow_list", "block_list", "rule")


@register.filter
def shown_risk(tx):
    """The risk score a customer is shown for this payment, None when the score did not decide."""
    return None if tx.decided_by in DECIDED_BY_RULES else tx.risk_score


@register.filter
def next_step(tx):
    """What the customer should do about this payment: a key of transactions/_next_steps.html,
    or "" when there is nothing to do."""
    if tx.status == Transaction.Status.PENDING_REVIEW:
        return "wait"
    if tx.status != Transaction.Status.DECLINED:
        return ""
    codes = {reason.get("code") for reason in tx.reasons if isinstance(reason, dict)}
    if CARD_FROZEN in codes:
        return "unfreeze"
    if OVER_CREDIT_LIMIT in codes:
        return "credit"
    return "confirm_it_was_you"


@register.filter
def raising_reasons(reasons):
    """The reasons that raised the risk (or decided), in their stored order."""
    return [reason for reason in reasons or [] if not lowers_risk(reason)]


@register.filter
def lowering_reasons(reasons):
    """The factors that spoke for the payment: they lowered the risk."""
    return [reason for reason in reasons or [] if lowers_risk(reason)]


@register.filter
def reason_text(reason):
    code = reason.get("code", "") if isinstance(reason, dict) else ""
    if code in REASON_TEXTS:
        return REASON_TEXTS[code]
    return reason_sentence(reason) if isinstance(reason, dict) else str(reason)


# How a risk score is shown, on the customers' pages and in the review queue alike: from 70 up
# high, from 40 medium, below low.
RISK_LEVELS = ((70, "high"), (40, "medium"))
RISK_COLOURS = {"high": "danger", "medium": "warning", "low": "success"}


@register.filter
def risk_level(risk_score):
    if risk_score is not None:
        for floor, level in RISK_LEVELS:
            if risk_score >= floor:
                return level
    return "low"


@register.filter
def risk_colour(risk_score):
    return "secondary" if risk_score is None else RISK_COLOURS[risk_level(risk_score)]


@register.filter
def percent(value):
    """0-100 for a `pct-N` width class (the content security policy forbids inline styles)."""
    try:
        return max(0, min(100, round(float(value))))
    except (TypeError, ValueError):
        return 0


@register.filter
def money(amount):
    """Two decimals, grouped by thousands as the reader's language writes them (fraudsite/formats):
    only on the pages, never in form values, ids, the API or files."""
    return "" if amount is None or amount == "" else floatformat(amount, "2g")


@register.filter
def merchant_name(merchant):
    return categories.merchant_name(merchant)


@register.filter
def category_name(code):
    return categories.category_name(code)
