"""An unreachable database answers 503 with Retry-After, never 500, and service resumes without
a restart. In-process, against a real unreachable server: PostgreSQL on a port nothing listens on,
SQLite in a directory that does not exist. (A real server stopped under gunicorn is in
tests/test_database_outage.py.)"""

import logging
import socket
from contextlib import contextmanager

import pytest
from django.db import OperationalError, connection
from django.test import Client, RequestFactory

from accounts.tests.api_clients import error_of, key_client
from api.errors import json_or_html_500

pytestmark = pytest.mark.django_db(transaction=True)


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # free once closed: nothing listens there


@contextmanager
def database_down():
    connection.close()
    saved = dict(connection.settings_dict)
    if connection.vendor == "postgresql":
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(_closed_port()))
    else:
        connection.settings_dict["NAME"] = "/nonexistent-directory/db.sqlite3"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def _outage_records(caplog):
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/transactions/"),
        ("post", "/api/v1/transactions/"),
        ("get", "/api/v1/me/"),
        ("get", "/api/v1/transactions/4111111111111111/"),
    ],
)
def test_the_api_answers_503_in_its_error_shape_with_one_log_line(integrator, caplog, method, path):
    client = key_client(integrator)
    body = {"card_id": "c1", "merchant_id": "m1", "amount": "5.00"}
    with database_down(), caplog.at_level(logging.INFO):
        response = getattr(client, method)(
            path, body if method == "post" else None, format="json", HTTP_IDEMPOTENCY_KEY="k1"
        )
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert response["Content-Type"] == "application/json"
    assert error_of(response)["code"] == "service_unavailable"
    records = _outage_records(caplog)
    assert len(records) == 1, [r.getMessage() for r in records]
    assert records[0].exc_info is None and "Traceback" not in caplog.text
    assert "4111111111111111" not in caplog.text  # the path is logged, card numbers masked


def test_a_page_answers_a_plain_503_page(customer, caplog):
    client = Client()
    client.force_login(customer)
    with database_down(), caplog.at_level(logging.INFO):
        response = client.get("/dashboard/")
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert response["Content-Type"].startswith("text/html")
    assert "Temporarily unavailable" in response.content.decode()
    assert len(_outage_records(caplog)) == 1 and "Traceback" not in caplog.text


def test_the_503_page_is_translated(customer):
    client = Client(headers={"accept-language": "zh-hans"})
    client.force_login(customer)
    with database_down():
        response = client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 503
    assert '<html lang="zh-hans">' in response.content.decode()


def test_service_resumes_when_the_database_is_back(integrator):
    client = key_client(integrator)
    assert client.get("/api/v1/me/").status_code == 200
    with database_down():
        for _ in range(3):
            assert client.get("/api/v1/me/").status_code == 503
    assert client.get("/api/v1/me/").status_code == 200


def test_a_database_error_outside_a_view_is_a_503_too(caplog):
    """A middleware's query fails outside the view: Django's 500 handler answers it, as a 503."""
    request = RequestFactory().get("/api/v1/me/")
    with caplog.at_level(logging.INFO):
        try:
            raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")
        except OperationalError:
            response = json_or_html_500(request)
    assert response.status_code == 503
    assert response["Retry-After"]
    assert getattr(response, "_has_been_logged", False)  # Django adds no traceback line
    assert len(_outage_records(caplog)) == 1


def test_other_errors_stay_500():
    request = RequestFactory().get("/api/v1/me/")
    try:
        raise ValueError("a bug")
    except ValueError:
        response = json_or_html_500(request)
    assert response.status_code == 500
