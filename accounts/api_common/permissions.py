"""Who may call what. Roles come from `accounts.roles`; superusers hold every role."""

from rest_framework import permissions

from accounts.roles import Role, user_roles


def _roles_of(request):
    # One query per request, however many checks run.
    cached = getattr(request, "_api_roles", None)
    if cached is None:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            cached = set()
        elif user.is_superuser:
            cached = set(Role)
        else:
            cached = set(user_roles(user))
        request._api_roles = cached
    return cached


def request_has_role(request, *roles):
    return bool(_roles_of(request) & set(roles))


class HasRole(permissions.BasePermission):
    roles: tuple = ()

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request_has_role(request, *self.roles))


def role_permission(*roles):
    return type("HasRole_" + "_".join(roles), (HasRole,), {"roles": roles})


IsIntegrator = role_permission(Role.INTEGRATOR)
IsAnalyst = role_permission(Role.ANALYST)
IsModelManager = role_permission(Role.MODEL_MANAGER)
