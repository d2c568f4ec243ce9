"""The password-reset email carries its link whole (accounts.mail)."""

import re

import pytest
from django.core import mail
from django.urls import reverse

pytestmark = pytest.mark.django_db

# The link, as the sent bytes hold it: scheme, host and the whole path on one line.
LINK = re.compile(rb"https?://[^/\s]+(/accounts/password/reset/[^/\s]+/[^/\s]+/)\r?\n")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_reset_link_is_on_one_unbroken_line_of_the_sent_bytes(client, customer, language):
    client.cookies["django_language"] = language
    client.post(reverse("password_reset"), {"email": customer.email})

    raw = mail.outbox[0].message().as_bytes()
    assert b"quoted-printable" not in raw and b"base64" not in raw
    link = LINK.search(raw)
    assert link is not None, raw
    assert client.get(link.group(1).decode(), follow=True).context["validlink"]
