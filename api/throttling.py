"""Rate limits per API key (per user for sessions, per address for anonymous callers), with a
rate per scope, counted where every web process sees the same counts: in Redis when REDIS_URL
is set, else in the database (`api.ThrottleCount`), never in one process's memory.

DRF's own throttles keep the time of every request of the window in one cache entry, read and
written whole on each request: at a rate of thousands a minute that is a list of thousands of
floats pickled twice per decision. Here each key has one counter per window instead, and the
limit applies to a sliding window estimated from the current and the previous counters (the
previous one weighted by how much of it still lies in the last `duration` seconds): constant
work per request, and no burst of twice the rate at a window's edge.

In the database a request costs one statement: an upsert that adds one only while the count is
under what the window still allows, and returns nothing when it is not (so refused requests are
not counted, as with DRF). The previous window's count no longer changes, so each process reads
it once per window. Django's DatabaseCache would cost several queries per request, and its
`incr` is a read then a write that loses counts under concurrency.

Failed authentication is limited too (`auth_failures`): DRF authenticates before it throttles,
so a request with a bad key never reached the limit above. 401s are counted per client address
(API_NUM_PROXIES says how many proxies' X-Forwarded-For entries to trust; 0 by default, so a
client cannot pick its own address), and over the `auth_failure` rate they become 429.
"""

import hashlib
import math
import time

from django.core.cache import cache as default_cache
from django.db import connection
from rest_framework.exceptions import Throttled
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle

from api.models import ThrottleCount
from core import conf
from core.cache import TTLCache, on_clear_all

AUTH_FAILURE_SCOPE = "auth_failure"
PURGE_EVERY_SECONDS = 60.0
FINISHED_WINDOW_SECONDS = 2 * 3600  # the longest rate window is an hour
_MAX_KEY = 200


def _rates():
    return api_settings.DEFAULT_THROTTLE_RATES


def _store():
    return _CACHE if conf.redis_url() else _DATABASE


class _CacheCounts:
    """Counters in the shared cache (Redis): atomic INCR, entries expire on their own."""

    def __init__(self):
        self._previous = _finished_windows()

    def previous(self, key):
        return self._previous.get_or_load(key, lambda: default_cache.get(key, 0))

    def hit(self, key, *, ceiling, expires_in):
        """Count one request unless the window's count has reached `ceiling`; True if counted."""
        try:
            count = default_cache.incr(key)
        except ValueError:  # the window's first request
            if default_cache.add(key, 1, timeout=expires_in):
                return True
            count = default_cache.incr(key)  # another process created it meanwhile
        if count > ceiling:
            default_cache.decr(key)  # refused requests are not counted
            return False
        return True


def _finished_windows():
    """The counts of finished windows: they no longer change, so each process reads one once."""
    return TTLCache(ttl=FINISHED_WINDOW_SECONDS, max_entries=10_000)


class _DatabaseCounts:
    """Counters in `api.ThrottleCount`, shared by every process using the database."""

    def __init__(self):
        self._previous = _finished_windows()
        self._purged_at = 0.0
        self._sql = {}

    def _statement(self):
        sql = self._sql.get(connection.vendor)
        if sql is None:
            table, q = connection.ops.quote_name(ThrottleCount._meta.db_table), connection.ops.quote_name
            sql = self._sql[connection.vendor] = (
                f"INSERT INTO {table} ({q('key')}, {q('count')}, {q('expires_at')}) VALUES (%s, 1, %s) "  # noqa: S608 - names from our model, values as parameters
                f"ON CONFLICT ({q('key')}) DO UPDATE SET {q('count')} = {table}.{q('count')} + 1 "
                f"WHERE {table}.{q('count')} < %s RETURNING {q('count')}"
            )
        return sql

    def previous(self, key):
        return self._previous.get_or_load(
            key, lambda: ThrottleCount.objects.filter(key=key).values_list("count", flat=True).first() or 0
        )

    def hit(self, key, *, ceiling, expires_in):
        now = time.time()
        with connection.cursor() as cursor:
            cursor.execute(self._statement(), [key, int(now + expires_in), ceiling])
            counted = cursor.fetchone() is not None
        if now - self._purged_at > PURGE_EVERY_SECONDS:
            self._purged_at = now
            ThrottleCount.objects.filter(expires_at__lt=int(now)).delete()
        return counted


_CACHE, _DATABASE = _CacheCounts(), _DatabaseCounts()


def _stored_key(text):
    return text if len(text) <= _MAX_KEY else "h:" + hashlib.sha256(text.encode()).hexdigest()


class _SlidingWindow:
    """One request against `num_requests` per `duration` seconds for `key`, sliding."""

    def __init__(self, *, key, num_requests, duration, now):
        self.key, self.num_requests, self.duration, self.now = key, num_requests, duration, now
        self.window = int(now // duration)
        self.wait_seconds = None

    def allow(self):
        store = _store()
        previous = store.previous(_stored_key(f"{self.key}:{self.window - 1}"))
        still_counted = 1 - (self.now - self.window * self.duration) / self.duration  # of the previous
        # Allowed while previous * still_counted + current < num_requests, current a whole number.
        ceiling = math.ceil(self.num_requests - previous * still_counted - 1e-9)
        if ceiling > 0 and store.hit(
            _stored_key(f"{self.key}:{self.window}"), ceiling=ceiling, expires_in=2 * self.duration
        ):
            return True
        # When enough of the previous window has slid out (or, failing that, this one ends).
        window_left = (self.window + 1) * self.duration - self.now
        if previous:
            excess = previous * still_counted + max(ceiling, 0) - self.num_requests + 1
            self.wait_seconds = min(excess / previous * self.duration, window_left)
        else:
            self.wait_seconds = window_left
        return False


class KeyScopedRateThrottle(ScopedRateThrottle):
    def get_rate(self):
        # Read the setting on each request (DRF copies it once at import), so tests and
        # deployments that change rates are honoured.
        rates = _rates()
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
        window = _SlidingWindow(
            key=key, num_requests=self.num_requests, duration=self.duration, now=self.timer()
        )
        if window.allow():
            return True
        self.wait_seconds = window.wait_seconds
        return False

    def wait(self):
        return max(1, math.ceil(getattr(self, "wait_seconds", None) or self.duration))

    def get_cache_key(self, request, view):
        key = request.auth
        if key is not None and hasattr(key, "prefix"):
            ident = f"key:{key.prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AuthFailureThrottle(SimpleRateThrottle):
    """Failed authentications (401) per client address. `record` counts one and says whether it
    went over the limit; `check` refuses, before a key is even looked up, an address this process
    has already seen over the limit (other processes learn it at their next failure from it)."""

    scope = AUTH_FAILURE_SCOPE
    _blocked_until: dict = {}

    def __init__(self):  # the rate is read per request, as for KeyScopedRateThrottle
        self.rate = _rates().get(self.scope)
        self.num_requests, self.duration = self.parse_rate(self.rate) if self.rate else (None, None)

    def _key(self, request):
        return f"throttle_{self.scope}_ip:{self.get_ident(request)}"

    def check(self, request):
        until = self._blocked_until.get(self.get_ident(request))
        if until is not None:
            wait = until - self.timer()
            if wait > 0:
                raise Throttled(wait=max(1, math.ceil(wait)))
            self._blocked_until.pop(self.get_ident(request), None)

    def record(self, request):
        """Count a failure; returns the seconds to wait when this one is over the limit, else None."""
        if self.rate is None:
            return None
        now = self.timer()
        window = _SlidingWindow(
            key=self._key(request), num_requests=self.num_requests, duration=self.duration, now=now
        )
        if window.allow():
            return None
        wait = max(1, math.ceil(window.wait_seconds))
        if len(self._blocked_until) > 10_000:
            self._blocked_until.clear()
        self._blocked_until[self.get_ident(request)] = now + wait
        return wait


@on_clear_all
def forget_throttle_state():
    """The addresses this process saw blocked (core.cache.clear_all; the counts are TTLCaches)."""
    AuthFailureThrottle._blocked_until.clear()


def rate_limit_wait(*, key: str, num_requests: int, duration: float) -> float | None:
    """Count one event of `key` against `num_requests` per `duration` seconds (sliding, in the
    store every process shares: Redis or the database). None when it is within the limit, and
    counted; otherwise the seconds until it would be (not counted). Used outside requests, e.g.
    by the webhook worker to spread one endpoint's deliveries."""
    window = _SlidingWindow(key=key, num_requests=num_requests, duration=duration, now=time.time())
    return None if window.allow() else max(window.wait_seconds or 0.0, 0.0)
