"""Health endpoints for load balancers, on django-health-check's checks and runner.

The library's view answers in whatever format the Accept header asks for, with 500 on any
failure and each check's message in the body. A load balancer wants one format, a status code it
understands, and nothing that helps an attacker. So this view answers JSON only:

    {"status": "ok" | "degraded" | "fail",
     "checks": {"database": {"status": "ok"}, "model": {"status": "degraded", "code": "..."}}}

with 200 while the node can serve (ok or degraded) and 503 when a check failed. A check that
raises a ServiceWarning is "degraded"; any other failure, a timeout or an unexpected error is
"fail". The body carries only check names, states and short codes: the details (hosts, paths,
exception text) go to the log, and no library or server version is ever shown.
"""

from __future__ import annotations

import asyncio
import logging

from django.http import JsonResponse
from django.utils.module_loading import import_string
from health_check.exceptions import HealthCheckException, ServiceUnavailable, ServiceWarning
from health_check.views import HealthCheckView

logger = logging.getLogger(__name__)

OK, DEGRADED, FAIL = "ok", "degraded", "fail"


class Degraded(ServiceWarning):
    """The node still serves, less well than it should (e.g. a fallback model decides)."""

    def __init__(self, message, *, code, **extra):
        super().__init__(message)
        self.code = code
        self.extra = extra


class Failed(ServiceUnavailable):
    """The node should not get traffic."""

    def __init__(self, message, *, code, **extra):
        super().__init__(message)
        self.code = code
        self.extra = extra


def _outcome(error: HealthCheckException | None) -> dict:
    if error is None:
        return {"status": OK}
    state = DEGRADED if isinstance(error, ServiceWarning) else FAIL
    # Only our own checks' codes are public; a library check's message may name a host.
    return {"status": state, "code": getattr(error, "code", "unavailable"), **getattr(error, "extra", {})}


class JsonHealthView(HealthCheckView):
    """`checks` maps a public name to a django-health-check check (dotted path or class, or a
    (check, options) pair). With no checks the view only proves the process answers: nothing
    touches the database, the cache or the disk."""

    checks: dict = {}
    http_method_names = ["get", "head", "options"]

    def get_named_checks(self):
        for name, spec in self.checks.items():
            check, options = spec if isinstance(spec, tuple) else (spec, {})
            if isinstance(check, str):
                check = import_string(check)
            yield name, check(**options)

    def get_checks(self):
        # What the library's `manage.py health_check ENDPOINT --no-http` runs.
        for _name, check in self.get_named_checks():
            yield check

    async def get(self, request, *args, **kwargs):
        named = list(self.get_named_checks())
        with self.get_executor() as executor:
            results = await asyncio.gather(*(check.get_result(executor) for _name, check in named))
        checks = {name: _outcome(result.error) for (name, _check), result in zip(named, results, strict=True)}
        states = {outcome["status"] for outcome in checks.values()}
        status = FAIL if FAIL in states else DEGRADED if DEGRADED in states else OK
        for name, outcome in checks.items():
            if outcome["status"] != OK:
                logger.warning("health check %s: %s", name, outcome)
        body = {"status": status, "checks": checks} if self.checks else {"status": status}
        return JsonResponse(body, status=503 if status == FAIL else 200)
