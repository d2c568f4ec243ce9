"""Webhook deliveries through a real `db_worker`: one killed in the middle of a delivery leaves it
"in progress"; once its lease lapses, the next worker's sweep delivers it, once."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from standardwebhooks import Webhook

from api.models import WebhookDelivery
from api.tests.webhook_receiver import Receiver
from api.webhooks import services
from transactions import services as tx_services
from transactions.tests.factories import CardFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
LEASE = 5
SHARED = {"WEBHOOKS_ALLOW_LOOPBACK": True, "WEBHOOKS_LEASE_SECONDS": LEASE, "WEBHOOKS_TIMEOUT_SECONDS": 30}


def _worker(*args):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "WORKER_DB_NAME": str(connection.settings_dict["NAME"]),
        "WORKER_TASKS": json.dumps(DB_TASKS),
        "WORKER_SETTINGS": json.dumps(SHARED),
    }
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "db_worker",
            "--no-startup-delay",
            "--queue-name",
            "*",
            *args,
        ],
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


def test_a_delivery_of_a_killed_worker_is_delivered_by_the_next_once_its_lease_lapses(settings):
    settings.TASKS = DB_TASKS
    for name, value in SHARED.items():
        setattr(settings, name, value)
    receiver = Receiver(statuses=[200], hang_first=60)
    try:
        _subscription, secret = services.subscription_create(
            integrator=None, url=receiver.url, event_types=["card.status_changed"]
        )
        tx_services.card_set_status(card=CardFactory(), status="frozen", actor=None)
        assert receiver.requests == []  # queued for the worker, not sent by this process

        first = _worker()
        try:
            _wait_for(lambda: len(receiver.requests) == 1)  # the worker is waiting for the answer
        finally:
            first.send_signal(signal.SIGKILL)
            first.communicate(timeout=30)
        row = WebhookDelivery.objects.get()
        assert (row.status, row.attempts) == ("in_progress", 0)

        time.sleep(LEASE + 1)
        second = _worker("--batch")
        output, _ = second.communicate(timeout=120)
        assert second.returncode == 0, output
        row.refresh_from_db()
        assert (row.status, row.attempts) == ("succeeded", 1), output
        assert len(receiver.requests) == 2
        (_, first_headers, first_body), (_, headers, body) = receiver.requests
        assert headers["webhook-id"] == first_headers["webhook-id"] and body == first_body
        assert Webhook(secret).verify(body, headers)["data"]["status"] == "frozen"
        assert secret not in output
    finally:
        receiver.close()
