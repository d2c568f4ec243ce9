"""Idempotency-Key on POST /transactions/: retries never decide twice."""

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import IdempotencyRecord
from accounts.tests import factories as users
from accounts.tests.api_clients import error_of, key_client
from transactions.models import Card, Transaction

URL = "/api/v1/transactions/"
BODY = {"card_id": "card_idem", "merchant_id": "m_idem", "amount": "12.34"}


def post(client, key, body=BODY):
    return client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
def test_same_key_and_body_replays_the_stored_response(integrator):
    client = key_client(integrator)
    first = post(client, "k1")
    again = post(client, "k1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Transaction.objects.count() == 1


@pytest.mark.django_db
def test_a_refused_request_replays_its_refusal_too(integrator):
    client = key_client(integrator)
    bad = {**BODY, "occurred_at": "2999-01-01T00:00:00Z"}
    first, again = post(client, "k-bad", bad), post(client, "k-bad", bad)
    assert first.status_code == again.status_code == 400
    assert again.json() == first.json()


@pytest.mark.django_db(transaction=True)
def test_a_response_recorded_in_a_transaction_that_then_fails_is_not_kept(integrator, monkeypatch):
    """The response is recorded inside the transaction that stores the payment; if that
    transaction fails afterwards, neither the payment nor that response is kept, and the key
    replays the refusal the client got (never 'still in flight' for a day)."""
    from django.core.exceptions import ValidationError

    from accounts.api_common import idempotency
    from transactions import api

    def record_then_fail(request, response):
        idempotency.complete_within_transaction(request, response)
        raise ValidationError({"amount": "Storage failed after the response was recorded."})

    monkeypatch.setattr(api, "complete_within_transaction", record_then_fail)
    client = key_client(integrator)
    first = post(client, "k-rollback")
    assert first.status_code == 400
    assert not Transaction.objects.exists()
    assert IdempotencyRecord.objects.get(key="k-rollback").state == IdempotencyRecord.State.DONE
    again = post(client, "k-rollback")
    assert (again.status_code, again.json()) == (400, first.json())


@pytest.mark.django_db
def test_same_key_with_another_body_is_422(integrator):
    client = key_client(integrator)
    post(client, "k2")
    response = post(client, "k2", {**BODY, "amount": "99.00"})
    assert response.status_code == 422
    assert error_of(response)["code"] == "idempotency_key_reused"
    assert Transaction.objects.count() == 1


@pytest.mark.django_db
def test_a_request_still_in_flight_is_409(integrator):
    client = key_client(integrator)
    post(client, "k3")
    IdempotencyRecord.objects.update(state=IdempotencyRecord.State.IN_FLIGHT)
    response = post(client, "k3")
    assert response.status_code == 409
    assert error_of(response)["code"] == "idempotency_key_in_flight"


@pytest.mark.django_db
def test_keys_expire_after_24_hours(integrator):
    client = key_client(integrator)
    post(client, "k4", {**BODY, "transaction_id": "tx_old"})
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    response = post(client, "k4", {**BODY, "transaction_id": "tx_new"})
    assert response.status_code == 201
    assert response.json()["transaction_id"] == "tx_new"


@pytest.mark.django_db
def test_keys_belong_to_their_integrator(integrator):
    mine, theirs = key_client(integrator), key_client(users.integrator())
    post(mine, "shared")
    response = post(theirs, "shared")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Transaction.objects.count() == 2


@pytest.mark.django_db
def test_an_overlong_key_is_refused(integrator):
    response = post(key_client(integrator), "x" * 256)
    assert response.status_code == 400
    assert "Idempotency-Key" in error_of(response)["fields"]


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
        from rest_framework.test import APIClient

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
