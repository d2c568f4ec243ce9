"""Merchant categories and merchants as customers read them.

A merchant's category is stored as its ISO 18245 code (MCC, "5812"); people read "Restaurants".
The codes our simulator and demo use have our own short, translated names; any other code
(imported files carry them all) reads as the ISO list describes it, in English, from the
iso18245 package. A code nobody knows shows as "Other" rather than as four bare digits.
"""

import iso18245
from django.utils.translation import gettext_lazy as _

# detection/ml/simulator.py CATEGORIES and demo/history.py MERCHANTS.
CATEGORY_NAMES = {
    "4111": _("Public transport"),
    "4511": _("Airlines"),
    "4722": _("Travel agencies"),
    "4899": _("Streaming and pay TV"),
    "5251": _("Hardware stores"),
    "5311": _("Department stores"),
    "5411": _("Groceries"),
    "5541": _("Fuel"),
    "5732": _("Electronics"),
    "5812": _("Restaurants"),
    "5814": _("Fast food and cafés"),
    "5818": _("Digital goods"),
    "5912": _("Pharmacies"),
    "5942": _("Bookshops"),
    "5999": _("Online and other shops"),
    "6011": _("Cash machines (ATM)"),
    "6051": _("Currency and crypto exchange"),
    "7832": _("Cinemas"),
}

# Imports of the simulator's history name merchants by their id and nothing else.
SIMULATED_PREFIX = "sim_"


def category_name(code):
    """The category's name for people; "" when there is no category."""
    code = (code or "").strip()
    if not code:
        return ""
    if code in CATEGORY_NAMES:
        return CATEGORY_NAMES[code]
    if not (code.isascii() and code.isdigit()):
        return code  # already a word ("groceries"), as some imported files have it
    try:
        mcc = iso18245.get_mcc(code)
    except (iso18245.MCCNotFound, ValueError):
        return _("Other")
    return mcc.iso_description or mcc.stripe_description or mcc.usda_description or _("Other")


def has_real_name(merchant):
    return bool(merchant.name) and not merchant.name.startswith(SIMULATED_PREFIX)


def merchant_name(merchant):
    """What a merchant is called on the customer's pages: its name, or for a merchant known only
    by an id (simulated or imported traffic) its category and country, with the id last."""
    if merchant is None:
        return ""
    if has_real_name(merchant):
        return merchant.name
    parts = [str(part) for part in (category_name(merchant.category), merchant.country) if part]
    if not parts:
        return merchant.external_id
    return f"{' · '.join(parts)} ({merchant.external_id.removeprefix(SIMULATED_PREFIX)})"


def merchant_label(merchant):
    """The merchant as the payment form offers it: "Corner Coffee — Restaurants"."""
    name = merchant_name(merchant)
    category = category_name(merchant.category)
    if has_real_name(merchant) and category:
        return f"{name} — {category}"
    return name
