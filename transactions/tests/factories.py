from decimal import Decimal

import factory
from django.utils import timezone

from accounts.tests.factories import UserFactory
from transactions.models import Card, FraudReport, Merchant, Transaction

# Test numbers the card networks publish; all pass the Luhn check.
VISA = "4111 1111 1111 1111"
VISA_2 = "4242424242424242"
MASTERCARD = "5555-5555-5555-4444"
AMEX = "378282246310005"


class CardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Card

    external_id = factory.Sequence(lambda n: f"card_test{n:04d}")
    owner = factory.SubFactory(UserFactory)
    brand = "visa"
    first6 = "411111"
    last4 = factory.Sequence(lambda n: f"{n % 10000:04d}")
    expiry_month = 12
    expiry_year = factory.LazyFunction(lambda: timezone.now().year + 3)
    credit_limit = Decimal("1000.00")


def integrator_card(issuer, card_id, **fields):
    """A card in integrator `issuer`'s own namespace, as its first POST /transactions/ makes it."""
    fields = {"owner": None, "brand": "", "first6": "", "last4": "", "expiry_month": None} | fields
    return CardFactory(external_id=Card.key_for(card_id, issuer_id=issuer.pk), issuer=issuer, **fields)


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    external_id = factory.Sequence(lambda n: f"m_{n:04d}")
    name = factory.Sequence(lambda n: f"Corner Shop {n}")
    category = "5411"
    country = "US"


class TransactionFactory(factory.django.DjangoModelFactory):
    """A stored transaction as history (no balance change): use transaction_submit for live ones."""

    class Meta:
        model = Transaction

    external_id = factory.Sequence(lambda n: f"tx_test{n:05d}")
    card = factory.SubFactory(CardFactory)
    merchant = factory.SubFactory(MerchantFactory)
    amount = Decimal("25.00")
    occurred_at = factory.LazyFunction(timezone.now)
    decision = "approve"
    risk_score = 10
    status = Transaction.Status.APPROVED
    reasons = factory.LazyFunction(lambda: [{"code": "typical", "message": "Looks like usual spending."}])


class FraudReportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FraudReport

    transaction = factory.SubFactory(TransactionFactory)
    source = FraudReport.Source.CUSTOMER
    note = "Not me"
