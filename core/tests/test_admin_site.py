"""The staff console's frame: the menu in the fraud team's words and order, a language switcher on
every page, and list filters that search rather than list every related row."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from transactions.tests.factories import MerchantFactory, TransactionFactory


def menu(client):
    """The app names of the staff console's index, in order."""
    body = client.get(reverse("admin:index")).content.decode()
    return [
        name.strip() for name in re.findall(r'<a href="[^"]+" class="section"[^>]*>(.*?)</a>', body, re.S)
    ]


def test_the_menu_puts_the_fraud_teams_work_first_and_names_the_machinery_plainly(client, admin_user):
    client.force_login(admin_user)
    apps = menu(client)
    assert apps[:2] == ["Transactions", "Detection"]
    assert "Sign-in lockouts" in apps and "Background tasks" in apps
    # Internal package names are gone: the API key package's unused model, Axes, the task backend.
    assert not {"API Key Permissions", "Axes", "Tasks Database Backend"} & set(apps)
    assert apps.index("Sign-in lockouts") > apps.index("Accounts")


def test_an_analyst_sees_only_their_apps(client, analyst):
    client.force_login(analyst)
    apps = menu(client)
    assert "Sign-in lockouts" not in apps and "Background tasks" not in apps
    assert apps[0] == "Transactions"


@pytest.mark.parametrize("language, header", [("en", "Sentinel staff console"), ("zh-hans", None)])
def test_every_staff_page_has_the_language_switcher_and_reads_in_its_language(
    client, analyst, language, header
):
    client.force_login(analyst)
    client.cookies["django_language"] = language
    for url in (reverse("admin:index"), reverse("admin:transactions_transaction_changelist")):
        body = client.get(url).content.decode()
        assert 'data-testid="staff-language"' in body
        assert f'<option value="{language}" selected>' in body
        if header:
            assert header in body
        else:  # Chinese: the header, Django's empty choice and our columns are translated
            assert "Sentinel staff console" not in body and "Select an option" not in body
            assert re.search("[\u4e00-\u9fff]", body.split("<title>")[1].split("</title>")[0])


def test_the_merchant_filter_searches_instead_of_listing_every_merchant(client, analyst):
    merchants = [MerchantFactory(name=f"Shop number {n}") for n in range(40)]
    for merchant in merchants:
        TransactionFactory(merchant=merchant)
    client.force_login(analyst)
    url = reverse("admin:transactions_transaction_changelist")
    with CaptureQueriesContext(connection) as queries:
        body = client.get(url).content.decode()
    filter_html = body.split('data-testid="autocomplete-filter"')[1].split("</details>")[0]
    assert "Shop number" not in filter_html  # no option per merchant: they are searched
    assert len(queries) < 20
    # Picking one filters the list to it (and shows it as the chosen option).
    chosen = merchants[7]
    page = client.get(url, {"merchant__id__exact": chosen.pk}).content.decode()
    assert page.count('class="field-merchant_display"') == 1 and "Shop number 7<" in page
    # The search behind the filter answers with the merchant.
    found = client.get(
        reverse("admin:autocomplete"),
        {
            "term": "number 7",
            "app_label": "transactions",
            "model_name": "transaction",
            "field_name": "merchant",
        },
    ).json()
    assert str(chosen.pk) in {item["id"] for item in found["results"]}


@pytest.mark.parametrize("value", ["abc", "1;DROP", "\u0661", "9" * 40])
def test_a_bad_filter_value_is_a_message_not_an_error(client, analyst, value):
    client.force_login(analyst)
    response = client.get(
        reverse("admin:transactions_transaction_changelist"), {"merchant__id__exact": value}
    )
    assert response.status_code in (200, 302)
