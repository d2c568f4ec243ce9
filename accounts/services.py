from django.db import transaction

from accounts.models import User
from accounts.roles import STAFF_ROLES, Role, role_group


@transaction.atomic
def user_register(*, email, password, display_name="", phone=""):
    """A self-registered user is a customer and nothing more."""
    user = User.objects.create_user(email=email, password=password, display_name=display_name, phone=phone)
    user.groups.add(role_group(Role.CUSTOMER))
    return user


@transaction.atomic
def user_set_roles(*, user, roles):
    """Give `user` exactly `roles`; staff roles also open the admin."""
    roles = {Role(role) for role in roles}
    user.groups.remove(*[role_group(role) for role in Role if role not in roles])
    user.groups.add(*[role_group(role) for role in roles])
    user.is_staff = user.is_superuser or bool(roles & STAFF_ROLES)
    user.save(update_fields=["is_staff"])
    return user


def user_update_profile(*, user, display_name, phone):
    user.display_name = display_name
    user.phone = phone
    user.save(update_fields=["display_name", "phone"])
    return user


def audit_record(*, actor, action, target, before=None, after=None, note=""):
    """Append to the audit trail; call it inside the transaction that makes the change."""
    from accounts.models import AuditEntry

    return AuditEntry.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        before=before or {},
        after=after or {},
        note=note,
    )
