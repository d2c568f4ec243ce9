"""Merchants and their categories as customers read them (transactions.categories)."""

import pytest
from django.utils import translation

from detection.ml.simulator import CATEGORIES
from transactions import categories, selectors
from transactions.tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db


def test_every_category_the_simulator_uses_has_a_name_of_ours():
    assert {code for code, *_rest in CATEGORIES} <= set(categories.CATEGORY_NAMES)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("5812", "Restaurants"),  # ours
        ("5542", "Automated fuel dispensers"),  # from the ISO 18245 list
        ("9998", "Other"),  # on no list: not four bare digits
        ("groceries", "groceries"),  # a word already
        ("", ""),
        (None, ""),
    ],
)
def test_a_category_reads_as_a_name_not_a_code(code, name):
    with translation.override("en"):
        assert str(categories.category_name(code)) == name


def test_a_merchant_known_only_by_its_id_reads_as_its_category_and_country():
    merchant = MerchantFactory.build(external_id="sim_M000042", name="", category="5411", country="FR")

    with translation.override("en"):
        assert categories.merchant_name(merchant) == "Groceries · FR (M000042)"
        assert categories.merchant_label(merchant) == "Groceries · FR (M000042)"


def test_a_named_merchant_reads_as_its_name_and_category():
    merchant = MerchantFactory.build(name="Corner Coffee", category="5812")

    with translation.override("en"):
        assert categories.merchant_label(merchant) == "Corner Coffee — Restaurants"
        assert categories.merchant_name(merchant) == "Corner Coffee"


def test_the_payment_form_offers_merchants_with_real_names_first():
    by_id = MerchantFactory(external_id="sim_M000001", name="", category="5411")
    named_b = MerchantFactory(name="Bistro")
    named_a = MerchantFactory(name="Airline")
    sim_named = MerchantFactory(external_id="sim_M000002", name="sim_M000002", category="5812")

    assert list(selectors.merchant_choices()) == [named_a, named_b, by_id, sim_named]
