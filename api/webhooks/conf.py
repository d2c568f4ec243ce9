"""Settings of webhooks, each declared with its default and bounds (core.conf)."""

from core.conf import setting


@setting("WEBHOOKS_TIMEOUT_SECONDS", default=5.0, minimum=0.1, maximum=30)
def timeout_seconds(value) -> float:
    """How long one delivery waits to connect, and then for each read of the answer."""
    return float(value)


@setting("WEBHOOKS_LEASE_SECONDS", default=60, minimum=5)
def lease_seconds(value) -> int:
    """How long a worker's claim on a delivery lasts: a delivery still "in progress" after it (its
    worker was killed) is handed to another. Longer than the timeout's two waits."""
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
    """The key every subscription's signing secret is derived from (api/webhooks/secrets.py);
    empty: Django's SECRET_KEY. Changing it changes every secret: integrators must then take new
    ones (delete and create their subscriptions)."""
    return str(value)
