"""A newcomer's first visit, in a real browser against the live server."""

import re

import pytest
from playwright.sync_api import expect

from accounts.models import User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_register_sign_in_edit_profile_switch_language_sign_out(page):
    page.goto("/")
    page.get_by_role("link", name="Create an account").first.click()

    page.get_by_label("Email address").fill("mei@example.com")
    page.get_by_label("Display name").fill("Mei")
    page.locator("#id_password1").fill("long-enough-passphrase")
    page.locator("#id_password2").fill("long-enough-passphrase")
    page.get_by_role("button", name="Create account").click()

    expect(page.get_by_text("Welcome! Your account is ready.")).to_be_visible()
    page.get_by_test_id("sign-out").click()

    page.get_by_role("link", name="Sign in").first.click()
    page.get_by_label("Email address").fill("mei@example.com")
    page.locator("#id_password").fill("long-enough-passphrase")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard/$"))

    page.get_by_role("link", name="My account").click()
    expect(page.get_by_test_id("profile-email")).to_have_text("mei@example.com")
    page.get_by_role("link", name="Edit profile").click()
    page.get_by_label("Display name").fill("Mei Lin")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("profile-display-name")).to_have_text("Mei Lin")

    page.get_by_label("Language").select_option("zh-hans")
    expect(page.get_by_role("heading", name="您好，Mei Lin")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")

    page.get_by_test_id("sign-out").click()
    expect(page.get_by_role("link", name="登录").first).to_be_visible()
    assert User.objects.get(email="mei@example.com").display_name == "Mei Lin"
    assert page.console_errors == []
