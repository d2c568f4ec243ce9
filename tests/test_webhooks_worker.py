"""Webhook deliveries through real `db_worker` processes: one killed (SIGKILL) in the middle of a
delivery leaves it "in progress"; a second worker, already running, leaves it alone while the
dead one's lease lasts, then delivers it, once, with the same webhook-id; its attempts show in the
API and nothing stays "in progress"."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from standardwebhooks import Webhook

from accounts.tests import factories as users
from accounts.tests.api_clients import key_client
from api.models import WebhookDelivery
from api.tests.webhook_receiver import Receiver
from api.webhooks import services
from transactions import services as tx_services
from transactions.tests.factories import integrator_card

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
LEASE = 6  # shortened from a minute; still longer than an attempt's deadline, as the check demands
SHARED = {
    "WEBHOOKS_ALLOW_LOOPBACK": True,
    "WEBHOOKS_LEASE_SECONDS": LEASE,
    "WEBHOOKS_TIMEOUT_SECONDS": 5,
    # The sweep every second, so the second worker acts as soon as the lease allows.
    "PERIODIC_CHORES": {"api.webhooks.delivery.webhook_deliveries_sweep": 1},
}


def _worker():
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "WORKER_DB_NAME": str(connection.settings_dict["NAME"]),
        "WORKER_TASKS": json.dumps(DB_TASKS),
        "WORKER_SETTINGS": json.dumps(SHARED),
    }
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "db_worker", "--no-startup-delay", "--queue-name", "*"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_delivery_of_a_killed_worker_is_delivered_once_by_the_next_after_its_lease(settings):
    settings.TASKS = DB_TASKS
    for name, value in SHARED.items():
        setattr(settings, name, value)
    receiver = Receiver(statuses=[200], hang_first=60)  # holds the first request, never answers it
    integrator = users.integrator()
    client = key_client(integrator)
    second = None
    try:
        subscription, secret = services.subscription_create(
            integrator=integrator, url=receiver.url, event_types=["card.status_changed"]
        )
        tx_services.card_set_status(card=integrator_card(integrator, "c1"), status="frozen", actor=None)
        assert receiver.requests == []  # queued for the worker, not sent by this process

        first = _worker()
        try:
            _wait_for(lambda: len(receiver.requests) == 1)  # the worker is waiting for the answer
        finally:
            first.send_signal(signal.SIGKILL)
            first.communicate(timeout=30)
        row = WebhookDelivery.objects.get()
        assert (row.status, row.attempts) == ("in_progress", 0) and not row.attempt_log.exists()
        lease_lapses_at = row.lease_expires_at

        second = _worker()
        # Through "pending" (the sweep takes it back once the lease lapsed) to its one attempt.
        _wait_for(lambda: WebhookDelivery.objects.get().attempts > 0, timeout=LEASE + 60)
        row.refresh_from_db()
        assert timezone.now() >= lease_lapses_at  # not taken from the dead worker before its lease lapsed
        assert (row.status, row.attempts, row.last_status_code) == ("succeeded", 1, 200)
        assert row.delivered_at >= lease_lapses_at
        time.sleep(3)  # a few more sweeps of the live worker: nothing more is sent
        assert len(receiver.requests) == 2
        (_, first_headers, first_body), (_, headers, body) = receiver.requests
        assert headers["webhook-id"] == first_headers["webhook-id"] and body == first_body
        assert Webhook(secret).verify(body, headers)["data"] == {"card_id": "c1", "status": "frozen"}

        # Exactly one attempt on record (the killed one never finished: nothing to record), as
        # the integrator sees it; nothing left "in progress".
        (shown,) = client.get(f"/api/v1/webhooks/{subscription.public_id}/deliveries/").json()["results"]
        assert shown["status"] == "succeeded" and shown["event_id"] == headers["webhook-id"]
        assert [(a["number"], a["status_code"], a["error"]) for a in shown["attempts"]] == [(1, 200, "")]
        assert not WebhookDelivery.objects.filter(status__in=["in_progress", "pending"]).exists()
    finally:
        if second is not None:
            second.send_signal(signal.SIGTERM)
            output, _ = second.communicate(timeout=60)
            assert secret not in output
        receiver.close()
