import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory

from accounts.roles import ROLE_PERMISSIONS, Role, has_role, role_required
from accounts.services import user_set_roles

pytestmark = pytest.mark.django_db


def test_every_role_is_a_group_after_migrate():
    assert set(Group.objects.values_list("name", flat=True)) >= {role.value for role in Role}


def test_integrators_may_use_the_api(integrator):
    assert integrator.has_perm("accounts.use_api")
    assert not integrator.is_staff


def test_role_groups_hold_the_permissions_that_exist(analyst):
    group = Group.objects.get(name=Role.ANALYST)
    granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
    assert granted <= set(ROLE_PERMISSIONS[Role.ANALYST])


def test_staff_roles_open_the_admin_and_losing_them_closes_it(customer):
    user_set_roles(user=customer, roles=[Role.ANALYST])
    assert customer.is_staff and has_role(customer, Role.ANALYST)

    user_set_roles(user=customer, roles=[Role.CUSTOMER])
    assert not customer.is_staff and not has_role(customer, Role.ANALYST)


def test_role_required_lets_the_role_through_and_refuses_others(analyst, customer):
    view = role_required(Role.ANALYST)(lambda request: HttpResponse("ok"))
    request = RequestFactory().get("/")

    request.user = analyst
    assert view(request).status_code == 200
    request.user = customer
    with pytest.raises(PermissionDenied):
        view(request)


def test_inactive_users_hold_no_role(analyst):
    analyst.is_active = False
    assert not has_role(analyst, Role.ANALYST)
