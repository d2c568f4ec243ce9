from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def num(value):
    """A metric as people read it: three decimals, integers as they are, a dash when missing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    try:
        return f"{float(value):.3f}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def metric_label(name, k=None):
    labels = {
        "average_precision": _("Average precision"),
        "roc_auc": _("ROC AUC"),
        "card_precision_at_k": _("Card precision@%(k)s") % {"k": k or "k"},
        "precision": _("Precision (review threshold)"),
        "recall": _("Recall (review threshold)"),
        "f1": _("F1 (review threshold)"),
        "accuracy": _("Accuracy"),
        "n": _("Transactions"),
        "n_fraud": _("Frauds"),
    }
    return labels.get(name, name)


@register.filter
def confusions(report):
    return [
        (_("Confusion matrix at the review threshold"), report.get("confusion_review")),
        (_("Confusion matrix at the block threshold"), report.get("confusion_block")),
    ]


@register.filter
def period_label(period):
    """Which held-out period a version's metrics come from, in the reader's language."""
    labels = {"test": _("test period"), "validation": _("validation period")}
    return labels.get(period, period or "—")


@register.filter
def iso_date(text, with_time=False):
    """A date or date-time stored as ISO text (a run's comparison), shown in the reader's format."""
    try:
        value = datetime.fromisoformat(str(text))
    except ValueError:
        return text
    if with_time:
        return date_format(
            timezone.localtime(value) if timezone.is_aware(value) else value, "SHORT_DATETIME_FORMAT"
        )
    return date_format(value.date(), "DATE_FORMAT")
