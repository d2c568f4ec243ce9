from decimal import Decimal

import pytest

from transactions import directory
from transactions.models import Card, Merchant
from transactions.tests.factories import CardFactory, MerchantFactory

pytestmark = pytest.mark.django_db


def _fields(row):
    return {field.attname: getattr(row, field.attname) for field in type(row)._meta.concrete_fields}


@pytest.mark.parametrize("model, factory", [(Card, CardFactory), (Merchant, MerchantFactory)])
def test_a_row_reads_as_the_orm_reads_it(model, factory):
    """The directory's own statement must give what Model.objects.get would: same values, same
    types (decimals, not floats; aware datetimes), a saved instance."""
    made = factory()
    if model is Card:
        Card.objects.filter(pk=made.pk).update(
            balance=Decimal("12.30"), held=Decimal("0.07"), credit_limit=Decimal("1234.56")
        )
    expected = model.objects.get(pk=made.pk)

    found = directory.lookup(model, made.external_id)

    assert _fields(found) == _fields(expected)
    assert {name: type(value) for name, value in _fields(found).items()} == {
        name: type(value) for name, value in _fields(expected).items()
    }
    assert not found._state.adding
    found.save()  # a loaded row saves as an update, not a second row
    assert model.objects.filter(external_id=made.external_id).count() == 1


def test_an_unknown_id_is_none():
    assert directory.lookup(Card, "card_nobody") is None
