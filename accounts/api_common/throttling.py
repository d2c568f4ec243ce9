"""Rate limits per API key (per user for sessions, per address for anonymous callers), with a
rate per scope, counted in the shared cache so every web process sees the same counts."""

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle


class KeyScopedRateThrottle(ScopedRateThrottle):
    def get_rate(self):
        # Read the setting on each request (DRF copies it once at import), so tests and
        # deployments that change rates are honoured.
        rates = api_settings.DEFAULT_THROTTLE_RATES
        return rates.get(self.scope) or rates.get("default")

    def allow_request(self, request, view):
        self.scope = getattr(view, self.scope_attr, None) or "default"
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super(ScopedRateThrottle, self).allow_request(request, view)

    def get_cache_key(self, request, view):
        key = request.auth
        if key is not None and hasattr(key, "prefix"):
            ident = f"key:{key.prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
