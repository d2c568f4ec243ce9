"""Fuzzing every address of the site: each URL pattern of Django's resolver with every path
parameter replaced by hostile values (NUL, control characters, lone surrogates and invalid UTF-8
percent-encoded, non-ASCII digits, huge numbers, very long strings), and the query parameters of
the API's lists and of the admin's changelists and dashboards likewise, as an analyst, an
integrator, a customer and a superuser. No answer may be a 500; under /api/ every error is in
the one error shape. (tests/test_api_schema.py fuzzes the API's bodies from its OpenAPI schema.)"""

import logging
import re
from urllib.parse import quote

import pytest
from django.contrib import admin
from django.urls import URLResolver, get_resolver

from accounts.tests import factories as users
from accounts.tests.api_clients import key_client, session_client
from transactions.tests.factories import FraudReportFactory, TransactionFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

# Already percent-encoded, as they travel in an address.
HOSTILE = [
    "%00",  # NUL
    "a%00b",
    "%01",
    "%0A",  # line feed
    "%1B%5B31m",  # an escape sequence
    "%7F",  # DEL
    "%C2%85",  # a C1 control
    "%ED%A0%80",  # a lone surrogate (U+D800) as UTF-8 bytes: invalid UTF-8
    "%ED%BF%BF",
    "%FF%FE",  # not UTF-8 at all
    "%C2%B9",  # superscript one: '¹'.isdigit() is True
    "%EF%BC%94%EF%BC%92",  # fullwidth 42
    "%D9%A4%D9%A2",  # Arabic-Indic 42
    "-1",
    "0",
    "9" * 25,  # beyond 64-bit integers
    "9" * 4100,  # int() refuses over 4300 digits; with the path, beyond the address limit
    "1e999",
    "NaN",
    "a" * 3000,  # a very long string, under the address limit
    "%25",
    "..%2F..%2Fetc%2Fpasswd",
    "%22%3E%3Cscript%3E",
    "00000000-0000-0000-0000-000000000000",
]
# Query parameters of the API's lists, of pagination, and of the admin's pages.
API_QUERY = ["card", "merchant", "decision", "status", "occurred_after", "occurred_before", "source",
             "page_size", "cursor", "format"]  # fmt: skip
ADMIN_QUERY = ["q", "o", "p", "e", "all", "_popup", "_to_field", "_changelist_filters", "version", "days",
               "mine", "status__exact", "created_at__gte", "created_at__lt", "id__in", "card__id__exact",
               "groups__id__exact", "is_active__exact", "decision__exact", "status", "source__exact"]  # fmt: skip


def _routes():
    """(route with {param} holes, names of the params) for every pattern of the resolver."""

    def walk(patterns, prefix):
        for pattern in patterns:
            text = str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + text)
            else:
                yield prefix + text

    routes = []
    for raw in walk(get_resolver().url_patterns, ""):
        route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", raw)  # path("<int:pk>/") converters
        route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)  # re_path named groups
        route = route.replace("^", "").replace("$", "")
        if re.search(r"[()\[\]*+?\\|]", route):
            continue  # a regular expression we cannot fill (none today)
        routes.append((route, re.findall(r"{(\w+)}", route)))
    return routes


ROUTES = _routes()


def _sample(name, objects):
    """A value that exists, for the parameters not being fuzzed."""
    return {"app_label": "transactions", "prefix": "nope", "version": "v1"}.get(name, str(objects["tx"].pk))


@pytest.fixture
def objects():
    tx = TransactionFactory()
    FraudReportFactory(transaction=tx)
    return {"tx": tx}


@pytest.fixture
def clients():
    integrator = key_client(users.integrator())
    return {
        "analyst": session_client(users.analyst()),
        "integrator": integrator,
        "customer": session_client(users.customer()),
        "superuser": session_client(users.UserFactory(is_superuser=True, is_staff=True, roles=[])),
    }


def _check(response, method, url, failures):
    if response.status_code >= 500:
        failures.append(f"{response.status_code} {method} {url[:200]}")
        return
    if url.startswith("/api/v1/") and response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            failures.append(f"not JSON: {response.status_code} {method} {url[:200]}")
            return
        error = body.get("error") if isinstance(body, dict) else None
        if not (isinstance(error, dict) and set(error) == {"code", "message", "fields"}):
            failures.append(f"not the error shape: {response.status_code} {method} {url[:200]} {body}")


# The admin's pages are the same code for every model: every value on two models, a sample on
# the others, so the test stays within a minute or two per role.
FULL_ADMIN = (
    "admin/transactions/transaction/",
    "admin/detection/modelversion/",
    "admin/detection/retrainingrun/",
)
SAMPLE = ["%00", "%0A", "%ED%A0%80", "%C2%B9", "%EF%BC%94%EF%BC%92", "9" * 25, "a" * 3000]


API_LISTS = ("api/v1/transactions/", "api/v1/reports/", "api/v1/models/", "api/v1/keys/")


def _is_admin_page(route):
    """A changelist or a dashboard: the admin pages that read query parameters."""
    return route.count("/") == 3 or "dashboard" in route or route.endswith("queue/")


def _values(route):
    if route.startswith("admin/") and not route.startswith(FULL_ADMIN):
        return SAMPLE
    return HOSTILE


def _requests(objects, *, admin_pages):
    """(method, url) pairs: every route with each parameter fuzzed, then the query parameters."""
    for route, params in ROUTES:
        if route.startswith("admin/") and not admin_pages:
            continue
        for fuzzed in params:
            for value in _values(route):
                filled = {name: value if name == fuzzed else _sample(name, objects) for name in params}
                url = "/" + route.format(**filled)
                yield "get", url
                if route.startswith("api/v1/") and fuzzed in ("id", "pk", "version", "prefix"):
                    yield "post", url
                    yield "delete", url
    for route, params in ROUTES:
        if params or "logout" in route or not route.startswith(("api/v1/", "admin/")):
            continue
        if route.startswith("admin/") and not admin_pages:
            continue
        if route.startswith("api/"):
            full = route in API_LISTS
            names, values = (API_QUERY, HOSTILE) if full else (API_QUERY[:2], SAMPLE)
        elif "dashboard" in route:  # charts are drawn on each request: the parameters they read
            names, values = ["version", "days", "q"], HOSTILE
        elif _is_admin_page(route):
            full = route in FULL_ADMIN
            names, values = (ADMIN_QUERY[:12], HOSTILE) if full else (ADMIN_QUERY[:6], SAMPLE)
        else:
            names, values = ["q"], SAMPLE
        for name in names:
            for value in values:
                yield "get", f"/{route}?{quote(name)}={value}"
        yield "get", f"/{route}?%00=1"


# The superuser's walk (the admin's pages) is the long one: in three shares, which parallel test
# workers can take at once.
SHARES = 3


@pytest.mark.parametrize(
    ("role", "share"),
    [("analyst", 0), ("integrator", 0), ("customer", 0), *(("superuser", n) for n in range(SHARES))],
)
def test_no_address_gives_a_500(role, share, clients, objects, record_property, caplog):
    caplog.set_level(logging.CRITICAL)  # thousands of 4xx warnings and refused admin lookups
    client = clients[role]
    client.raise_request_exception = False
    failures, count = [], 0
    requests = list(_requests(objects, admin_pages=role == "superuser"))
    if role == "superuser":
        requests = requests[share::SHARES]
    for method, url in requests:
        if method == "get":
            response = client.get(url)
        else:
            response = getattr(client, method)(url, {}, format="json") if role == "integrator" else None
            if response is None:
                response = getattr(client, method)(url, {}, content_type="application/json")
        count += 1
        _check(response, method, url, failures)
    record_property("requests", count)
    print(f"fuzzed {count} requests as {role}")
    assert count > 1000
    assert failures == [], "\n".join(failures[:50])


def test_every_admin_changelist_and_route_is_covered():
    routes = {route for route, _params in ROUTES}
    for model in admin.site._registry:
        assert f"admin/{model._meta.app_label}/{model._meta.model_name}/" in routes
    assert "api/v1/transactions/{id}/" in routes and "api/v1/keys/{prefix}/" in routes
