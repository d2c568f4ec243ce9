import re

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.shortcuts import resolve_url
from django.test import override_settings
from django.urls import reverse

from accounts.roles import Role, has_role
from accounts.tests.factories import PASSWORD

User = get_user_model()
pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-much-better-passphrase"


def register(client, **overrides):
    data = {
        "email": "new.person@example.com",
        "display_name": "New Person",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
    } | overrides
    return client.post(reverse("register"), data)


def login(client, email, password, next_page=None):
    data = {"username": email, "password": password} | ({"next": next_page} if next_page else {})
    return client.post(reverse("login"), data)


def test_registration_creates_a_signed_in_customer(client):
    response = register(client, email="New.Person@Example.com")

    assert response.status_code == 302
    assert response.url == resolve_url(settings.LOGIN_REDIRECT_URL)
    user = User.objects.get()
    assert user.email == "new.person@example.com"
    assert has_role(user, Role.CUSTOMER)
    assert not has_role(user, Role.ANALYST)
    assert not user.is_staff
    assert client.get(reverse("profile")).context["user"] == user


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"password2": "something-else-entirely"}, "password2", "do not match"),
        ({"password1": "short", "password2": "short"}, "password1", "too short"),
        ({"password1": "password123", "password2": "password123"}, "password1", "too common"),
        ({"email": "not-an-email"}, "email", "valid email"),
    ],
)
def test_registration_rejects_bad_input_and_creates_nothing(client, overrides, field, message):
    response = register(client, **overrides)

    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not User.objects.exists()


def test_registration_refuses_an_email_already_taken_in_any_case(client, customer):
    response = register(client, email=customer.email.upper())

    assert "already exists" in " ".join(response.context["form"].errors["email"])
    assert User.objects.count() == 1


def test_login_with_email_and_password(client, customer):
    response = login(client, customer.email, PASSWORD)

    assert response.status_code == 302
    assert response.url == resolve_url(settings.LOGIN_REDIRECT_URL)
    profile = client.get(reverse("profile"))
    assert customer.email in profile.text


@pytest.mark.parametrize(
    ("who", "lands_on"),
    [
        ("customer", "transactions:dashboard"),
        ("analyst", "admin:transactions_review_queue"),
        ("model_manager", "admin:index"),
        ("integrator", "api_keys"),
        ("admin_user", "admin:index"),
    ],
)
def test_each_role_lands_on_its_own_page(client, request, who, lands_on):
    user = request.getfixturevalue(who)
    response = login(client, user.email, PASSWORD)
    assert response.status_code == 302 and response.url == reverse(lands_on)
    assert client.get(response.url).status_code == 200  # a page this role may open
    # A page asked for still wins.
    client.logout()
    asked = login(client, user.email, PASSWORD, next_page=reverse("profile"))
    assert asked.url == reverse("profile")


def test_login_with_a_wrong_password_says_so(client, customer):
    response = login(client, customer.email, "wrong-password")

    assert response.status_code == 200
    assert "enter a correct email address and password" in response.text


@override_settings(AXES_FAILURE_LIMIT=3)
def test_repeated_failures_lock_the_account_out_even_for_the_right_password(client, customer):
    for _attempt in range(3):
        login(client, customer.email, "wrong-password")

    response = login(client, customer.email, PASSWORD)

    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.text
    assert "_auth_user_id" not in client.session


@override_settings(AXES_FAILURE_LIMIT=3)
def test_lockout_is_per_account_so_others_can_still_sign_in(client, customer, other_customer):
    for _attempt in range(3):
        login(client, customer.email, "wrong-password")

    assert login(client, other_customer.email, PASSWORD).status_code == 302


def test_logout_ends_the_session(client, customer):
    client.force_login(customer)

    client.post(reverse("logout"))

    assert client.get(reverse("profile")).status_code == 302


def test_profile_requires_login(client):
    response = client.get(reverse("profile"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_profile_edit_saves_personal_information(client, customer):
    client.force_login(customer)

    response = client.post(reverse("profile_edit"), {"display_name": "Carol C.", "phone": "+44 20 7946 0000"})

    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.display_name == "Carol C."
    assert "Carol C." in client.get(reverse("profile")).text


def test_profile_edit_rejects_an_overlong_name(client, customer):
    client.force_login(customer)

    response = client.post(reverse("profile_edit"), {"display_name": "x" * 151, "phone": ""})

    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.display_name != "x" * 151


def test_password_change(client, customer):
    client.force_login(customer)

    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.check_password(NEW_PASSWORD)


def test_password_reset_mails_a_link_that_sets_a_new_password(client, customer):
    client.post(reverse("password_reset"), {"email": customer.email})

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [customer.email]
    link = re.search(r"https?://[^/\s]+(/\S+)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.context["validlink"]
    client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert login(client, customer.email, NEW_PASSWORD).status_code == 302


def test_password_reset_for_an_unknown_email_reveals_nothing(client):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"}, follow=True)

    assert response.status_code == 200
    assert len(mail.outbox) == 0
    assert "If an account exists" in response.text


def test_language_switcher_changes_the_page_language(client):
    assert "Card fraud stopped in milliseconds." in client.get(reverse("home")).text

    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    response = client.get(reverse("home"))

    assert response.headers["Content-Language"] == "zh-hans"
    assert "毫秒" in response.text
    assert "Card fraud stopped in milliseconds." not in response.text


def test_pages_carry_a_csp_that_forbids_inline_script(client):
    response = client.get(reverse("home"))

    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text)
