"""Integrators authenticate with `Authorization: Api-Key <prefix>.<secret>`; people using the
browsable API with their session."""

import hashlib
from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.models import IntegratorKey
from api.permissions import roles_of_user
from api.throttling import AuthFailureThrottle
from core.cache import TTLCache

KEYWORD = "Api-Key"
# Recording the last use on every request would add a write to each decision.
LAST_USED_RESOLUTION = timedelta(minutes=1)

# Checking a key costs two queries (the key with its owner, the owner's roles) and a hash, on
# every decision. A verified key is therefore remembered by this process for a few seconds.
# Revoking or deleting a key, or changing a user or their roles, forgets every key in this
# process at once; other processes follow within KEY_CACHE_SECONDS.
KEY_CACHE_SECONDS = 5.0
_verified = TTLCache(ttl=KEY_CACHE_SECONDS)  # sha256 of the secret -> (key, roles of its owner)


def forget_verified_keys(**kwargs):
    """Receiver of a changed key, user or role (connected in ApiConfig.ready)."""
    _verified.clear()


def _verify(secret):
    """(key, roles of its owner) for a usable key, else raises IntegratorKey.DoesNotExist."""
    digest = hashlib.sha256(secret.encode()).hexdigest()
    cached = _verified.get(digest)
    if cached is not None:
        return cached
    key = IntegratorKey.objects.get_from_key(secret)
    roles = roles_of_user(key.owner)
    _verified.set(digest, (key, roles))
    return key, roles


class IntegratorKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode("latin-1").lower() != KEYWORD.lower():
            return None
        # An address over its limit of failed attempts may not try another key for a while.
        AuthFailureThrottle().check(request)
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Send the header as `Authorization: Api-Key <key>`."))
        try:
            key, roles = _verify(header[1].decode("ascii"))
        except (UnicodeDecodeError, IntegratorKey.DoesNotExist):
            raise exceptions.AuthenticationFailed(_("This API key is not valid or was revoked.")) from None
        if key.has_expired:
            raise exceptions.AuthenticationFailed(_("This API key has expired."))
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            IntegratorKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        request._api_roles = roles  # what the permission checks read (one lookup per key)
        return key.owner, key

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) to unauthenticated requests.
        return KEYWORD


class IntegratorKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.IntegratorKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`. Create keys on your integrator page (Account → API keys); "
            "a key is shown once.",
        }
