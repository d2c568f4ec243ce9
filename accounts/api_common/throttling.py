"""Rate limits per API key (per user for sessions, per address for anonymous callers), with a
rate per scope, counted in the shared cache so every web process sees the same counts.

DRF's own throttles keep the time of every request of the window in one cache entry, read and
written whole on each request: at a rate of thousands a minute that is a list of thousands of
floats pickled twice per decision. Here each key has one counter per window instead, and the
limit applies to a sliding window estimated from the current and the previous counters (the
previous one weighted by how much of it still lies in the last `duration` seconds): constant
work per request, and no burst of twice the rate at a window's edge.
"""

import math

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
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        current, previous = f"{key}:{window}", f"{key}:{window - 1}"
        counts = self.cache.get_many([current, previous])
        still_counted = 1 - (now - window * self.duration) / self.duration  # of the previous window
        used = counts.get(previous, 0) * still_counted + counts.get(current, 0)
        if used >= self.num_requests:
            # When enough of the previous window has slid out (or, failing that, this one ends).
            excess = used - self.num_requests + 1
            previous_count = counts.get(previous, 0)
            self.wait_seconds = (
                min(excess / previous_count * self.duration, (window + 1) * self.duration - now)
                if previous_count
                else (window + 1) * self.duration - now
            )
            return False
        self._count(current)
        return True

    def _count(self, key):
        try:
            self.cache.incr(key)
        except ValueError:  # the window's first request
            if not self.cache.add(key, 1, timeout=2 * self.duration):
                self.cache.incr(key)  # another process created it meanwhile

    def wait(self):
        return max(1, math.ceil(getattr(self, "wait_seconds", self.duration)))

    def get_cache_key(self, request, view):
        key = request.auth
        if key is not None and hasattr(key, "prefix"):
            ident = f"key:{key.prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
