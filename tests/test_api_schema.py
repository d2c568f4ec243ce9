"""The OpenAPI document: valid with no warnings, and true to the API (property-based fuzzing)."""

import json
import re

import pytest
import schemathesis
import yaml
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.tests import factories as users
from accounts.tests.api_clients import key_client


def test_schema_generates_and_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    paths = set(schema["paths"])
    assert {"/api/v1/transactions/", "/api/v1/decisions/score", "/api/v1/batches/", "/api/v1/me/"} <= paths
    create = schema["paths"]["/api/v1/transactions/"]["post"]
    # Integrators integrate from this: examples, every error documented, the idempotency header.
    assert {"201", "400", "401", "403", "409", "422", "429"} <= set(create["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    assert create["requestBody"]["content"]["application/json"]["examples"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            errors = {code for code in operation["responses"] if code.startswith("4")}
            assert "401" in errors, (method, path)
            assert operation.get("summary"), (method, path)


def test_schema_passes_a_strict_openapi_validator():
    from openapi_spec_validator import OpenAPIV30SpecValidator

    errors = [
        str(error).splitlines()[0] for error in OpenAPIV30SpecValidator(_openapi_document()).iter_errors()
    ]

    assert errors == []


def test_schema_says_what_the_api_enforces():
    schema = _openapi_document()
    create = schema["paths"]["/api/v1/transactions/"]["post"]
    key = next(p for p in create["parameters"] if p["name"] == "Idempotency-Key")
    assert (key["schema"]["minLength"], key["schema"]["maxLength"]) == (1, 255)
    amount = schema["components"]["schemas"]["TransactionInputRequest"]["properties"]["amount"]
    number = next(s for s in amount["oneOf"] if s["type"] == "number")
    assert number["minimum"] == 0 and number["exclusiveMinimum"] is True and number["maximum"] == 1_000_000
    text = next(s for s in amount["oneOf"] if s["type"] == "string")
    assert re.fullmatch(text["pattern"].strip("^$"), "0.01") and not re.fullmatch(
        text["pattern"].strip("^$"), "0.00"
    )
    for path in ["/api/v1/transactions/", "/api/v1/reports/", "/api/v1/models/"]:
        size = next(p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "page_size")
        assert size["schema"] == {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, path


@pytest.mark.django_db
@pytest.mark.parametrize("size", ["0", "201", "-1", "abc", "５", "9" * 50])
def test_page_sizes_outside_the_schema_are_400(size):
    client = key_client(users.integrator())
    response = client.get("/api/v1/transactions/", {"page_size": size})
    assert response.status_code == 400
    assert "page_size" in response.json()["error"]["fields"]


@pytest.mark.django_db
def test_schema_is_served(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/transactions/" in response.content


def _openapi_document():
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


fuzzed = schemathesis.openapi.from_dict(_openapi_document())
fuzzed.app = get_wsgi_application()


@pytest.fixture
def wsgi_keeps_the_test_connection(db):
    # As Django's test client does: the WSGI handler would otherwise close the test's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def admin_key(db):
    # A superuser holds every role, so every operation is reachable with one key.
    return key_client(users.UserFactory(is_superuser=True, is_staff=True, roles=[])).secret


@pytest.mark.slow
@fuzzed.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_fuzzing_no_server_errors_and_responses_match_the_schema(
    case, admin_key, wsgi_keeps_the_test_connection
):
    case.call_and_validate(
        headers={"Authorization": f"Api-Key {admin_key}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
