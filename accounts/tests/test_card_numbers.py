"""Free text of accounts (display name, phone, API key names, audit notes) is stored with card
numbers masked, whichever way it comes in: the site's forms, the API or the admin."""

import pytest
from django.urls import reverse

from accounts.models import AuditEntry, IntegratorKey, User
from accounts.services import api_key_create, audit_record, user_register
from accounts.tests.api_clients import key_client

pytestmark = pytest.mark.django_db


def test_registration_masks_the_display_name(client):
    client.post(
        reverse("register"),
        {
            "email": "new@example.com",
            "display_name": "Al 4111 1111 1111 1111",
            "password1": "a-much-better-passphrase",
            "password2": "a-much-better-passphrase",
        },
    )

    assert User.objects.get().display_name == "Al •••• 1111"


def test_profile_form_masks_name_and_phone(client, customer):
    client.force_login(customer)

    client.post(
        reverse("profile_edit"), {"display_name": "card_378282246310005", "phone": "5555555555554444"}
    )

    customer.refresh_from_db()
    assert (customer.display_name, customer.phone) == ("card_•••• 0005", "•••• 4444")


def test_admin_masks_name_and_phone(admin_client, customer):
    response = admin_client.post(
        reverse("admin:accounts_user_change", args=[customer.pk]),
        {
            "email": customer.email,
            "display_name": "４１１１ １１１１ １１１１ １１１１",
            "phone": "4111-1111-1111-1111",
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
        },
    )

    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.display_name, customer.phone) == ("•••• 1111", "•••• 1111")


def test_key_names_are_masked_on_every_channel(client, integrator):
    key_client(integrator).post("/api/v1/keys/", {"name": "pos 4111111111111111"}, format="json")
    client.force_login(integrator)
    client.post(reverse("api_keys"), {"name": "till 5555-5555-5555-4444"})
    api_key_create(owner=integrator, name="direct 378282246310005")

    names = set(IntegratorKey.objects.values_list("name", flat=True))
    assert {"pos •••• 1111", "till •••• 4444", "direct •••• 0005"} <= names


def test_audit_notes_are_masked(customer):
    entry = audit_record(actor=customer, action="x", target=customer, note="see 4111 1111 1111 1111")

    assert AuditEntry.objects.get(pk=entry.pk).note == "see •••• 1111"


def test_ordinary_text_is_kept_as_typed():
    user = user_register(
        email="a@example.com", password="x" * 12, display_name="Ann 1234", phone="+1 555 0100"
    )

    assert (user.display_name, user.phone) == ("Ann 1234", "+1 555 0100")
