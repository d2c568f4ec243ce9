"""Idempotency-Key on POST /transactions/: retries never decide twice, and no key is ever stuck.

The kill -9 of a gunicorn worker and the database stop are in tests/test_idempotency_crash.py and
tests/test_database_outage.py; these tests run in-process."""

import json
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tests import factories as users
from accounts.tests.api_clients import error_of, key_client
from api.idempotency import TTL, idempotency_records_purge, key_problem
from api.models import IdempotencyRecord
from transactions.models import Card, Transaction

URL = "/api/v1/transactions/"
BODY = {"card_id": "card_idem", "merchant_id": "m_idem", "amount": "12.34"}


def post(client, key, body=BODY):
    return client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def post_raw(client, key, raw):
    """A body sent as typed, for what json.dumps would not write (lone surrogates)."""
    return client.post(URL, raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
def test_same_key_and_body_replays_the_first_response_byte_for_byte(integrator):
    client = key_client(integrator)
    first = post(client, "k1", {**BODY, "merchant_name": "Café «Zürich» 東京"})
    again = post(client, "k1", {**BODY, "merchant_name": "Café «Zürich» 東京"})
    assert first.status_code == again.status_code == 201
    # The bytes the client got, not the same data re-encoded: PostgreSQL's jsonb used to hand the
    # keys back in its own order.
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Transaction.objects.count() == 1


@pytest.mark.django_db
def test_a_refusal_records_nothing_and_the_corrected_body_may_use_the_key(integrator):
    client = key_client(integrator)
    bad = {**BODY, "occurred_at": "2999-01-01T00:00:00Z"}
    first, again = post(client, "k-bad", bad), post(client, "k-bad", bad)
    assert first.status_code == again.status_code == 400
    assert again.json() == first.json()
    assert not IdempotencyRecord.objects.exists()
    fixed = post(client, "k-bad")
    assert fixed.status_code == 201
    assert "Idempotent-Replayed" not in fixed


BAD_BODIES = {
    "NUL in merchant_name": json.dumps({**BODY, "merchant_name": "Shop\x00"}),
    "NUL in card_id": json.dumps({**BODY, "card_id": "card\x00x"}),
    "NUL in channel": json.dumps({**BODY, "channel": "online\x00"}),
    "lone surrogate in channel": '{"card_id": "card_idem", "merchant_id": "m_idem", "amount": "1", '
    '"channel": "\\ud800"}',
    "lone surrogate in merchant_name": '{"card_id": "card_idem", "merchant_id": "m_idem", "amount": "1", '
    '"merchant_name": "x\\udfff"}',
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("raw", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_body_with_nul_or_a_lone_surrogate_never_leaves_the_key_stuck(integrator, raw):
    """These bodies gave a 500 and then 409 `in_flight` for a day: whatever the first answer,
    the key is free again at once."""
    client = key_client(integrator)
    client.raise_request_exception = False
    first = post_raw(client, "k-nul", raw)
    assert not 200 <= first.status_code < 300
    again = post_raw(client, "k-nul", raw)
    assert again.status_code != 409
    fixed = post(client, "k-nul")
    assert fixed.status_code == 201, fixed.content
    assert Transaction.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_response_recorded_in_a_transaction_that_then_fails_is_not_kept(integrator, monkeypatch):
    """The record is written inside the transaction that stores the payment; if that transaction
    fails afterwards, neither the payment nor the record is kept, so a retry acts."""
    from django.core.exceptions import ValidationError

    from api import idempotency
    from transactions import api

    def record_then_fail(request, response):
        idempotency.record_response(request, response)
        raise ValidationError({"amount": "Storage failed after the response was recorded."})

    monkeypatch.setattr(api, "record_response", record_then_fail)
    client = key_client(integrator)
    assert post(client, "k-rollback").status_code == 400
    assert not Transaction.objects.exists()
    assert not IdempotencyRecord.objects.exists()
    monkeypatch.undo()
    again = post(client, "k-rollback")
    assert again.status_code == 201
    assert Transaction.objects.count() == 1


@pytest.mark.django_db
def test_same_key_with_another_body_is_422(integrator):
    client = key_client(integrator)
    post(client, "k2")
    response = post(client, "k2", {**BODY, "amount": "99.00"})
    assert response.status_code == 422
    assert error_of(response)["code"] == "idempotency_key_reused"
    assert Transaction.objects.count() == 1


@pytest.mark.django_db
def test_keys_expire_after_24_hours(integrator):
    client = key_client(integrator)
    post(client, "k4", {**BODY, "transaction_id": "tx_old"})
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    response = post(client, "k4", {**BODY, "transaction_id": "tx_new"})
    assert response.status_code == 201
    assert response.json()["transaction_id"] == "tx_new"
    assert IdempotencyRecord.objects.count() == 1  # the expired record was replaced


@pytest.mark.django_db
def test_keys_belong_to_their_integrator(integrator):
    mine, theirs = key_client(integrator), key_client(users.integrator())
    post(mine, "shared")
    response = post(theirs, "shared")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Transaction.objects.count() == 2


BAD_KEYS = {
    "empty": "",
    "blank": "   ",
    "overlong": "x" * 256,
    "NUL": "key\x00",
    "control character": "key\x01",
    "tab": "a\tb",
    "line break": "a\nb",
    "DEL": "key\x7f",
    "lone surrogate": "key\ud800",
    "card number": "4111111111111111",
    "card number with dashes": "4111-1111-1111-1111",
    "card number inside": "order_4111 1111 1111 1111_retry",
    "card number in fullwidth digits": "４１１１１１１１１１１１１１１１",
    "Amex glued to letters": "card378282246310005x",
}


@pytest.mark.django_db
@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_a_bad_key_is_refused_before_anything_is_stored(integrator, key):
    response = post(key_client(integrator), key)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert "Idempotency-Key" in error["fields"]
    assert "4111" not in response.content.decode()  # the key is not echoed back
    assert not IdempotencyRecord.objects.exists()
    assert not Transaction.objects.exists()


def test_random_uuids_are_never_mistaken_for_card_numbers():
    """Their digit runs, glued across dashes, once passed the card-number check one time in 700
    (a refused request every few seconds at 300/s)."""
    keys = [str(uuid.uuid4()) for _ in range(20_000)]
    assert [key for key in keys if key_problem(key) or key_problem(key.upper())] == []


@pytest.mark.django_db
def test_a_good_key_may_be_long_and_hold_any_printable_text(integrator):
    client = key_client(integrator)
    for key in ("x" * 255, "order 2026-11-24T10:00:00Z #17", "ключ-東京-é"):
        assert post(client, key, {**BODY, "amount": str(len(key))}).status_code == 201


@pytest.mark.django_db(transaction=True)
def test_two_requests_with_one_key_waiting_at_the_same_lock_act_once(decision_is, integrator):
    """Both requests have checked that the key is new and decided; they meet at the lock that
    stores the payment (the card's row on PostgreSQL, the database's write lock on SQLite). One
    stores the payment, the other rolls back and answers with the first one's response."""
    decision_is("approve")
    card = Card.objects.create(
        external_id=Card.key_for("card_idem", issuer_id=integrator.pk),
        issuer=integrator,
        credit_limit=Decimal("1000.00"),
    )
    client = key_client(integrator)
    post(client, "warm-up", {**BODY, "amount": "1.00"})  # the merchant exists: no other lock
    secret, results = client.secret, []

    def send():
        other = APIClient()
        other.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
        try:
            results.append(post(other, "same", {**BODY, "amount": "10.00"}))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    with transaction.atomic():
        Card.objects.select_for_update().get(pk=card.pk)  # SQLite: BEGIN IMMEDIATE already locks
        for thread in threads:
            thread.start()
        _wait_for_lock_waiters(2)
    for thread in threads:
        thread.join(30)

    assert sorted(r.status_code for r in results) == [201, 201]
    assert [r.has_header("Idempotent-Replayed") for r in results].count(True) == 1
    assert results[0].content == results[1].content
    assert Transaction.objects.filter(amount=Decimal("10.00")).count() == 1
    card.refresh_from_db()
    assert card.balance == Decimal("11.00")


def _wait_for_lock_waiters(count, timeout=10):
    if connection.vendor != "postgresql":
        time.sleep(1.0)  # SQLite shows no waiters; the requests need milliseconds to get there
        return
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0] >= count:
                return
            time.sleep(0.02)
    raise AssertionError("the requests never reached the lock")


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_decide_each_payment_exactly_once(decision_is):
    """Eight threads send twelve payments, each payment by three threads at once with the same
    key (retrying on 409): twelve transactions, no duplicate, none lost, balance exact."""
    decision_is("approve")
    integrator = users.integrator()
    card = Card.objects.create(
        external_id=Card.key_for("card_idem", issuer_id=integrator.pk),
        issuer=integrator,
        credit_limit=Decimal("100000.00"),
    )
    payments = {f"pay-{n}": {**BODY, "amount": f"{n + 1}.25"} for n in range(12)}
    work = [key for key in payments for _copy in range(3)]
    secret = key_client(integrator).secret
    results, lock = [], threading.Lock()
    barrier = threading.Barrier(8)

    def worker(index):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
        barrier.wait()
        try:
            for key in work[index::8]:
                for _attempt in range(200):
                    response = post(client, key, payments[key])
                    if response.status_code != 409:
                        break
                    time.sleep(0.01)
                with lock:
                    results.append((key, response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == len(work)
    assert {status for _key, status, _body in results} == {201}
    by_key = {}
    for key, _status, body in results:
        by_key.setdefault(key, set()).add(body["transaction_id"])
    assert all(len(ids) == 1 for ids in by_key.values()), "one transaction per key"
    stored = Transaction.objects.filter(submitted_by=integrator)
    assert stored.count() == len(payments)
    assert set(stored.values_list("external_id", flat=True)) == set().union(*by_key.values())
    expected = sum(Decimal(body["amount"]) for body in payments.values())
    card.refresh_from_db()
    assert card.balance == expected


@pytest.mark.django_db
def test_purge_deletes_expired_records_only(integrator):
    now = timezone.now()
    rows = [
        IdempotencyRecord(
            owner=integrator,
            key=f"k{n}",
            fingerprint="f",
            response_status=201,
            response_content_type="application/json",
            response_body=b"{}",
            created_at=now - TTL - timedelta(seconds=1 + n) if n < 25 else now - timedelta(hours=1),
        )
        for n in range(30)
    ]
    IdempotencyRecord.objects.bulk_create(rows)
    assert idempotency_records_purge(now=now, batch_size=7) == 25
    assert sorted(IdempotencyRecord.objects.values_list("key", flat=True)) == [f"k{n}" for n in range(25, 30)]


@pytest.mark.django_db
def test_the_purge_command_deletes_what_has_expired(integrator):
    fresh = {"owner": integrator, "fingerprint": "f", "response_status": 201, "response_body": b"{}"}
    IdempotencyRecord.objects.create(
        key="old", created_at=timezone.now() - TTL - timedelta(minutes=1), **fresh
    )
    IdempotencyRecord.objects.create(key="new", created_at=timezone.now(), **fresh)
    out = StringIO()

    call_command("purge_idempotency_keys", stdout=out)

    assert out.getvalue() == "1 expired Idempotency-Key record(s) deleted.\n"
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
