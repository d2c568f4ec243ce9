"""Integrators authenticate with `Authorization: Api-Key <prefix>.<secret>`; people using the
browsable API with their session."""

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.models import IntegratorKey

KEYWORD = "Api-Key"
# Recording the last use on every request would add a write to each decision.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class IntegratorKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode("latin-1").lower() != KEYWORD.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Send the header as `Authorization: Api-Key <key>`."))
        try:
            secret = header[1].decode("ascii")
            key = IntegratorKey.objects.get_from_key(secret)
        except (UnicodeDecodeError, IntegratorKey.DoesNotExist):
            raise exceptions.AuthenticationFailed(_("This API key is not valid or was revoked.")) from None
        if key.has_expired:
            raise exceptions.AuthenticationFailed(_("This API key has expired."))
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            IntegratorKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return key.owner, key

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) to unauthenticated requests.
        return KEYWORD


class IntegratorKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api_common.auth.IntegratorKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`. Create keys on your integrator page (Account → API keys); "
            "a key is shown once.",
        }
