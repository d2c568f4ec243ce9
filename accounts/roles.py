"""Roles are groups with permissions. One place defines them; views and the API ask `has_role`."""

from enum import StrEnum
from functools import wraps

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _


class Role(StrEnum):
    CUSTOMER = "customer"
    ANALYST = "analyst"
    MODEL_MANAGER = "model_manager"
    INTEGRATOR = "integrator"

    @property
    def label(self):
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.CUSTOMER: _("Customer"),
    Role.ANALYST: _("Analyst"),
    Role.MODEL_MANAGER: _("Model manager"),
    Role.INTEGRATOR: _("Integrator"),
}

# Roles whose members work in the admin.
STAFF_ROLES = frozenset({Role.ANALYST, Role.MODEL_MANAGER})

# "app_label.codename"; a permission whose app is not installed yet is skipped, and picked up by
# the next migrate.
ROLE_PERMISSIONS = {
    Role.CUSTOMER: [],
    Role.ANALYST: [
        "transactions.view_card",
        "transactions.freeze_card",
        "transactions.view_merchant",
        "transactions.view_transaction",
        "transactions.change_transaction",
        "transactions.view_fraudreport",
        "transactions.change_fraudreport",
        "accounts.view_auditentry",
        "detection.view_modelversion",
        "detection.view_listentry",
        "detection.add_listentry",
        "detection.view_rule",
        "detection.view_bandsettings",
    ],
    Role.MODEL_MANAGER: [
        "transactions.view_transaction",
        "transactions.view_merchant",
        "detection.view_modelversion",
        "detection.add_modelversion",
        "detection.change_modelversion",
        "detection.view_listentry",
        "detection.add_listentry",
        "detection.change_listentry",
        "detection.delete_listentry",
        "detection.view_rule",
        "detection.add_rule",
        "detection.change_rule",
        "detection.delete_rule",
        "detection.view_bandsettings",
        "detection.add_bandsettings",
        "detection.change_bandsettings",
    ],
    Role.INTEGRATOR: ["accounts.use_api"],
}


def role_group(role):
    group, _created = Group.objects.get_or_create(name=Role(role).value)
    return group


def sync_role_permissions(**kwargs):
    """Create every role's group and give it exactly the permissions listed above."""
    for role, names in ROLE_PERMISSIONS.items():
        group = role_group(role)
        permissions = []
        for name in names:
            app_label, codename = name.split(".")
            permission = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if permission is not None:
                permissions.append(permission)
        group.permissions.set(permissions)


def has_role(user, role):
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name=Role(role).value).exists()


def user_roles(user):
    if not user.is_authenticated:
        return []
    names = set(user.groups.values_list("name", flat=True))
    return [role for role in Role if role.value in names]


def role_required(*roles):
    """View decorator: the signed-in user must hold one of `roles` (superusers always pass)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not any(has_role(request.user, role) for role in roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


# Where each role starts after signing in (the first role held, in this order, wins): a customer
# on their overview, an analyst on the review queue, a model manager and other staff in the staff
# console, an integrator on their API keys.
LANDING_PAGES = [
    (Role.CUSTOMER, "transactions:dashboard"),
    (Role.ANALYST, "admin:transactions_review_queue"),
    (Role.MODEL_MANAGER, "admin:index"),
    (Role.INTEGRATOR, "api_keys"),
]


def landing_page(user) -> str:
    """The URL name a user starts on after signing in."""
    held = set(user_roles(user))
    for role, page in LANDING_PAGES:
        if role in held:
            return page
    return "admin:index" if user.is_staff else "transactions:dashboard"
