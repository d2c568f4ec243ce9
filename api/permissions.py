"""Who may call what. Roles come from `accounts.roles`; superusers hold every role."""

from rest_framework import permissions

from accounts.roles import Role, user_roles


def roles_of_user(user) -> set:
    if not (user and user.is_authenticated and user.is_active):
        return set()
    if user.is_superuser:
        return set(Role)
    return set(user_roles(user))


def _roles_of(request):
    # One query per request, however many checks run (none when the API key brought them).
    cached = getattr(request, "_api_roles", None)
    if cached is None:
        cached = request._api_roles = roles_of_user(request.user)
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
