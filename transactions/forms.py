"""Customer forms. They check shapes; the services check the rules and their messages land on
the matching field (see `add_service_errors`)."""

import re
import secrets
from datetime import timedelta

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Div, Field, Layout, Row, Submit
from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import plausible
from transactions import selectors
from transactions.categories import merchant_label
from transactions.models import Card, Transaction
from transactions.services.common import clean_country


def add_service_errors(form, error):
    """Put a service's ValidationError on the form's fields (unknown keys go to the top)."""
    for field, messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)


class AmountField(forms.CharField):
    """The amount as every entry point reads it (core.plausible): Django's DecimalField would
    read fullwidth or Arabic-Indic digits as a number."""

    def clean(self, value):
        value = super().clean(value)
        return None if value in self.empty_values else plausible.clean_amount(value)


class OccurredAtField(forms.DateTimeField):
    """Plausible moments only (core.plausible), in ASCII digits: strptime reads '２０２６' too."""

    def to_python(self, value):
        plausible.check_ascii_date_text(value)
        return super().to_python(value)

    def validate(self, value):
        super().validate(value)
        if value is not None:
            plausible.clean_occurred_at(value)


class CardNumberInput(forms.TextInput):
    """Never writes a card number back into the page, not even after an error."""

    def format_value(self, value):
        return None


def _expiry_years():
    year = timezone.localdate().year
    return [("", _("Year"))] + [(y, str(y)) for y in range(year, year + 16)]


class CardAddForm(forms.Form):
    number = forms.CharField(
        label=_("Card number"),
        max_length=30,
        widget=CardNumberInput(
            attrs={"autocomplete": "cc-number", "inputmode": "numeric", "placeholder": "1234 5678 9012 3456"}
        ),
        help_text=_("We check it and keep only the brand and the first 6 and last 4 digits."),
    )
    expiry_month = forms.TypedChoiceField(
        label=_("Expiry month"),
        coerce=int,
        choices=[("", _("Month"))] + [(m, f"{m:02d}") for m in range(1, 13)],
    )
    expiry_year = forms.TypedChoiceField(label=_("Expiry year"), coerce=int, choices=_expiry_years)
    cardholder_name = forms.CharField(
        label=_("Name on card"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "cc-name"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.layout = Layout(
            "number",
            Row(Column("expiry_month"), Column("expiry_year")),
            "cardholder_name",
        )
        self.helper.add_input(Submit("submit", _("Add card")))


class MerchantChoiceField(forms.ModelChoiceField):
    """Merchants by name and kind of shop ("Corner Coffee — Restaurants"), never by id or MCC."""

    def label_from_instance(self, obj):
        return merchant_label(obj)


PAYMENT_KEY = re.compile(r"[A-Za-z0-9_-]{16,43}")


def new_payment_key() -> str:
    return secrets.token_urlsafe(16)


class TransactionForm(forms.Form):
    card = forms.ModelChoiceField(label=_("Card"), queryset=Card.objects.none(), empty_label=None)
    merchant = MerchantChoiceField(
        label=_("Merchant"),
        queryset=selectors.merchant_choices(),
        required=False,
        empty_label=_("Pick a merchant…"),
        # static/js/site.js puts a search box above it; without scripts it is a plain list.
        widget=forms.Select(
            attrs={
                "class": "js-searchable",
                "data-search-label": _("Search merchants"),
                "data-search-placeholder": _("Search by name or kind of shop…"),
                "data-search-count": _("Matching merchants: {count}. The first one is picked."),
                "data-search-none": _("No merchant matches; type its name in the next field."),
            }
        ),
        error_messages={
            "invalid_choice": _("This merchant is unknown; pick one from the list or type its name.")
        },
    )
    new_merchant = forms.CharField(
        label=_("…or type a merchant's name"),
        max_length=200,
        required=False,
    )
    amount = AmountField(
        label=_("Amount (USD)"),
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0.01", "inputmode": "decimal"}),
    )
    occurred_at = OccurredAtField(
        label=_("Date and time"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    channel = forms.ChoiceField(
        label=_("Channel"), choices=[("", "—"), *Transaction.Channel.choices], required=False
    )
    country = forms.CharField(
        label=_("Country"),
        max_length=2,
        required=False,
        help_text=_("Two letters, such as US or FR."),
    )

    # One key per form shown: the payment is stored under it, so the same form sent twice (back
    # and resend, a double click) is one payment. Not for people to see or edit.
    payment_key = forms.CharField(widget=forms.HiddenInput, required=False, initial=new_payment_key)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["card"].queryset = selectors.customer_cards(user)
        self.fields["card"].label_from_instance = self.card_label
        self.fields["occurred_at"].initial = timezone.localtime().replace(second=0, microsecond=0)
        self.helper = FormHelper()
        self.helper.layout = Layout(
            "card",
            Row(Column("merchant"), Column("new_merchant")),
            Row(Column("amount"), Column("occurred_at")),
            Row(Column("channel"), Column(Field("country", css_class="text-uppercase"))),
            "payment_key",
            Div(css_class="mb-2"),
        )
        self.helper.add_input(Submit("submit", _("Pay")))

    @staticmethod
    def card_label(card):
        label = f"{card.brand_label} {card.masked_number}"
        if card.status == Card.Status.FROZEN:
            label += f" ({Card.Status.FROZEN.label})"
        return label

    def clean_country(self):
        # The service's own rule, checked here too so that every error shows at once.
        errors = {}
        country = clean_country(self.cleaned_data.get("country"), "country", errors)
        if errors:
            raise forms.ValidationError(errors["country"])
        return country

    def clean(self):
        cleaned = super().clean()
        sent = self.data.get(self.add_prefix("payment_key"), "")
        if not sent:  # a client that did not read the form: a payment of its own
            cleaned["payment_key"] = new_payment_key()
        elif "payment_key" in self.errors or not PAYMENT_KEY.fullmatch(cleaned.get("payment_key") or ""):
            # Said where people read it: the field itself is hidden.
            self.errors.pop("payment_key", None)
            self.add_error(None, _("This form has expired; reload the page and enter the payment again."))
        if self.errors.get("merchant"):
            return cleaned
        if cleaned.get("merchant") and (cleaned.get("new_merchant") or "").strip():
            self.add_error("new_merchant", _("Pick a merchant or type a name, not both."))
        elif not cleaned.get("merchant") and not (cleaned.get("new_merchant") or "").strip():
            self.add_error("merchant", _("Pick a merchant or type its name."))
        return cleaned


class FraudReportForm(forms.Form):
    note = forms.CharField(
        label=_("What happened?"),
        max_length=500,
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": _("For example: I did not make this payment.")}
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


PERIODS = {
    "7d": (_("Last 7 days"), timedelta(days=7)),
    "30d": (_("Last 30 days"), timedelta(days=30)),
    "90d": (_("Last 90 days"), timedelta(days=90)),
    "365d": (_("Last 12 months"), timedelta(days=365)),
}


class TransactionFilterForm(forms.Form):
    card = forms.ModelChoiceField(
        label=_("Card"), queryset=Card.objects.none(), required=False, empty_label=_("All cards")
    )
    status = forms.ChoiceField(
        label=_("Verdict"), choices=[("", _("All verdicts")), *Transaction.Status.choices], required=False
    )
    period = forms.ChoiceField(
        label=_("Period"),
        choices=[("", _("All time")), *((key, label) for key, (label, _delta) in PERIODS.items())],
        required=False,
    )

    # One key per form shown: the payment is stored under it, so the same form sent twice (back
    # and resend, a double click) is one payment. Not for people to see or edit.
    payment_key = forms.CharField(widget=forms.HiddenInput, required=False, initial=new_payment_key)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["card"].queryset = selectors.customer_cards(user)
        self.fields["card"].label_from_instance = TransactionForm.card_label

    def filters(self):
        """Keyword arguments for `customer_transactions`; bad values are simply not applied."""
        if not self.is_valid():
            return {}
        period = PERIODS.get(self.cleaned_data["period"])
        return {
            "card": self.cleaned_data["card"],
            "status": self.cleaned_data["status"],
            "since": timezone.now() - period[1] if period else None,
        }
