"""Webhooks end to end: subscriptions through the API and the console, events emitted by the
services on commit, delivered to a real HTTP receiver on 127.0.0.1, signed, retried, never twice."""

import json
import logging
import subprocess
import time
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient
from standardwebhooks import Webhook, WebhookVerificationError

from accounts.models import AuditEntry
from accounts.services import user_set_roles
from accounts.tests import factories as users
from accounts.tests.api_clients import error_of, key_client, session_client
from api.models import IdempotencyRecord, ThrottleCount, WebhookDelivery, WebhookEvent, WebhookSubscription
from api.tests.webhook_receiver import Receiver
from api.webhooks import delivery, services
from core.cache import clear_all
from core.cardnumbers import contains_card_number
from core.conf import check_declared_settings
from transactions import services as tx_services
from transactions.tests.factories import CardFactory, MerchantFactory, TransactionFactory, integrator_card

ALL_TYPES = ["transaction.decided", "transaction.reviewed", "fraud_report.created", "fraud_report.resolved",
             "card.status_changed"]  # fmt: skip


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    settings.WEBHOOKS_TIMEOUT_SECONDS = 2


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def other_receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def on_commit(transactional_db):
    """Real commits: the deliveries' tasks run (on the immediate backend) when the writes commit."""


def _subscribe(client, url, types=ALL_TYPES):
    response = client.post("/api/v1/webhooks/", {"url": url, "event_types": types}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _submit(client, card_id="c1", amount="12.00"):
    response = client.post(
        "/api/v1/transactions/", {"card_id": card_id, "merchant_id": "m1", "amount": amount}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def _console():
    client = Client()
    client.force_login(users.UserFactory(is_superuser=True, is_staff=True, roles=[]))
    return client


def _later(seconds):
    return timezone.now() + timedelta(seconds=seconds)


def test_a_decision_is_delivered_signed_and_verifies_with_the_standard_library(receiver, on_commit):
    integrator = users.integrator()
    client = key_client(integrator)
    created = _subscribe(client, receiver.url)
    assert created["secret"].startswith("whsec_")
    tx = _submit(client)

    assert len(receiver.requests) == 1
    _path, headers, body = receiver.requests[0]
    payload = Webhook(created["secret"]).verify(body, headers)
    assert payload["type"] == "transaction.decided"
    data = payload["data"]
    assert data["transaction_id"] == tx["transaction_id"] and data["card_id"] == "c1"
    assert data["decision"] == tx["decision"] and data["risk_score"] == tx["risk_score"]
    assert [r["code"] for r in data["reasons"]] == [r["code"] for r in tx["reasons"]]
    event = WebhookEvent.objects.get()
    assert headers["webhook-id"] == event.public_id
    assert WebhookDelivery.objects.get().status == "succeeded"

    tampered = body.replace(tx["transaction_id"], "tx_other")
    with pytest.raises(WebhookVerificationError):
        Webhook(created["secret"]).verify(tampered, headers)
    with pytest.raises(WebhookVerificationError):  # another subscription's secret
        Webhook("whsec_" + "A" * 44).verify(body, headers)


def test_a_500_is_retried_with_backoff_then_delivered_with_every_attempt_recorded(on_commit):
    server = Receiver(statuses=[500, 200])
    try:
        integrator = users.integrator()
        _subscription, secret = services.subscription_create(
            integrator=integrator, url=server.url, event_types=["card.status_changed"]
        )
        card = integrator_card(integrator, "c9")
        tx_services.card_set_status(card=card, status="frozen", actor=None)
        row = WebhookDelivery.objects.get()
        assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
        assert row.next_attempt_at > _later(delivery.RETRY_DELAYS[0] - 5)

        assert delivery.webhook_deliveries_sweep() == 0  # not yet due
        assert delivery.webhook_deliveries_sweep(now=_later(delivery.RETRY_DELAYS[0] + 1)) == 1
        row.refresh_from_db()
        assert (row.status, row.attempts, row.last_status_code) == ("succeeded", 2, 200)
        attempts = list(row.attempt_log.values_list("number", "status_code", "error"))
        assert attempts == [(1, 500, "HTTP 500"), (2, 200, "")]
        assert all(a.duration_ms >= 0 and a.started_at for a in row.attempt_log.all())
        ids = {headers["webhook-id"] for _, headers, _ in server.requests}
        assert len(server.requests) == 2 and len(ids) == 1  # one event, the same id
        for _, headers, body in server.requests:
            assert Webhook(secret).verify(body, headers)["data"] == {"card_id": "c9", "status": "frozen"}
    finally:
        server.close()


def test_gives_up_after_the_last_attempt(on_commit):
    server = Receiver(statuses=[503])
    try:
        _subscription, _secret = services.subscription_create(
            integrator=None, url=server.url, event_types=["card.status_changed"]
        )
        tx_services.card_set_status(card=CardFactory(), status="frozen", actor=None)
        now = timezone.now()
        for delay in delivery.RETRY_DELAYS:
            now += timedelta(seconds=delay + 1)
            delivery.webhook_deliveries_sweep(now=now)
        row = WebhookDelivery.objects.get()
        assert (row.status, row.attempts) == ("failed", delivery.MAX_ATTEMPTS)
        assert row.attempt_log.count() == delivery.MAX_ATTEMPTS == len(server.requests) == 6
        assert row.attempt_log.last().next_attempt_at is None
        assert delivery.webhook_deliveries_sweep(now=now + timedelta(days=30)) == 0
        assert len(server.requests) == 6
    finally:
        server.close()


def test_a_redirect_is_a_failure_and_not_followed(on_commit):
    server = Receiver(statuses=[302])
    try:
        services.subscription_create(integrator=None, url=server.url, event_types=["card.status_changed"])
        tx_services.card_set_status(card=CardFactory(), status="frozen", actor=None)
        row = WebhookDelivery.objects.get()
        assert (row.status, row.last_status_code) == ("pending", 302)
        assert len(server.requests) == 1
    finally:
        server.close()


def test_a_delivered_event_is_never_sent_again_to_the_same_subscription(receiver, on_commit):
    services.subscription_create(integrator=None, url=receiver.url, event_types=["card.status_changed"])
    tx_services.card_set_status(card=CardFactory(), status="frozen", actor=None)
    row = WebhookDelivery.objects.get()
    assert row.status == "succeeded"
    # Every way it could be sent again: a duplicate task, the sweep, a stale task of attempt 0.
    delivery.queue([(row.pk, 0), (row.pk, 1)])
    delivery.webhook_deliveries_sweep(now=_later(10**6))
    assert delivery.delivery_attempt(delivery_id=row.pk, attempts=0) is None
    assert services.delivery_retry_now(delivery_id=row.pk, actor=None) is False
    assert len(receiver.requests) == 1


def test_integrators_receive_only_events_about_their_own_cards(receiver, other_receiver, on_commit):
    x, y = users.integrator(), users.integrator()
    bank_receiver = Receiver()
    try:
        client_x, client_y = key_client(x), key_client(y)
        _subscribe(client_x, receiver.url)
        _subscribe(client_y, other_receiver.url)
        services.subscription_create(integrator=None, url=bank_receiver.url, event_types=ALL_TYPES)
        tx_x = _submit(client_x, "shared")
        _submit(client_y, "shared", amount="3.00")
        customer_card = CardFactory(owner=users.customer())
        tx_services.card_set_status(card=customer_card, status="frozen", actor=None)
        report = client_x.post(f"/api/v1/transactions/{tx_x['transaction_id']}/reports/", {}, format="json")
        assert report.status_code == 201

        def seen(server):
            return [(json.loads(body)["type"], json.loads(body)["data"]) for _, _, body in server.requests]

        assert [t for t, _ in seen(receiver)] == ["transaction.decided", "fraud_report.created"]
        assert all(
            d.get("transaction_id", d.get("transaction", {}).get("transaction_id")) == tx_x["transaction_id"]
            for _, d in seen(receiver)
        )
        assert [(t, d["amount"]) for t, d in seen(other_receiver)] == [("transaction.decided", "3.00")]
        assert seen(bank_receiver) == [
            ("card.status_changed", {"card_id": customer_card.external_id, "status": "frozen"})
        ]
        for server in (receiver, other_receiver, bank_receiver):
            for _, _, body in server.requests:
                assert not contains_card_number(body)
                assert "~" not in body  # never our internal key of an integrator's card
    finally:
        bank_receiver.close()


def test_review_and_report_resolution_are_emitted(receiver, on_commit, analyst):
    integrator = users.integrator()
    services.subscription_create(integrator=integrator, url=receiver.url, event_types=ALL_TYPES)
    card = integrator_card(integrator, "c2")
    merchant = MerchantFactory()
    held = TransactionFactory(card=card, merchant=merchant, status="pending_review", decision="review")
    tx_services.transaction_review_resolve(transaction=held, actor=analyst, is_fraud=True)
    paid = TransactionFactory(card=card, merchant=merchant)
    report = tx_services.fraud_report_create(transaction=paid, reported_by=analyst, source="analyst")
    tx_services.fraud_report_resolve(report=report, resolved_by=analyst, confirmed=False)
    types = [json.loads(body)["type"] for _, _, body in receiver.requests]
    assert types == ["transaction.reviewed", "fraud_report.created", "fraud_report.resolved"]
    reviewed, _created, resolved = (json.loads(body)["data"] for _, _, body in receiver.requests)
    assert (reviewed["card_id"], reviewed["status"], reviewed["is_fraud"]) == ("c2", "declined", True)
    assert (resolved["status"], resolved["transaction"]["status"]) == ("rejected", "confirmed_legitimate")


def test_nothing_is_emitted_when_the_write_rolls_back(receiver, on_commit):
    integrator = users.integrator()
    services.subscription_create(integrator=integrator, url=receiver.url, event_types=ALL_TYPES)
    card = integrator_card(integrator, "c3")
    with pytest.raises(RuntimeError), transaction.atomic():
        tx_services.card_set_status(card=card, status="frozen", actor=None)
        tx_services.transaction_submit(card=card, merchant=MerchantFactory(), amount="5.00")
        raise RuntimeError("the caller's write fails after the services ran")
    assert not WebhookEvent.objects.exists() and not WebhookDelivery.objects.exists()
    assert receiver.requests == []


def test_a_delivery_left_in_progress_by_a_killed_worker_is_picked_up_once_its_lease_lapses(
    db, receiver, on_commit
):
    subscription, _secret = services.subscription_create(
        integrator=None, url=receiver.url, event_types=["card.status_changed"]
    )
    with transaction.atomic():
        event = services._new_event("card.status_changed", None, {"card_id": "x", "status": "frozen"})
        row = WebhookDelivery.objects.create(
            event=event, subscription=subscription, status="in_progress", lease_expires_at=_later(30)
        )
    assert delivery.webhook_deliveries_sweep() == 0  # the worker may still be at it
    assert delivery.delivery_attempt(delivery_id=row.pk, attempts=0) is None  # claimed by it
    assert receiver.requests == []
    assert delivery.webhook_deliveries_sweep(now=_later(31)) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("succeeded", 1)
    assert len(receiver.requests) == 1


def test_the_api_shows_only_your_own_subscriptions(receiver, on_commit):
    x, y = users.integrator(), users.integrator()
    client_x, client_y = key_client(x), key_client(y)
    mine = _subscribe(client_x, receiver.url)["id"]
    assert [s["id"] for s in client_x.get("/api/v1/webhooks/").json()["results"]] == [mine]
    assert client_y.get("/api/v1/webhooks/").json()["results"] == []
    for method, path in (
        ("delete", f"/api/v1/webhooks/{mine}/"),
        ("post", f"/api/v1/webhooks/{mine}/test/"),
        ("get", f"/api/v1/webhooks/{mine}/deliveries/"),
    ):
        response = getattr(client_y, method)(path)
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert session_client(users.customer()).get("/api/v1/webhooks/").status_code == 403

    ping = client_x.post(f"/api/v1/webhooks/{mine}/test/")
    assert ping.status_code == 202
    ((_, headers, body),) = receiver.requests
    assert json.loads(body)["type"] == "ping" and headers["webhook-id"] == ping.json()["event_id"]
    deliveries = client_x.get(f"/api/v1/webhooks/{mine}/deliveries/").json()["results"]
    assert deliveries[0]["event_id"] == ping.json()["event_id"] and deliveries[0]["status"] == "succeeded"
    assert deliveries[0]["attempts"][0]["status_code"] == 200
    assert client_x.delete(f"/api/v1/webhooks/{mine}/").status_code == 204
    assert not WebhookSubscription.objects.exists()


def test_the_secret_is_shown_once_and_never_logged_nor_stored(caplog, on_commit):
    server = Receiver(statuses=[500, 200])
    try:
        caplog.set_level(logging.DEBUG)
        integrator = users.integrator()
        client = key_client(integrator)
        response = client.post(
            "/api/v1/webhooks/",
            {"url": server.url, "event_types": ["transaction.decided"]},
            format="json",
            HTTP_IDEMPOTENCY_KEY="0b0e9a0e-5a3b-4c1e-9a55-7d1b0a3c2f11",
        )
        secret = response.json()["secret"]
        _submit(client)
        delivery.webhook_deliveries_sweep(now=_later(delivery.RETRY_DELAYS[0] + 1))
        subscription_id = response.json()["id"]
        listed = client.get("/api/v1/webhooks/").content.decode()
        deliveries = client.get(f"/api/v1/webhooks/{subscription_id}/deliveries/").content.decode()
        assert len(server.requests) == 2
        assert secret not in listed and secret not in deliveries and "secret" not in listed
        assert secret not in caplog.text
        assert all(secret not in json.dumps([e.before, e.after, e.note]) for e in AuditEntry.objects.all())
        assert not IdempotencyRecord.objects.exists()  # the answer with the secret is never stored
        assert secret not in json.dumps(list(WebhookSubscription.objects.values_list("secret_salt", "url")))
    finally:
        server.close()


REFUSED_URLS = [
    "http://127.0.0.1:8000/hook",  # loopback (not allowed in these cases)
    "https://127.0.0.1/hook",
    "https://localhost/hook",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",  # IPv4 in IPv6
    "https://2130706433/hook",  # 127.0.0.1 as one number
    "https://0x7f.1/hook",
    "https://10.1.2.3/hook",
    "https://192.168.0.10/hook",
    "https://172.16.5.4/hook",
    "https://169.254.169.254/latest/meta-data/",  # cloud metadata
    "https://[fd00:ec2::254]/hook",
    "https://0.0.0.0/hook",
    "http://93.184.215.14/hook",  # a public address, but plain http
    "https://93.184.215.14\x00.evil/hook",  # NUL
    "https://93.184.215.14/ho\nok",
    "https://１２７.０.０.１/hook",  # full-width digits
    "https://ｌｏｃａｌｈｏｓｔ/hook",
    "https://127。0。0。1/hook",  # ideographic full stops
    "https://user:pw@93.184.215.14/hook",
    "https://93.184.215.14@127.0.0.1/hook",
    "ftp://93.184.215.14/hook",
    "https://no-such-host.invalid/hook",
    "https://93.184.215.14/cards/4111111111111111",  # a card number is never stored
    "",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_dangerous_urls_are_refused_by_the_api(db, settings, url):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    client = key_client(users.integrator())
    response = client.post(
        "/api/v1/webhooks/",
        {"url": url, "event_types": ["card.status_changed"]},
        format="json",
    )
    assert response.status_code == 400
    assert "url" in error_of(response)["fields"]
    assert not WebhookSubscription.objects.exists()


def test_a_public_https_url_is_accepted(db, settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    client = key_client(users.integrator())
    assert _subscribe(client, "https://93.184.215.14/hook")["url"] == "https://93.184.215.14/hook"


@pytest.mark.parametrize("url", REFUSED_URLS[:14])
def test_dangerous_urls_are_refused_in_the_console(db, settings, url):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    client = _console()
    response = client.post(
        "/admin/api/webhooksubscription/add/", {"url": url, "event_types": ["card.status_changed"]}
    )
    assert response.status_code == 200  # the form again, with its error
    assert list(response.context["adminform"].form.errors) == ["url"], response.context[
        "adminform"
    ].form.errors
    assert not WebhookSubscription.objects.exists()


def test_the_guard_runs_again_at_delivery(settings, receiver, on_commit):
    """A URL accepted while loopback was allowed is not called once it no longer is."""
    services.subscription_create(integrator=None, url=receiver.url, event_types=["card.status_changed"])
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    tx_services.card_set_status(card=CardFactory(), status="frozen", actor=None)
    row = WebhookDelivery.objects.get()
    assert row.status == "pending" and "public address" in row.attempt_log.get().error
    assert receiver.requests == []


def test_the_console_shows_the_secret_once_and_retries_a_failed_delivery(receiver, on_commit):
    client = _console()
    response = client.post(
        "/admin/api/webhooksubscription/add/", {"url": receiver.url, "event_types": ["card.status_changed"]}
    )
    assert response.status_code == 200
    subscription = WebhookSubscription.objects.get()
    assert subscription.integrator is None  # the bank's own cards
    page = response.content.decode()
    secret = page.split('<code class="webhook-secret">')[1].split("<")[0]
    assert secret.startswith("whsec_")
    change = client.get(f"/admin/api/webhooksubscription/{subscription.pk}/change/").content.decode()
    assert secret not in change

    receiver.statuses = [500]
    tx_services.card_set_status(card=CardFactory(), status="frozen", actor=None)
    row = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=row.pk).update(status="failed", attempts=delivery.MAX_ATTEMPTS)
    receiver.statuses = [200]
    response = client.post(
        "/admin/api/webhookdelivery/", {"action": "retry_now", "_selected_action": [row.pk]}
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.status == "succeeded" and row.attempt_log.count() == 2
    assert Webhook(secret).verify(receiver.requests[-1][2], receiver.requests[-1][1])
    detail = client.get(f"/admin/api/webhookdelivery/{row.pk}/change/")
    assert detail.status_code == 200 and "HTTP 500" in detail.content.decode()


def test_a_deactivated_subscription_receives_nothing_until_it_is_active_again(receiver, on_commit):
    subscription, _secret = services.subscription_create(
        integrator=None, url=receiver.url, event_types=["card.status_changed"]
    )
    card = CardFactory()
    receiver.statuses = [500]
    tx_services.card_set_status(card=card, status="frozen", actor=None)  # pending, a retry due
    services.subscription_set_active(subscription=subscription, is_active=False, actor=None)
    tx_services.card_set_status(card=card, status="active", actor=None)  # not for it: inactive
    receiver.statuses = [200]
    assert delivery.webhook_deliveries_sweep(now=_later(10**5)) == 0
    assert len(receiver.requests) == 1 and WebhookDelivery.objects.count() == 1

    services.subscription_set_active(subscription=subscription, is_active=True, actor=None)
    assert delivery.webhook_deliveries_sweep(now=_later(10**5)) == 1
    assert WebhookDelivery.objects.get().status == "succeeded" and len(receiver.requests) == 2


def test_the_console_lists_subscriptions_events_and_deliveries(receiver, on_commit):
    client = _console()
    services.subscription_create(integrator=users.integrator(), url=receiver.url, event_types=ALL_TYPES)
    services.subscription_ping(subscription=WebhookSubscription.objects.get())
    event, row = WebhookEvent.objects.get(), WebhookDelivery.objects.get()
    for path in (
        "/admin/api/webhooksubscription/",
        "/admin/api/webhookevent/",
        "/admin/api/webhookdelivery/",
        f"/admin/api/webhookevent/{event.pk}/change/",
        f"/admin/api/webhooksubscription/{row.subscription_id}/change/",
        "/admin/api/webhooksubscription/add/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert event.public_id in response.content.decode() or "add" in path or "subscription" in path
    response = client.post(
        "/admin/api/webhooksubscription/",
        {"action": "deactivate", "_selected_action": [row.subscription_id]},
    )
    assert response.status_code == 302 and not WebhookSubscription.objects.get().is_active


# --- secret rotation ----------------------------------------------------------------------------


def _signatures(headers):
    return headers["webhook-signature"].split(" ")


def _ping_and_take(client, subscription_id, receiver):
    assert client.post(f"/api/v1/webhooks/{subscription_id}/test/").status_code == 202
    _path, headers, body = receiver.requests[-1]
    return headers, body


def test_a_rotated_secret_signs_beside_the_old_one_during_the_grace_then_alone(receiver, on_commit):
    integrator = users.integrator()
    client = key_client(integrator)
    created = _subscribe(client, receiver.url)
    old = created["secret"]
    assert created["rotation_ends_at"] is None

    response = client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret/")
    assert response.status_code == 200, response.content
    rotated = response.json()
    new = rotated["secret"]
    assert new.startswith("whsec_") and new != old and rotated["id"] == created["id"]
    until = datetime.fromisoformat(rotated["rotation_ends_at"])
    assert _later(24 * 3600 - 60) < until <= _later(24 * 3600)

    headers, body = _ping_and_take(client, created["id"], receiver)
    assert len(_signatures(headers)) == 2 and all(s.startswith("v1,") for s in _signatures(headers))
    # Both a receiver still on the old secret and one already on the new accept it, with the
    # reference library, from the one header.
    assert Webhook(old).verify(body, headers)["type"] == "ping"
    assert Webhook(new).verify(body, headers)["type"] == "ping"

    listed = client.get("/api/v1/webhooks/").content.decode()
    assert new not in listed and old not in listed and rotated["rotation_ends_at"] in listed
    entry = AuditEntry.objects.get(action="webhook.rotate_secret")
    assert entry.actor == integrator and entry.after["rotation_ends_at"]
    salts = WebhookSubscription.objects.values_list("secret_salt", "previous_secret_salt").get()
    trail = json.dumps(list(AuditEntry.objects.values_list("before", "after", "note")))
    assert all(secret not in trail for secret in (old, new, *salts))

    # The grace is over: the new secret alone signs; the old one no longer verifies anything.
    WebhookSubscription.objects.update(previous_secret_expires_at=_later(-1))
    headers, body = _ping_and_take(client, created["id"], receiver)
    assert len(_signatures(headers)) == 1
    assert Webhook(new).verify(body, headers)["type"] == "ping"
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body, headers)
    assert client.get("/api/v1/webhooks/").json()["results"][0]["rotation_ends_at"] is None


def test_rotating_again_during_the_grace_drops_the_oldest_secret(receiver, on_commit):
    client = key_client(users.integrator())
    created = _subscribe(client, receiver.url)
    first = created["secret"]
    second = client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret/").json()["secret"]
    third = client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret/").json()["secret"]
    assert len({first, second, third}) == 3

    headers, body = _ping_and_take(client, created["id"], receiver)
    assert len(_signatures(headers)) == 2
    assert Webhook(third).verify(body, headers) and Webhook(second).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(first).verify(body, headers)
    assert AuditEntry.objects.get(action="webhook.rotate_secret", after__dropped_an_older_secret=True)


def test_without_a_grace_the_old_secret_stops_at_once(settings, receiver, on_commit):
    settings.WEBHOOKS_SECRET_GRACE_SECONDS = 0
    client = key_client(users.integrator())
    created = _subscribe(client, receiver.url)
    rotated = client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret/").json()
    assert rotated["rotation_ends_at"] is None
    headers, body = _ping_and_take(client, created["id"], receiver)
    assert len(_signatures(headers)) == 1 and Webhook(rotated["secret"]).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(created["secret"]).verify(body, headers)


def test_a_retry_after_a_rotation_is_signed_with_both_secrets(on_commit):
    """A delivery that failed before the rotation is signed again, at its retry, as of then."""
    server = Receiver(statuses=[500, 200])
    try:
        subscription, old = services.subscription_create(
            integrator=None, url=server.url, event_types=["card.status_changed"]
        )
        tx_services.card_set_status(card=CardFactory(), status="frozen", actor=None)
        _subscription, new = services.subscription_rotate_secret(subscription=subscription, actor=None)
        assert delivery.webhook_deliveries_sweep(now=_later(delivery.RETRY_DELAYS[0] + 1)) == 1
        (_, first, first_body), (_, retried, body) = server.requests
        assert len(_signatures(first)) == 1 and Webhook(old).verify(first_body, first)
        assert Webhook(old).verify(body, retried) and Webhook(new).verify(body, retried)
    finally:
        server.close()


JUNK_IDS = ["%C2%B9", "1;DROP", "a" * 400, "..%2F", "00000000-0000-0000-0000-000000000000"]


def test_nobody_rotates_a_secret_that_is_not_theirs(db, receiver):
    owner, stranger = users.integrator(), users.integrator()
    owner_client = key_client(owner)
    created = _subscribe(owner_client, receiver.url)
    salt = WebhookSubscription.objects.get().secret_salt
    path = f"/api/v1/webhooks/{created['id']}/rotate-secret/"

    response = key_client(stranger).post(path)
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    for junk in JUNK_IDS:
        response = owner_client.post(f"/api/v1/webhooks/{junk}/rotate-secret/")
        assert response.status_code == 404, junk
        assert error_of(response)["code"] == "not_found"
    nul = owner_client.post("/api/v1/webhooks/%00/rotate-secret/")  # refused before routing
    assert nul.status_code == 400 and error_of(nul)["code"]
    assert session_client(users.customer()).post(path).status_code == 403
    assert session_client(users.analyst()).post(path).status_code == 403
    assert APIClient().post(path).status_code == 401
    # A key whose owner is no longer an integrator rotates nothing either.
    tx_key = key_client(owner)
    user_set_roles(user=owner, roles=[])
    assert tx_key.post(path).status_code == 403
    assert owner_client.post(path).status_code == 403
    subscription = WebhookSubscription.objects.get()
    assert subscription.secret_salt == salt and not subscription.previous_secret_salt
    assert not AuditEntry.objects.filter(action="webhook.rotate_secret").exists()


def test_the_console_rotates_one_secret_and_shows_it_once(receiver, on_commit):
    client = _console()
    subscription, old = services.subscription_create(
        integrator=None, url=receiver.url, event_types=["card.status_changed"]
    )
    other, _other_secret = services.subscription_create(
        integrator=None, url=receiver.url, event_types=["card.status_changed"]
    )
    changelist = "/admin/api/webhooksubscription/"
    response = client.post(
        changelist, {"action": "rotate_secret", "_selected_action": [subscription.pk, other.pk]}
    )
    assert response.status_code == 302  # one at a time: nothing rotated
    assert not WebhookSubscription.objects.exclude(previous_secret_salt="").exists()

    response = client.post(changelist, {"action": "rotate_secret", "_selected_action": [subscription.pk]})
    assert response.status_code == 200
    page = response.content.decode()
    new = page.split('<code class="webhook-secret">')[1].split("<")[0]
    assert new.startswith("whsec_") and new != old and "previous secret too" in page
    assert new not in client.get(f"/admin/api/webhooksubscription/{subscription.pk}/change/").content.decode()
    services.subscription_ping(subscription=subscription)
    _, headers, body = receiver.requests[-1]
    assert Webhook(old).verify(body, headers) and Webhook(new).verify(body, headers)
    entry = AuditEntry.objects.get(action="webhook.rotate_secret")
    assert entry.actor.is_superuser and entry.target_id == str(subscription.pk)


def test_staff_without_the_change_permission_cannot_rotate(db, receiver):
    subscription, _secret = services.subscription_create(
        integrator=None, url=receiver.url, event_types=["card.status_changed"]
    )
    viewer = users.UserFactory(is_staff=True, roles=[])
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhooksubscription"))
    client = Client()
    client.force_login(viewer)
    response = client.post(
        "/admin/api/webhooksubscription/", {"action": "rotate_secret", "_selected_action": [subscription.pk]}
    )
    assert response.status_code in (302, 403)
    subscription.refresh_from_db()
    assert not subscription.previous_secret_salt
    assert not AuditEntry.objects.filter(action="webhook.rotate_secret").exists()


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("WEBHOOKS_SECRET_GRACE_SECONDS", -1, "at least 0"),
        ("WEBHOOKS_SECRET_GRACE_SECONDS", 8 * 24 * 3600, "at most"),
        ("WEBHOOKS_SECRET_GRACE_SECONDS", "a day", "cannot be read"),
        ("WEBHOOKS_MAX_PER_MINUTE", -5, "at least 0"),
        ("WEBHOOKS_MAX_PER_MINUTE", "many", "cannot be read"),
    ],
)
def test_a_wrong_webhook_setting_stops_the_startup(db, settings, name, value, says):
    setattr(settings, name, value)
    (error,) = check_declared_settings()
    assert error.id == "core.E001" and name in error.msg and says in error.msg
    with pytest.raises(SystemCheckError, match=name):
        call_command("check")


def test_a_lease_no_longer_than_an_attempt_stops_the_startup(db, settings):
    settings.WEBHOOKS_TIMEOUT_SECONDS, settings.WEBHOOKS_LEASE_SECONDS = 10, 10
    with pytest.raises(SystemCheckError, match=r"api\.E001"):
        call_command("check")
    settings.WEBHOOKS_LEASE_SECONDS = 11
    call_command("check")


# --- the attempt's deadline ---------------------------------------------------------------------


def test_a_receiver_that_drips_its_answer_is_cut_off_at_the_deadline(settings, on_commit):
    """Each byte comes well within a read's timeout; the whole answer would take 12 seconds."""
    settings.WEBHOOKS_TIMEOUT_SECONDS = 1
    server = Receiver(drip_every=0.25)
    try:
        subscription, _secret = services.subscription_create(
            integrator=None, url=server.url, event_types=["card.status_changed"]
        )
        started = time.monotonic()
        services.subscription_ping(subscription=subscription)
        elapsed = time.monotonic() - started
        row = WebhookDelivery.objects.get()
        attempt = row.attempt_log.get()
        assert (row.status, row.attempts, attempt.error, attempt.status_code) == (
            "pending",
            1,
            "timeout",
            None,
        )
        assert 900 <= attempt.duration_ms < 2500 and elapsed < 4
        assert row.next_attempt_at > _later(delivery.RETRY_DELAYS[0] - 5)
    finally:
        server.close()


def _self_signed(directory):
    """A certificate for 127.0.0.1, made by the openssl command, and its key."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_over_https_a_delivery_verifies_the_receiver_and_a_dripping_one_is_cut_off(
    settings, monkeypatch, tmp_path, on_commit
):
    cert, key = _self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trusted as a public CA's would be
    settings.WEBHOOKS_TIMEOUT_SECONDS = 1
    for drip_every, expected in ((0.0, ("succeeded", 200, "")), (0.25, ("pending", None, "timeout"))):
        server = Receiver(drip_every=drip_every, tls=(cert, key))
        try:
            WebhookSubscription.objects.all().delete()
            subscription, _secret = services.subscription_create(
                integrator=None, url=server.url, event_types=["card.status_changed"]
            )
            started = time.monotonic()
            services.subscription_ping(subscription=subscription)
            row = WebhookDelivery.objects.get()
            attempt = row.attempt_log.get()
            assert (row.status, attempt.status_code, attempt.error) == expected
            assert time.monotonic() - started < 4 and len(server.requests) == 1
        finally:
            server.close()


# --- each endpoint's budget ---------------------------------------------------------------------


def test_a_burst_to_one_endpoint_is_spread_out_not_failed_nor_dropped(
    settings, receiver, other_receiver, on_commit
):
    settings.WEBHOOKS_MAX_PER_MINUTE = 3
    busy, _secret = services.subscription_create(
        integrator=None, url=receiver.url, event_types=["card.status_changed"]
    )
    quiet, _secret = services.subscription_create(
        integrator=None, url=other_receiver.url, event_types=["card.status_changed"]
    )
    for _ in range(5):
        services.subscription_ping(subscription=busy)
    services.subscription_ping(subscription=quiet)

    assert len(receiver.requests) == 3 and len(other_receiver.requests) == 1  # its own budget
    waiting = WebhookDelivery.objects.filter(subscription=busy, status="pending")
    assert waiting.count() == 2
    for row in waiting:  # not an attempt, not a failure: waiting for room
        assert row.attempts == 0 and not row.attempt_log.exists() and row.lease_expires_at is None
        assert _later(0) < row.next_attempt_at <= _later(61)
    assert delivery.webhook_deliveries_sweep(now=_later(61)) == 2  # due, but the budget is spent
    assert len(receiver.requests) == 3 and waiting.count() == 2

    # A minute later the counts have slid out of the window.
    ThrottleCount.objects.all().delete()
    clear_all()
    assert delivery.webhook_deliveries_sweep(now=_later(61)) == 2
    assert len(receiver.requests) == 5
    assert WebhookDelivery.objects.filter(status="succeeded").count() == 6
    assert {row.attempts for row in WebhookDelivery.objects.all()} == {1}


def test_no_budget_when_the_limit_is_zero(settings, receiver, on_commit):
    settings.WEBHOOKS_MAX_PER_MINUTE = 0
    subscription, _secret = services.subscription_create(
        integrator=None, url=receiver.url, event_types=["card.status_changed"]
    )
    for _ in range(8):
        services.subscription_ping(subscription=subscription)
    assert len(receiver.requests) == 8 and not ThrottleCount.objects.exists()


# --- the decision's path ------------------------------------------------------------------------


def _subscription_queries(captured):
    return [q["sql"] for q in captured.captured_queries if "api_webhooksubscription" in q["sql"]]


def test_a_decision_nobody_listens_to_asks_the_database_once_in_a_while_not_each_time(db):
    integrator = users.integrator()
    client = key_client(integrator)
    services.subscription_create(
        integrator=integrator, url="http://127.0.0.1:9/", event_types=["card.status_changed"]
    )
    _submit(client, amount="1.00")  # learns that nobody listens to this integrator's decisions
    with CaptureQueriesContext(connection) as captured:
        _submit(client, amount="2.00")
        _submit(client, amount="3.00")
    assert _subscription_queries(captured) == []
    assert not WebhookEvent.objects.exists()


def test_a_new_or_reactivated_subscription_hears_the_very_next_decision(receiver, on_commit):
    integrator = users.integrator()
    client = key_client(integrator)
    _submit(client, amount="1.00")  # nobody listens yet, and this process remembers it
    created = _subscribe(client, receiver.url, types=["transaction.decided"])
    _submit(client, amount="2.00")
    assert [json.loads(body)["data"]["amount"] for _, _, body in receiver.requests] == ["2.00"]

    subscription = WebhookSubscription.objects.get(public_id=created["id"])
    services.subscription_set_active(subscription=subscription, is_active=False, actor=None)
    _submit(client, amount="3.00")
    services.subscription_set_active(subscription=subscription, is_active=True, actor=None)
    _submit(client, amount="4.00")
    assert [json.loads(body)["data"]["amount"] for _, _, body in receiver.requests] == ["2.00", "4.00"]
