"""The PostgreSQL backend's health check (core/postgresql): a connection the server ended is
replaced before a request uses it, and a healthy one is checked without a query."""

import select
import time
from unittest import mock

import psycopg
import pytest
from django.db import connection

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's backend"),
]


def _new_request():
    """What Django does when a request starts with CONN_HEALTH_CHECKS: check on first use."""
    connection.health_check_done = False
    connection.close_if_health_check_failed()


def _server_ends(pid):
    params = connection.get_connection_params()
    with psycopg.connect(**{**params, "autocommit": True}) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    # The server's goodbye reaches the socket soon after; wait for it as an idle worker would.
    poller = select.poll()
    poller.register(connection.connection.fileno(), select.POLLIN)
    poller.poll(2000)


def _queries_sent_on(conn):
    """Counts statements sent on the raw connection, Django's own SELECT 1 included."""
    sent = []
    original = type(conn).cursor

    def counting_cursor(self, *args, **kwargs):
        sent.append(args)
        return original(self, *args, **kwargs)

    return sent, mock.patch.object(type(conn), "cursor", counting_cursor)


def test_a_connection_the_server_ended_is_replaced_before_use():
    connection.ensure_connection()
    old_pid = connection.connection.info.backend_pid
    _server_ends(old_pid)

    _new_request()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (new_pid,) = cursor.fetchone()

    assert new_pid != old_pid


def test_a_healthy_connection_is_kept_without_a_round_trip():
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    sent, counting = _queries_sent_on(connection.connection)

    with counting:
        _new_request()

    assert sent == []
    assert connection.connection is not None
    assert connection.connection.info.backend_pid == pid


def test_a_connection_with_unread_messages_gets_the_full_check():
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("LISTEN sentinel_test")
    params = connection.get_connection_params()
    with psycopg.connect(**{**params, "autocommit": True}) as other:
        other.execute("NOTIFY sentinel_test")
    deadline = time.monotonic() + 2
    poller = select.poll()
    poller.register(connection.connection.fileno(), select.POLLIN)
    while not poller.poll(50) and time.monotonic() < deadline:
        pass
    sent, counting = _queries_sent_on(connection.connection)

    with counting:
        _new_request()

    assert len(sent) == 1  # something arrived, so the query decided: still usable
    assert connection.connection.info.backend_pid == pid
