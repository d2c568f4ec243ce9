"""Cards and merchants: a customer's card added (never its number stored), limits and status
changed by staff, and the rows the API and imports find or create by external id."""

import secrets
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from accounts.services import audit_record
from core.cardnumbers import mask_card_numbers
from core.text import is_ascii_digits
from transactions import cards as card_numbers
from transactions import conf, webhooks
from transactions.models import Card, Merchant
from transactions.services.common import (
    CENT,
    card_state,
    check_external_id,
    check_identifier,
    clean_country,
    locked_card,
    new_external_id,
)

# --- cards --------------------------------------------------------------------------------------


def _expiry_part(value):
    """An int, or a string of the digits 0-9 (int() would also read "１２" or "١٢")."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and is_ascii_digits(value.strip()):
        return int(value.strip())
    raise ValueError(value)


def _clean_expiry(expiry_month, expiry_year, errors):
    try:
        month, year = _expiry_part(expiry_month), _expiry_part(expiry_year)
    except ValueError:
        errors["expiry_month"] = _(
            "Enter the expiry month and year printed on the card, with the digits 0-9."
        )
        return None, None
    if not 1 <= month <= 12:
        errors["expiry_month"] = _("The expiry month must be between 1 and 12.")
        return None, None
    if year < 100:  # "27" on the card means 2027
        year += 2000
    today = timezone.localdate()
    # A card is valid until the last day of its expiry month.
    if (year, month) < (today.year, today.month):
        errors["expiry_year"] = _("This card has expired.")
        return None, None
    if year > today.year + conf.card_max_years_ahead():
        errors["expiry_year"] = _("This expiry date is too far in the future; check the year.")
        return None, None
    return month, year


def _clean_credit_limit(credit_limit, errors):
    if credit_limit is None:
        return conf.default_credit_limit()
    try:
        limit = Decimal(str(credit_limit))
    except InvalidOperation:
        errors["credit_limit"] = _("Enter the credit limit as a number.")
        return None
    if not limit.is_finite() or limit <= 0 or limit > conf.max_credit_limit():
        errors["credit_limit"] = _("The credit limit must be more than 0 and at most %(max)s.") % {
            "max": conf.max_credit_limit()
        }
        return None
    return limit.quantize(CENT)


@sensitive_variables("number", "digits")
def card_add(*, owner, number, expiry_month, expiry_year, cardholder_name="", credit_limit=None):
    """Register a customer's card. The number is checked, fingerprinted and forgotten: only the
    brand, its first 6 and last 4 digits and the keyed fingerprint are kept."""
    errors = {}
    digits = card_numbers.normalize_number(number)
    if digits is None and card_numbers.has_other_digits(number):
        errors["number"] = _("Type the card number with the digits 0-9 only.")
    elif digits is None or not 12 <= len(digits) <= 19:
        errors["number"] = _("Enter the 12 to 19 digits of the card number.")
    elif not card_numbers.luhn_valid(digits):
        errors["number"] = _("This card number is not valid; check it for a typo.")
    month, year = _clean_expiry(expiry_month, expiry_year, errors)
    # A name is free text: a card number typed into it is masked, never stored.
    cardholder_name = mask_card_numbers((cardholder_name or "").strip())
    if len(cardholder_name) > 100:
        errors["cardholder_name"] = _("The name on the card can have at most 100 characters.")
    limit = _clean_credit_limit(credit_limit, errors)
    if errors:
        raise ValidationError(errors)

    fingerprint = card_numbers.fingerprint(digits)
    # Whether someone else holds this card is another customer's business: the message says
    # nothing of it (a customer adding their own card twice is told so).
    duplicate = ValidationError(
        {"number": _("We could not add this card. Check the number, or contact us if it is yours.")}
    )
    registered = Card.objects.filter(fingerprint=fingerprint).values("owner_id").first()
    if registered is not None:
        if registered["owner_id"] is not None and registered["owner_id"] == getattr(owner, "pk", None):
            raise ValidationError({"number": _("You have already added this card.")})
        raise duplicate
    try:
        with transaction.atomic():
            card = Card.objects.create(
                external_id=new_external_id("card"),
                owner=owner,
                brand=card_numbers.brand_of(digits),
                first6=digits[:6],
                last4=digits[-4:],
                expiry_month=month,
                expiry_year=year,
                cardholder_name=cardholder_name,
                fingerprint=fingerprint,
                credit_limit=limit,
            )
            audit_record(
                actor=owner,
                action="card.add",
                target=card,
                after={"card": card.masked_number, "brand": card.brand, "credit_limit": str(limit)},
            )
    except IntegrityError:  # the same card registered at the same moment by another request
        raise duplicate from None
    return card


def card_set_status(*, card, status, actor):
    """Freeze or unfreeze a card; a frozen card's transactions are declined."""
    if status not in Card.Status.values:
        raise ValidationError({"status": _("Choose active or frozen.")})
    with transaction.atomic():
        locked = locked_card(card.pk)
        before = card_state(locked)
        if locked.status != status:
            locked.status = status
            locked.save(update_fields=["status"])
            action = "card.freeze" if status == Card.Status.FROZEN else "card.unfreeze"
            audit_record(actor=actor, action=action, target=locked, before=before, after=card_state(locked))
            webhooks.card_status_changed(locked)
    return locked


def card_set_credit_limit(*, card, credit_limit, actor):
    """Change a card's limit (staff). A limit below what is already owed is allowed: the card
    then simply has no available credit until it is paid down."""
    errors = {}
    limit = _clean_credit_limit(credit_limit, errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = locked_card(card.pk)
        before = {**card_state(locked), "credit_limit": str(locked.credit_limit)}
        locked.credit_limit = limit
        locked.save(update_fields=["credit_limit"])
        audit_record(
            actor=actor,
            action="card.credit_limit",
            target=locked,
            before=before,
            after={**card_state(locked), "credit_limit": str(limit)},
        )
    return locked


def card_get_or_create(*, external_id, issuer=None, owner=None):
    """The card `issuer` (an integrator; None for the bank) names `external_id` in its own
    namespace; one we have not seen is created without a number (the owner is only set on
    creation). An integrator's id never reaches another namespace's card (see Card)."""
    errors = {}
    check_external_id(external_id, "card_id", errors)
    if errors:
        raise ValidationError(errors)
    issuer_id = issuer.pk if issuer is not None else None
    card, _created = Card.objects.get_or_create(
        external_id=Card.key_for(external_id, issuer_id=issuer_id),
        defaults={"owner": owner, "issuer": issuer},
    )
    if card.issuer_id != issuer_id:  # a bank card imported under a reserved key: never lend it out
        raise ValidationError({"card_id": _("This card id cannot be used; choose another one.")})
    return card


def merchant_get_or_create(*, external_id, name="", category="", country=""):
    """The merchant named by its id; one we have not seen is created with what we were told."""
    errors = {}
    check_external_id(external_id, "merchant_id", errors)
    name = (name or "").strip()
    if len(name) > 200:
        errors["merchant_name"] = _("The merchant name can have at most 200 characters.")
    else:
        check_identifier(name, "merchant_name", errors)
    category = (category or "").strip()
    if len(category) > 32:
        errors["merchant_category"] = _("The merchant category can have at most 32 characters.")
    else:
        check_identifier(category, "merchant_category", errors)
    country = clean_country(country, "merchant_country", errors)
    if errors:
        raise ValidationError(errors)
    merchant, _created = Merchant.objects.get_or_create(
        external_id=external_id, defaults={"name": name, "category": category, "country": country}
    )
    return merchant


def merchant_from_name(*, name):
    """A merchant a customer typed by name: the existing one with that name, else a new one."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"new_merchant": _("Type the merchant's name.")})
    if len(name) > 200:
        raise ValidationError({"new_merchant": _("The merchant name can have at most 200 characters.")})
    errors = {}
    if not check_identifier(name, "new_merchant", errors):
        raise ValidationError(errors)
    existing = Merchant.objects.filter(name__iexact=name).order_by("pk").first()
    if existing is not None:
        return existing
    slug = slugify(name)[:40]
    external_id = f"m_{slug}" if slug else new_external_id("m")
    if Merchant.objects.filter(external_id=external_id).exists():
        external_id = f"{external_id}_{secrets.token_hex(3)}"
    return merchant_get_or_create(external_id=external_id, name=name)
