"""The site's own error pages: its layout, the reader's language, a way back; the API keeps its
JSON error shape."""

import pytest
from django.urls import reverse

from transactions.tests.factories import CardFactory

pytestmark = pytest.mark.django_db


def chinese(client):
    client.cookies["django_language"] = "zh-hans"
    return client


def test_a_missing_page_is_the_site_s_page_in_the_reader_s_language(client):
    english = client.get("/nowhere/")
    assert english.status_code == 404
    assert 'data-testid="error-page"' in english.text and 'id="main-nav"' in english.text
    assert "Page not found" in english.text and reverse("home") in english.text
    page = chinese(client).get("/nowhere/")
    assert page.status_code == 404 and "找不到页面" in page.text and "Page not found" not in page.text
    # The API answers in its own shape.
    api = client.get("/api/v1/nowhere/")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_a_page_opened_the_wrong_way_says_so_and_keeps_allow(client, customer):
    client.force_login(customer)
    card = CardFactory(owner=customer)
    response = chinese(client).get(reverse("transactions:card_status", args=[card.pk]))
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert 'data-testid="error-page"' in response.text and "不能以这种方式" in response.text


def test_a_page_the_account_may_not_open_is_refused_on_the_site_s_page(client, customer, analyst):
    customer.is_staff = True  # staff without the analyst's permissions
    customer.save()
    client.force_login(customer)
    response = client.get(reverse("admin:transactions_review_queue"))
    assert response.status_code == 403 and "Not allowed" in response.text
    client.force_login(analyst)
    assert client.get(reverse("admin:transactions_review_queue")).status_code == 200


def test_an_expired_form_is_explained(customer):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(customer)
    response = strict.post(reverse("transactions:transaction_new"), {"amount": "1"})
    assert response.status_code == 403 and "Your session has expired" in response.text
