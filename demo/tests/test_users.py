import io

import pytest
from django.contrib.auth import authenticate as django_authenticate
from django.test import RequestFactory

from accounts.models import User
from accounts.roles import Role, has_role
from demo import users as demo

pytestmark = pytest.mark.django_db


def authenticate(**credentials):
    return django_authenticate(RequestFactory().post("/accounts/login/"), **credentials)


def test_demo_users_sign_in_with_their_roles_and_seeding_twice_adds_nothing():
    demo.seed(stdout=io.StringIO())
    demo.seed(stdout=io.StringIO())

    assert User.objects.count() == len(demo.DEMO_USERS)
    analyst = authenticate(username="analyst@example.com", password=demo.DEMO_PASSWORD)
    assert analyst is not None and analyst.is_staff and has_role(analyst, Role.ANALYST)
    alice = authenticate(username="alice@example.com", password=demo.DEMO_PASSWORD)
    assert alice is not None and not alice.is_staff and has_role(alice, Role.CUSTOMER)
    assert User.objects.get(email="admin@example.com").is_superuser


def test_seeding_keeps_an_existing_account_as_it_is(customer):
    User.objects.create_user(email="alice@example.com", password="her-own-password-1")

    demo.seed(stdout=io.StringIO())

    assert authenticate(username="alice@example.com", password="her-own-password-1") is not None
