"""Signing secrets and signatures. A subscription's secret is `whsec_` + base64 of 32 bytes, as Standard Webhooks
libraries expect. It is shown once, when the subscription is made, and never stored: the table
keeps a random salt, and the secret is HMAC-SHA256(WEBHOOKS_SECRET_KEY, salt), derived again for
each delivery. A copy of the database alone therefore does not let anyone sign as us, and, unlike
an API key (of which only a hash is kept), the secret can still be recovered to sign.

Rotation, as Standard Webhooks describes it: while the previous secret is in its grace period a
delivery carries two signatures in `webhook-signature`, space-separated (`v1,<new> v1,<old>`);
a receiver's library accepts the header when any one of them matches its secret, so receivers
still on the old secret and those already on the new one both verify."""

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

from django.conf import settings
from django.views.decorators.debug import sensitive_variables
from standardwebhooks import Webhook

from api.webhooks import conf

PREFIX = "whsec_"


def new_salt() -> str:
    return secrets.token_hex(32)


@sensitive_variables("key", "raw")
def signing_secret(salt: str) -> str:
    key = (conf.secret_key() or settings.SECRET_KEY).encode()
    raw = hmac.new(key, b"webhook-signing-secret:" + salt.encode(), hashlib.sha256).digest()
    return PREFIX + base64.b64encode(raw).decode()


@sensitive_variables("salts")
def signature_headers(
    *, salt: str, event_id: str, timestamp: datetime, body: str, previous_salt: str | None = None
) -> dict:
    """The three Standard Webhooks headers of one attempt, signed by the reference library: with
    the current secret, and also with the previous one while it is in its grace period."""
    salts = [salt] if not previous_salt else [salt, previous_salt]
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(
            Webhook(signing_secret(s)).sign(event_id, timestamp, body) for s in salts
        ),
    }
