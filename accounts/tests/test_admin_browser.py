import pytest
from playwright.sync_api import expect

from accounts.tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_superuser_manages_users_in_the_admin_without_csp_violations(page, admin_user, customer):
    page.goto("/admin/")
    page.get_by_label("Email address").fill(admin_user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("link", name="Users").click()
    page.get_by_role("link", name=customer.email).click()
    page.get_by_label("Display name").fill("Renamed by staff")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_text("was changed successfully")).to_be_visible()
    customer.refresh_from_db()
    assert customer.display_name == "Renamed by staff"
    assert [e for e in page.console_errors if "Content Security Policy" in e] == []
