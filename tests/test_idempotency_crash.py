"""A gunicorn worker killed (SIGKILL) in the middle of a request never leaves its Idempotency-Key
stuck: the retry with the same key acts within seconds, and exactly once.

Real gunicorn on the suite's test database (SQLite file or PostgreSQL). The test holds the lock
the request needs to store its payment (the card's row on PostgreSQL, the database's write lock
on SQLite), so the request is caught in the middle, then kills the worker serving it."""

import os
import signal
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction

from accounts.services import api_key_create
from accounts.tests import factories
from tests.servers import Gunicorn, django_env
from transactions.models import Card, Merchant, Transaction
from transactions.tests.factories import integrator_card

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

KEYS = 8
RETRY_FOR = 10  # seconds a retry may keep failing before the key counts as stuck


@pytest.fixture
def server(tmp_path):
    server = Gunicorn(django_env(db_name=str(connection.settings_dict["NAME"])), workers=1, log_dir=tmp_path)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _wait_until_blocked():
    """Until the request waits for the lock the test holds."""
    if connection.vendor != "postgresql":
        time.sleep(0.7)  # SQLite shows no waiters; the request needs milliseconds to get there
        return
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(  # this database's waiters only: parallel tests share the server
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the request never reached the card's lock")


def test_a_worker_killed_mid_request_never_leaves_its_key_stuck(server):
    integrator = factories.integrator()
    secret = api_key_create(owner=integrator, name="kill")[1]
    # The integrator's own card: the one its requests lock (a bank card of the same id is another).
    card = integrator_card(integrator, "card_kill", credit_limit=Decimal("100000.00"))
    Merchant.objects.create(external_id="m_kill")
    headers = {"Authorization": f"Api-Key {secret}", "Content-Type": "application/json"}

    def body(n):
        return {"card_id": "card_kill", "merchant_id": "m_kill", "amount": f"{n + 1}.00"}

    assert server.request("POST", "/api/v1/transactions/", body=body(100), headers=headers)[0] == 201

    released, waits, outcomes = 0, [], []
    for n in range(KEYS):
        key = {"Idempotency-Key": f"kill-{n}"}
        with transaction.atomic():
            Card.objects.select_for_update().get(pk=card.pk)  # SQLite: BEGIN IMMEDIATE locks
            caught = server.connection()
            caught.request("POST", "/api/v1/transactions/", body=_json(body(n)), headers={**headers, **key})
            _wait_until_blocked()
            (worker,) = server.worker_pids()
            os.kill(worker, signal.SIGKILL)
            killed_at = time.monotonic()
        caught.close()

        statuses = []
        while time.monotonic() - killed_at < RETRY_FOR:
            try:
                status, answer, _content = server.request(
                    "POST", "/api/v1/transactions/", body=body(n), headers={**headers, **key}
                )
            except OSError:
                status, answer = None, {}
            statuses.append(status)
            if status == 201:
                released += 1
                waits.append(time.monotonic() - killed_at)
                outcomes.append(answer.get("Idempotent-Replayed", "acted"))
                break
            time.sleep(0.1)
        else:
            outcomes.append(f"stuck: {statuses[-3:]}")

    print(
        f"\nkill -9 mid-request: {released} of {KEYS} keys released; retry acted after "
        f"{min(waits, default=0):.2f}-{max(waits, default=0):.2f} s; outcomes {outcomes}"
    )
    assert released == KEYS, outcomes
    for n in range(KEYS):  # each payment stored once: the killed attempt left nothing behind
        assert Transaction.objects.filter(amount=Decimal(body(n)["amount"])).count() == 1
    assert "Traceback" not in server.log()


def _json(data):
    import json

    return json.dumps(data).encode()
