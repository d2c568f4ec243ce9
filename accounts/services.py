from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import AuditEntry, IntegratorKey, User
from accounts.roles import STAFF_ROLES, Role, has_role, role_group
from core import rows
from core.cardnumbers import mask_card_numbers


@transaction.atomic
def user_register(*, email, password, display_name="", phone=""):
    """A self-registered user is a customer and nothing more."""
    user = User.objects.create_user(
        email=email,
        password=password,
        display_name=mask_card_numbers(display_name),
        phone=mask_card_numbers(phone),
    )
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
    # Free text: a card number typed here is masked, never stored (as in User.clean for the admin).
    user.display_name = mask_card_numbers(display_name)
    user.phone = mask_card_numbers(phone)
    user.save(update_fields=["display_name", "phone"])
    return user


def audit_record(*, actor, action, target, before=None, after=None, note=""):
    """Append to the audit trail; call it inside the transaction that makes the change."""
    return rows.insert(  # on every decision's path: a prepared insert rather than the ORM's
        AuditEntry(
            actor=actor if actor is not None and actor.is_authenticated else None,
            action=action,
            target_type=target._meta.label_lower,
            target_id=str(target.pk),
            before=before or {},
            after=after or {},
            note=mask_card_numbers(note),  # every service's notes end here: the last guard
        )
    )


@transaction.atomic
def api_key_create(*, owner, name, expiry_date=None, actor=None):
    """Create an API key for an integrator. Returns (key, secret): the secret exists only in this
    return value; the database keeps a hash and the prefix."""
    if not has_role(owner, Role.INTEGRATOR):
        raise ValidationError({"owner": _("Only integrators can hold API keys.")})
    name = mask_card_numbers((name or "").strip())
    if not name:
        raise ValidationError({"name": _("Give the key a name, for example the system that uses it.")})
    key, secret = IntegratorKey.objects.create_key(owner=owner, name=name[:50], expiry_date=expiry_date)
    # The audit target is the owner: a key's primary key (prefix and hash) is longer than target_id.
    audit_record(actor=actor or owner, action="api_key.create", target=owner, after={"prefix": key.prefix})
    return key, secret


@transaction.atomic
def api_key_revoke(*, key, actor):
    """Revoke for good (the library refuses to un-revoke)."""
    if not key.revoked:
        key.revoked = True
        key.save(update_fields=["revoked"])
        audit_record(actor=actor, action="api_key.revoke", target=key.owner, after={"prefix": key.prefix})
    return key
