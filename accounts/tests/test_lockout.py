"""The login lockout counts every spelling of an account as that account, and no username,
however long or strange, breaks the sign-in or password-reset pages."""

import pytest
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.shortcuts import resolve_url
from django.test import override_settings
from django.urls import reverse

from accounts.models import User, canonical_email
from accounts.tests.factories import PASSWORD, customer

pytestmark = pytest.mark.django_db

EMAIL = "u@example.com"
# How an attacker may type the same account: case, surrounding spaces, tabs, fullwidth letters
# (NFKC folds them), the Kelvin sign (lower-cases to "k").
VARIANTS = [
    "U@EXAMPLE.COM",
    "  u@example.com  ",
    "\tU@Example.Com\n",
    "ｕ@ｅｘａｍｐｌｅ.ｃｏｍ",
    "u@EXAMPLE.com\u3000",
]


def login(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


@pytest.fixture
def account(db):
    return customer(email=EMAIL)


def signed_in(client):
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_spelling_of_the_account_signs_in(client, account, variant):
    response = login(client, variant, PASSWORD)

    assert response.status_code == 302
    assert signed_in(client)


@pytest.mark.parametrize("variant", VARIANTS)
@override_settings(AXES_FAILURE_LIMIT=5)
def test_failures_typed_in_other_spellings_lock_the_account(client, account, variant):
    for _attempt in range(5):
        login(client, EMAIL, "wrong-password")

    response = login(client, variant, PASSWORD)

    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.text
    assert not signed_in(client)


@override_settings(AXES_FAILURE_LIMIT=5)
def test_failures_spread_over_spellings_count_against_one_account(client, account):
    for variant in VARIANTS:  # five wrong guesses, each in another spelling
        login(client, variant, "wrong-password")

    # One record for the account, not one per spelling.
    assert list(AccessAttempt.objects.values_list("username", "failures_since_start")) == [(EMAIL, 5)]
    response = login(client, EMAIL, PASSWORD)
    assert response.status_code == 429
    assert not signed_in(client)


@override_settings(AXES_FAILURE_LIMIT=3)
def test_success_resets_the_count_for_every_spelling(client, account):
    login(client, "U@EXAMPLE.COM", "wrong-password")
    login(client, " u@example.com", "wrong-password")

    assert login(client, "U@Example.COM ", PASSWORD).status_code == 302

    assert not AccessAttempt.objects.exists()
    assert AccessLog.objects.get().username == EMAIL
    client.logout()
    # The count starts again from zero: two more failures do not lock.
    login(client, EMAIL, "wrong-password")
    login(client, EMAIL, "wrong-password")
    response = login(client, "U@EXAMPLE.COM", PASSWORD)
    assert response.status_code == 302
    assert response.url == resolve_url(settings.LOGIN_REDIRECT_URL)


@override_settings(AXES_FAILURE_LIMIT=3)
def test_admin_login_counts_the_same_account(client, account):
    account.is_staff = True
    account.save()
    for _attempt in range(3):
        client.post(reverse("admin:login"), {"username": "U@example.COM", "password": "wrong-password"})

    response = login(client, EMAIL, PASSWORD)

    assert response.status_code == 429


def test_a_lookalike_that_is_not_the_account_does_not_sign_in(client, account):
    # Dotless i upper-cases to "I" on PostgreSQL: it must not reach u@example.com's neighbour.
    customer(email="ian@example.com")

    response = login(client, "\u0131an@example.com", PASSWORD)

    assert response.status_code == 200
    assert not signed_in(client)


@pytest.mark.parametrize("length", [255, 10_000])
def test_an_overlong_username_is_a_form_error_not_a_500(client, account, length):
    username = "a" * (length - len("@example.com")) + "@example.com"

    response = login(client, username, "whatever-password")

    assert response.status_code == 200
    assert "at most 254 characters" in response.text
    assert not signed_in(client)


@pytest.mark.parametrize("path", ["login", "admin:login"])
def test_axes_never_stores_an_overlong_username_untruncated(client, path):
    # The admin's login form has no length check of ours: the lockout must still cope.
    username = "b" * 10_000 + "@example.com"

    response = client.post(reverse(path), {"username": username, "password": "wrong-password"})

    assert response.status_code == 200
    for attempt in AccessAttempt.objects.all():
        assert len(attempt.username) <= 255
        assert len(attempt.post_data) <= 1024


def test_password_reset_with_an_overlong_email_is_a_form_error(client):
    response = client.post(reverse("password_reset"), {"email": "c" * 10_000 + "@example.com"})

    assert response.status_code == 200
    assert "at most 254 characters" in response.text


def test_canonical_email_is_one_form_for_every_spelling():
    forms = {canonical_email(variant) for variant in [EMAIL, *VARIANTS]}

    assert forms == {EMAIL}
    assert canonical_email(canonical_email("\u212aim@X.org")) == "kim@x.org"


def test_registration_stores_the_canonical_form(client):
    client.post(
        reverse("register"),
        {
            "email": " New@Example.COM ",
            "password1": "a-much-better-passphrase",
            "password2": "a-much-better-passphrase",
        },
    )

    assert User.objects.get().email == "new@example.com"
