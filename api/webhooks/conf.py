"""Settings of webhooks, each declared with its default and bounds (core.conf)."""

from django.core import checks

from core.conf import setting


@setting("WEBHOOKS_TIMEOUT_SECONDS", default=5.0, minimum=0.1, maximum=30)
def timeout_seconds(value) -> float:
    """How long one attempt may take in all: connecting, sending the event and reading the answer.
    A deadline for the whole attempt, not for each read: a receiver that answers one byte at a
    time cannot hold a worker longer than this."""
    return float(value)


@setting("WEBHOOKS_LEASE_SECONDS", default=60, minimum=5)
def lease_seconds(value) -> int:
    """How long a worker's claim on a delivery lasts: a delivery still "in progress" after it (its
    worker was killed) is handed to another. Longer than the timeout (checked at startup)."""
    return int(value)


@setting("WEBHOOKS_ALLOW_LOOPBACK", default=False)
def allow_loopback(value) -> bool:
    """Development and tests only: accept subscription URLs on 127.0.0.1, ::1 or localhost, over
    plain http too. Every other private, link-local or metadata address is refused regardless."""
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


@setting("WEBHOOKS_SECRET_KEY", default="")
def secret_key(value) -> str:
    """The key every subscription's signing secret is derived from (api/webhooks/signing.py);
    empty: Django's SECRET_KEY. Changing it changes every secret: integrators must then take new
    ones (delete and create their subscriptions)."""
    return str(value)


@setting("WEBHOOKS_SECRET_GRACE_SECONDS", default=24 * 3600, minimum=0, maximum=7 * 24 * 3600)
def secret_grace_seconds(value) -> int:
    """After a secret is rotated, how long deliveries are signed with the previous secret too, so
    that receivers can switch without refusing a delivery; 0: the old secret stops at once."""
    return int(value)


@setting("WEBHOOKS_MAX_PER_MINUTE", default=600, minimum=0)
def max_per_minute(value) -> int:
    """Attempts sent to one subscription in any minute, at most (a burst of decisions must not
    flood an integrator's endpoint); those over it wait for the budget, without counting as a
    failed attempt. 0: no limit."""
    return int(value)


@checks.register(checks.Tags.compatibility)
def check_lease_outlasts_attempt(app_configs=None, **kwargs):
    """A claim that lapses while its attempt may still be running lets a second worker send the
    same delivery again."""
    try:
        lease, timeout = lease_seconds(), timeout_seconds()
    except (TypeError, ValueError):
        return []  # core.E001 reports an unreadable value
    if lease > timeout:
        return []
    return [
        checks.Error(
            f"WEBHOOKS_LEASE_SECONDS ({lease}) must be longer than WEBHOOKS_TIMEOUT_SECONDS ({timeout}).",
            hint="A delivery whose claim lapses mid-attempt may be sent twice.",
            id="api.E001",
        )
    ]
