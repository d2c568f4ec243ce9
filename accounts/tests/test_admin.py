import pytest
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_customers_never_reach_the_admin(client, customer):
    client.force_login(customer)

    response = client.get(reverse("admin:index"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_analysts_reach_the_admin_but_not_user_management(client, analyst):
    client.force_login(analyst)

    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(reverse("admin:accounts_user_changelist")).status_code == 403


def test_superusers_search_and_filter_users(client, admin_user, customer, analyst):
    client.force_login(admin_user)

    found = client.get(reverse("admin:accounts_user_changelist"), {"q": customer.email})
    staff = client.get(reverse("admin:accounts_user_changelist"), {"is_staff__exact": "1"})

    assert list(found.context["cl"].result_list) == [customer]
    assert customer not in staff.context["cl"].result_list
    assert analyst in staff.context["cl"].result_list


def test_superusers_deactivate_users_in_bulk(client, admin_user, customer, other_customer):
    client.force_login(admin_user)

    client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "deactivate_users", "_selected_action": [customer.pk, other_customer.pk, admin_user.pk]},
    )

    assert not User.objects.get(pk=customer.pk).is_active
    assert not User.objects.get(pk=other_customer.pk).is_active
    assert User.objects.get(pk=admin_user.pk).is_active


def test_superusers_add_a_user(client, admin_user):
    client.force_login(admin_user)

    client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "staff@example.com",
            "usable_password": "true",
            "password1": "x-Secure-pass-77",
            "password2": "x-Secure-pass-77",
        },
    )

    assert User.objects.filter(email="staff@example.com").exists()


def test_lockouts_are_visible_in_the_admin(client, admin_user):
    client.force_login(admin_user)

    assert client.get(reverse("admin:axes_accessattempt_changelist")).status_code == 200
