"""Demo users, one per role. The first part of `seed_demo`."""

from accounts.models import User
from accounts.roles import Role
from accounts.services import user_register, user_set_roles

DEMO_PASSWORD = "sentinel-demo-2026"  # noqa: S105 (demo only, printed by make run)

DEMO_USERS = [
    # email, display name, roles, superuser
    ("admin@example.com", "Ada Admin", [], True),
    ("analyst@example.com", "Ana Analyst", [Role.ANALYST], False),
    ("manager@example.com", "Max Model-Manager", [Role.MODEL_MANAGER], False),
    ("integrator@example.com", "Ivy Integrator", [Role.INTEGRATOR], False),
    ("alice@example.com", "Alice Customer", [Role.CUSTOMER], False),
    ("bob@example.com", "Bob Customer", [Role.CUSTOMER], False),
]


def seed(*, stdout):
    """Create the demo users that do not exist yet; never touch existing accounts."""
    for email, name, roles, superuser in DEMO_USERS:
        if User.objects.filter(email=email).exists():
            continue
        if superuser:
            User.objects.create_superuser(email=email, password=DEMO_PASSWORD, display_name=name)
        else:
            user = user_register(email=email, password=DEMO_PASSWORD, display_name=name)
            user_set_roles(user=user, roles=roles)
        stdout.write(f"  created {email}")


def logins():
    """What `make run` prints so people know how to sign in."""
    return [(email, ", ".join(r.value for r in roles) or "superuser") for email, _n, roles, _s in DEMO_USERS]
