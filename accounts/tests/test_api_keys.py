"""Integrators' API keys on their own page and in the admin (the API's /keys/ endpoints are tested
in api/tests/test_accounts.py)."""

import pytest
from django.urls import reverse

from accounts.models import IntegratorKey

pytestmark = pytest.mark.django_db


def test_integrator_page_creates_shows_once_and_revokes(client, integrator):
    client.force_login(integrator)
    created = client.post(reverse("api_keys"), {"name": "checkout"})
    assert created.status_code == 200
    assert created["Cache-Control"] == "no-store"
    secret = created.context["new_secret"]
    assert secret.encode() in created.content
    key = IntegratorKey.objects.get(owner=integrator)
    assert key.is_valid(secret)
    listed = client.get(reverse("api_keys"))
    assert key.prefix.encode() in listed.content and secret.encode() not in listed.content
    client.post(reverse("api_key_revoke", args=[key.prefix]))
    key.refresh_from_db()
    assert key.revoked


def test_integrator_page_is_for_integrators_only(client, customer):
    client.force_login(customer)
    assert client.get(reverse("api_keys")).status_code == 403


def test_admin_creates_a_key_for_an_integrator_and_shows_it_once(admin_client, integrator):
    response = admin_client.post(
        reverse("admin:accounts_integratorkey_add"),
        {"name": "from admin", "owner": integrator.pk},
        follow=True,
    )
    assert response.status_code == 200
    key = IntegratorKey.objects.get(owner=integrator)
    shown = [str(m) for m in response.context["messages"]]
    assert any(key.prefix in message for message in shown)
    assert admin_client.get(reverse("admin:accounts_integratorkey_changelist")).status_code == 200
