"""Reasons in words: the sentence of each reason code, written when a reason is shown, in the
language of whoever reads it (a page, the admin, an API response by its Accept-Language).

A decision stores its reasons as codes with the values they speak of (`params`: numbers, window
names, a rule's name), never as sentences, so the same stored decision reads in English to one
analyst and in Chinese to another. Reasons stored before that carry a `message` instead, shown
as it was written.
"""

import logging
import re
from collections.abc import Callable, Mapping

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from detection.models import Rule

logger = logging.getLogger(__name__)

SENTENCES: dict[str, Callable[[dict], str]] = {}
LOWERING_SENTENCES: dict[str, Callable[[dict], str]] = {}


def sentence_for(*codes):
    """Register the function that writes the sentence of reasons with these codes."""

    def register(function):
        for code in codes:
            SENTENCES[code] = function
        return function

    return register


def lowering_sentence_for(*codes: str) -> Callable:
    """Register the sentence of these codes when they lowered the risk (spoke for the payment)."""

    def register(function):
        for code in codes:
            LOWERING_SENTENCES[code] = function
        return function

    return register


def lowers_risk(reason) -> bool:
    """Whether a reason (a stored dict or a `Reason`) lowered the risk rather than raised it: its
    contribution (how much the score drops without it) is negative."""
    if isinstance(reason, Mapping):
        contribution = reason.get("contribution")
    else:  # a `Reason`, or a bare sentence stored long ago
        contribution = getattr(reason, "contribution", None)
    return isinstance(contribution, int | float) and not isinstance(contribution, bool) and contribution < 0


def reason_sentence(reason) -> str:
    """The sentence of a reason (a stored dict or a `Reason`) in the active language; a factor
    that lowered the risk has its own sentence where the raising one would read wrong."""
    if isinstance(reason, Mapping):
        code, params, message = reason.get("code", ""), reason.get("params"), reason.get("message")
    else:
        code, params, message = reason.code, reason.params, None
    if params is None and message:  # stored before reasons had their values
        return str(message)
    write = (LOWERING_SENTENCES.get(code) if lowers_risk(reason) else None) or (
        SENTENCES.get(code) or (_feature if code.startswith("feature_") else None)
    )
    if write is None:
        return str(message or code)
    try:
        return write(params or {})
    except (KeyError, TypeError, ValueError):  # values this version does not read: never a broken page
        logger.warning("reason %r has values its sentence cannot read: %r", code, params)
        return str(message or code)


def number(value, digits=1) -> str:
    value = float(value)
    if abs(value - round(value)) < 10**-digits / 2:
        return f"{round(value):d}"
    return f"{value:.{digits}f}"


def window(name: str) -> str:
    """'1h' (or a feature name ending in it, 'card_count_1h') -> 'in the last hour'."""
    match = re.search(r"(?:^|_)(\d+)(h|d)$", name or "")
    if not match:
        return ""
    count, unit = int(match.group(1)), match.group(2)
    if unit == "h":
        return ngettext("in the last hour", "in the last %(n)d hours", count) % {"n": count}
    if count == 7:
        return _("in the last week")
    return ngettext("in the last day", "in the last %(n)d days", count) % {"n": count}


def duration(seconds) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 120:
        return ngettext("%(n)d second", "%(n)d seconds", round(seconds)) % {"n": round(seconds)}
    if seconds < 2 * 3600:
        return ngettext("%(n)d minute", "%(n)d minutes", round(seconds / 60)) % {"n": round(seconds / 60)}
    return ngettext("%(n)d hour", "%(n)d hours", round(seconds / 3600)) % {"n": round(seconds / 3600)}


def _feature(params):
    """A feature no reason speaks of (a model trained on features this version does not know)."""
    return _("Unusual value of %(feature)s (%(value)s)") % {
        "feature": params["feature"],
        "value": number(params.get("value", 0), 2),
    }


# --- The model's reasons (params from detection.serving.reasons) -------------------------------


@sentence_for("amount_vs_card_history")
def _amount_vs_card(params):
    if "ratio" in params:
        return _("Amount is %(ratio)s× this card's usual spending") % {"ratio": number(params["ratio"])}
    return _("Amount is %(z)s standard deviations from this card's usual spending") % {
        "z": number(params.get("z", 0))
    }


@sentence_for("amount")
def _amount(params):
    return _("Unusually large amount (%(amount)s)") % {"amount": number(params.get("amount", 0), 2)}


def _below_usual(params, value_key):
    """Whether the value is under what a legitimate card usually shows (a new or quiet card:
    the reason is then its quietness, and saying "0 transactions" would read as activity)."""
    return "usual" in params and float(params.get(value_key, 0)) < float(params["usual"])


@sentence_for("card_velocity")
def _card_velocity(params):
    n, when = int(params.get("n", 0)), window(params.get("window", ""))
    if _below_usual(params, "n"):
        if n == 0:
            return _("First payment on this card %(window)s") % {"window": when}
        return _("Fewer payments than usual on this card %(window)s (%(n)d, usually %(usual)s)") % {
            "n": n,
            "window": when,
            "usual": number(params["usual"]),
        }
    return ngettext(
        "%(n)d transaction on this card %(window)s", "%(n)d transactions on this card %(window)s", n
    ) % {"n": n, "window": when}


@sentence_for("card_spending")
def _card_spending(params):
    when = window(params.get("window", ""))
    if _below_usual(params, "amount"):
        if float(params.get("amount", 0)) == 0:
            return _("No spending on this card %(window)s before this payment") % {"window": when}
        return _("Less spending than usual on this card %(window)s (up to %(amount)s, usually %(usual)s)") % {
            "window": when,
            "amount": number(params["amount"], 2),
            "usual": number(params["usual"], 2),
        }
    return _("This card's spending %(window)s is unusual (up to %(amount)s)") % {
        "window": when,
        "amount": number(params.get("amount", 0), 2),
    }


@sentence_for("card_known_fraud")
def _card_known_fraud(params):
    return _("This card had confirmed fraud in the last 30 days")


@sentence_for("time_since_previous")
def _time_since(params):
    return _("Only %(duration)s since this card's previous transaction") % {
        "duration": duration(params.get("seconds", 0))
    }


@sentence_for("card_declined_attempts")
def _card_declined_attempts(params):
    if int(params.get("n", 0)) > 0:
        n = int(params["n"])
        return ngettext(
            "%(n)d declined attempt on this card %(window)s",
            "%(n)d declined attempts on this card %(window)s",
            n,
        ) % {"n": n, "window": window(params.get("window", ""))}
    if "seconds" in params:
        return _("A payment on this card was declined %(duration)s ago") % {
            "duration": duration(params["seconds"])
        }
    return _("Declined attempts on this card")


@sentence_for("new_merchant_for_card")
def _new_merchant(params):
    return _("First time this card pays this merchant in 30 days")


# A merchant is shared by every integrator and the bank's customers, so its counts and rates are
# other parties' figures: its reasons say that it is risky (the shared intelligence the product
# offers), never how many frauds or which share of its transactions.
@sentence_for("merchant_fraud")
def _merchant_fraud(params):
    if params.get("recent_week"):
        return _("Merchant had confirmed fraud in the last week")
    if "days" not in params:
        return _("Merchant had confirmed fraud recently")
    return _("Merchant had an unusual share of confirmed fraud over %(days)s days") % {"days": params["days"]}


@sentence_for("merchant_volume")
def _merchant_volume(params):
    return _("Unusual activity at this merchant %(window)s") % {"window": window(params.get("window", ""))}


@sentence_for("time_of_day")
def _time_of_day(params):
    if "hour" in params:
        return _("Made at an unusual time of day (%(hour)s:00 UTC)") % {"hour": f"{int(params['hour']):02d}"}
    return _("Made at night")


@sentence_for("weekend")
def _weekend(params):
    return _("Made on a weekend")


@sentence_for("new_country_for_card")
def _new_country(params):
    return _("Card used in a country it has not used before")


@sentence_for("channel")
def _channel(params):
    labels = {
        "online": _("Made online"),
        "atm": _("Cash withdrawal at an ATM"),
        "contactless": _("Contactless payment"),
    }
    return labels.get(params.get("channel"), _("Unusual payment channel"))


# --- The model's factors that lowered the risk: what spoke for the payment ----------------------


@lowering_sentence_for("amount_vs_card_history")
def _usual_amount(params):
    if "ratio" in params:
        return _("Amount in line with this card's usual spending (%(ratio)s×)") % {
            "ratio": number(params["ratio"])
        }
    return _("Amount in line with this card's usual spending")


@lowering_sentence_for("amount")
def _small_amount(params):
    return _("Small amount (%(amount)s)") % {"amount": number(params.get("amount", 0), 2)}


@lowering_sentence_for("card_velocity", "card_spending")
def _usual_activity(params):
    return _("Usual activity on this card %(window)s") % {"window": window(params.get("window", ""))}


@lowering_sentence_for("time_since_previous")
def _usual_gap(params):
    return _("%(duration)s since this card's previous payment") % {
        "duration": duration(params.get("seconds", 0))
    }


@lowering_sentence_for("card_declined_attempts")
def _no_declines(params):
    return _("No recent declined attempts on this card")


@lowering_sentence_for("new_merchant_for_card")
def _known_merchant(params):
    return _("A merchant this card pays regularly")


@lowering_sentence_for("new_country_for_card")
def _known_country(params):
    return _("A country where this card is used regularly")


@lowering_sentence_for("merchant_fraud")
def _clean_merchant(params):
    return _("No recent confirmed fraud at this merchant")


@lowering_sentence_for("merchant_volume")
def _usual_merchant(params):
    return _("Usual activity at this merchant %(window)s") % {"window": window(params.get("window", ""))}


@lowering_sentence_for("time_of_day", "weekend")
def _usual_time(params):
    return _("Made at a usual time")


@lowering_sentence_for("channel")
def _usual_channel(params):
    return _("A usual way to pay")


# --- Lists, rules and the decision itself (params from detection.serving.scoring) ---------------


def _list_entry(params):
    """The entry as the submitter may read it: a card's key or fingerprint is the bank's own name
    for the card (an integrator knows its card by another id), so only its kind is said."""
    kind = params.get("kind", "")
    if kind == "card_id":
        return _("this card")
    if kind == "card_fingerprint":
        return _("this card number")
    return f"{kind}={params.get('value', '')}"


@sentence_for("allow_list")
def _allow_list(params):
    return _("On the allow list (%(entry)s).") % {"entry": _list_entry(params)}


@sentence_for("block_list")
def _block_list(params):
    return _("On the block list (%(entry)s).") % {"entry": _list_entry(params)}


RULE_DETAILS: dict[str, Callable[[dict], str]] = {
    Rule.Kind.AMOUNT_ABOVE: lambda p: _("amount %(amount)s above %(limit)s") % p,
    Rule.Kind.COUNTRY_IN: lambda p: _("country %(country)s") % p,
    Rule.Kind.CATEGORY_IN: lambda p: _("merchant category %(category)s") % p,
    Rule.Kind.VELOCITY: lambda p: _("%(count)d transactions in %(minutes)d minutes") % p,
}


def rule_detail(kind, params) -> str:
    """Why a rule of this kind matched, from the values its check recorded."""
    try:
        return RULE_DETAILS[kind](params)
    except (KeyError, TypeError, ValueError):  # a kind or values this version does not know
        return ", ".join(f"{key} {value}" for key, value in sorted(params.items()))


@sentence_for("rule")
def _rule(params):
    return _("Rule “%(rule)s” matched: %(detail)s.") % {
        "rule": params.get("rule", ""),
        "detail": rule_detail(params.get("kind", ""), params.get("detail") or {}),
    }


@sentence_for("no_model")
def _no_model(params):
    return _("No model is available; a person will review it.")
