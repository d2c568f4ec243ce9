"""Delivering events: by the task worker, at most one success per (event, subscription).

A delivery is claimed before it is sent (one conditional UPDATE: pending, or in progress with a
lapsed lease, and still at the attempt the task was queued for), so two workers, or a task queued
twice, never send it twice; a delivery that succeeded is never claimed again. After a failure
(timeout, connection error, a non-2xx answer, redirects included: they are not followed) the next
attempt is due after RETRY_DELAYS; after the last one the delivery is failed. The periodic sweep
(a worker chore) queues every delivery that is due, including one whose worker was killed
mid-attempt and whose lease lapsed.

An attempt has one deadline for all of it (WEBHOOKS_TIMEOUT_SECONDS: connect, send, read), so a
receiver cannot hold a worker longer. An endpoint receives at most WEBHOOKS_MAX_PER_MINUTE
attempts in any minute; a delivery over that waits for room without counting as an attempt."""

import contextlib
import http.client
import json
import logging
import socket
import ssl
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Q
from django.tasks import task
from django.utils import timezone

from api import throttling
from api.models import WebhookAttempt, WebhookDelivery
from api.webhooks import addresses, conf, signing

logger = logging.getLogger(__name__)

# Seconds to wait after attempt 1, 2, ... before the next: 6 attempts over about 21 hours.
RETRY_DELAYS = (60, 10 * 60, 60 * 60, 4 * 60 * 60, 16 * 60 * 60)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
SWEEP_BATCH = 200
USER_AGENT = "fraudsite-webhooks/1"
RATE_WINDOW_SECONDS = 60  # WEBHOOKS_MAX_PER_MINUTE is counted over a sliding minute
_Status = WebhookDelivery.Status


class _Deadline:
    """The time limit of one whole attempt: connecting, sending and reading the answer. A timeout
    per socket operation is not one (a receiver that drips a byte every few seconds never lets a
    read time out), so a watchdog shuts the socket down when the time is up, which ends whatever
    read or write is waiting on it; `expired` then says why it ended."""

    def __init__(self, seconds):
        self._ends = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sock = None
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        """Seconds left, the longest any single wait (connecting included) may last."""
        left = self._ends - time.monotonic()
        if left <= 0:
            self.expired = True
            raise TimeoutError("the attempt's deadline passed")
        return left

    def watch(self, sock):
        with self._lock:
            self._sock = sock
            if self.expired:
                self._shut()

    def cancel(self):
        self._timer.cancel()

    def _expire(self):
        with self._lock:
            self.expired = True
            self._shut()

    def _shut(self):
        if self._sock is None:
            return
        # shutdown, not close: it wakes the attempt's thread where it waits, and the descriptor's
        # number cannot be reused under it meanwhile. The plain socket's method, even on a TLS
        # socket, whose own shutdown would pull its state from under a read. (OSError: closed.)
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self._sock, socket.SHUT_RDWR)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address the guard checked, whatever the name resolves to by then, within
    the attempt's deadline."""

    def __init__(self, host, port, *, address, deadline):
        super().__init__(host, port, timeout=deadline.left())
        self._address, self._deadline = address, deadline

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self._deadline.left())
        self._deadline.watch(self.sock)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, *, address, deadline):
        super().__init__(host, port, timeout=deadline.left(), context=ssl.create_default_context())
        self._address, self._deadline = address, deadline

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self._deadline.left())
        self._deadline.watch(sock)
        # The handshake after the watch, so a receiver that stalls it is cut off at the deadline.
        sock = self._context.wrap_socket(sock, server_hostname=self.host, do_handshake_on_connect=False)
        self._deadline.watch(sock)  # the TLS socket took the descriptor over
        sock.settimeout(self._deadline.left())
        sock.do_handshake()
        self.sock = sock


def body_of(event) -> str:
    """The signed body, the same on every attempt: Standard Webhooks' type, timestamp and data."""
    return json.dumps(
        {"type": event.type, "timestamp": event.created_at.isoformat(), "data": event.data},
        separators=(",", ":"),
        sort_keys=True,
    )


def _post(url, body, headers) -> int:
    """POST once, within WEBHOOKS_TIMEOUT_SECONDS in all; the answer's status code. Raises
    TimeoutError when the time is up, else OSError/HTTPException/AddressRefused."""
    deadline = _Deadline(conf.timeout_seconds())
    try:
        parts = urlsplit(url)
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        address = addresses.resolve(parts.hostname, port)
        connection_class = _PinnedHTTPSConnection if https else _PinnedHTTPConnection
        connection = connection_class(parts.hostname, port, address=address, deadline=deadline)
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request("POST", path, body=body.encode(), headers=headers)
            response = connection.getresponse()
            response.read(64 * 1024)  # the answer's body is not kept; read a little to end cleanly
            return response.status
        finally:
            connection.close()
    except (OSError, http.client.HTTPException):
        if deadline.expired:  # the watchdog's shutdown shows up as a reset or a cut answer
            raise TimeoutError from None
        raise
    finally:
        deadline.cancel()


def _claim(delivery_id, attempts, now) -> bool:
    lapsed = Q(status=_Status.IN_PROGRESS, lease_expires_at__lt=now)
    return bool(
        WebhookDelivery.objects.filter(
            Q(status=_Status.PENDING) | lapsed, pk=delivery_id, attempts=attempts
        ).update(status=_Status.IN_PROGRESS, lease_expires_at=now + timedelta(seconds=conf.lease_seconds()))
    )


def delivery_attempt(*, delivery_id, attempts) -> bool | None:
    """Send the delivery once if it is still at `attempts` attempts and nobody holds it; whether it
    was delivered (None: not sent now: someone else's to send, or postponed for its endpoint's
    budget)."""
    started = timezone.now()
    if not _claim(delivery_id, attempts, started):
        return None
    delivery = WebhookDelivery.objects.select_related("event", "subscription").get(pk=delivery_id)
    if _postponed(delivery):
        return None
    event, subscription = delivery.event, delivery.subscription
    body = body_of(event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signing.signature_headers(
            salt=subscription.secret_salt,
            previous_salt=subscription.previous_salt_at(started),
            event_id=event.public_id,
            timestamp=started,
            body=body,
        ),
    }
    status_code, error = None, ""
    clock = time.monotonic()
    try:
        status_code = _post(subscription.url, body, headers)
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except addresses.AddressRefused as refused:
        error = str(refused)
    except TimeoutError:
        error = "timeout"
    except (OSError, http.client.HTTPException) as failure:
        error = f"{type(failure).__name__}: {failure}"[:300]
    except Exception as failure:  # recorded as a failed attempt, never left "in progress"
        logger.exception("Webhook delivery %s failed unexpectedly.", delivery_id)
        error = type(failure).__name__
    duration_ms = int((time.monotonic() - clock) * 1000)
    return _record(delivery, started, duration_ms, status_code, error)


def _postponed(delivery) -> bool:
    """Whether the subscription has spent its budget (WEBHOOKS_MAX_PER_MINUTE): then the delivery
    goes back to pending, due when the budget allows, neither attempted nor counted as a failure,
    so a burst of events reaches the endpoint spread out, none lost."""
    limit = conf.max_per_minute()
    if not limit:
        return False
    wait = throttling.rate_limit_wait(
        key=f"webhook:{delivery.subscription_id}", num_requests=limit, duration=RATE_WINDOW_SECONDS
    )
    if wait is None:
        return False
    due = timezone.now() + timedelta(seconds=max(wait, 1.0))
    WebhookDelivery.objects.filter(
        pk=delivery.pk, status=_Status.IN_PROGRESS, attempts=delivery.attempts
    ).update(status=_Status.PENDING, lease_expires_at=None, next_attempt_at=due)
    logger.info("Webhook delivery %s postponed to %s: its endpoint's budget is spent.", delivery.pk, due)
    return True


def _record(delivery, started, duration_ms, status_code, error):
    number = delivery.attempts + 1
    now = timezone.now()
    delivered = not error
    next_attempt_at = None
    if delivered:
        fields = {"status": _Status.SUCCEEDED, "delivered_at": now, "next_attempt_at": None}
    elif number >= MAX_ATTEMPTS:
        fields = {"status": _Status.FAILED, "next_attempt_at": None}
    else:
        next_attempt_at = now + timedelta(seconds=RETRY_DELAYS[number - 1])
        fields = {"status": _Status.PENDING, "next_attempt_at": next_attempt_at}
    with transaction.atomic():
        # Only the holder of the claim records it (a lease that lapsed meanwhile lost it to
        # another; a subscription deleted meanwhile took its deliveries with it).
        recorded = WebhookDelivery.objects.filter(
            pk=delivery.pk, status=_Status.IN_PROGRESS, attempts=delivery.attempts
        ).update(attempts=number, last_status_code=status_code, lease_expires_at=None, **fields)
        if recorded:
            WebhookAttempt.objects.create(
                delivery=delivery,
                number=number,
                started_at=started,
                duration_ms=duration_ms,
                status_code=status_code,
                error=error,
                next_attempt_at=next_attempt_at,
            )
    if not delivered:
        logger.info(
            "Webhook delivery %s attempt %d failed (%s); %s.",
            delivery.pk,
            number,
            error,
            f"next at {next_attempt_at:%Y-%m-%d %H:%M:%S}" if next_attempt_at else "giving up",
        )
    return delivered


@task()
def webhook_deliver(*, delivery_id, attempts):
    """One attempt of a delivery (queued when it becomes due)."""
    return delivery_attempt(delivery_id=delivery_id, attempts=attempts)


def queue(deliveries, *, reserved=False):
    """Queue an attempt of each delivery (id, attempts); reserve it for a lease first (unless the
    caller did), so the sweep leaves it to this task unless the task is lost."""
    reserved_until = timezone.now() + timedelta(seconds=conf.lease_seconds())
    for delivery_id, attempts in deliveries:
        if not reserved:
            WebhookDelivery.objects.filter(pk=delivery_id, status=_Status.PENDING, attempts=attempts).update(
                next_attempt_at=reserved_until
            )
        try:
            webhook_deliver.enqueue(delivery_id=delivery_id, attempts=attempts)
        except Exception:  # the queue is down: the sweep queues it again once the lease lapses
            logger.exception("Could not queue webhook delivery %s.", delivery_id)


def webhook_deliveries_sweep(*, now=None) -> int:
    """The chore: queue every delivery that is due, or whose worker's claim lapsed. Safe to run
    in several workers at once (the claim decides who sends)."""
    now = now or timezone.now()
    lapsed = WebhookDelivery.objects.filter(status=_Status.IN_PROGRESS, lease_expires_at__lt=now)
    lapsed.update(status=_Status.PENDING, lease_expires_at=None, next_attempt_at=now)
    due = list(
        WebhookDelivery.objects.filter(
            status=_Status.PENDING, next_attempt_at__lte=now, subscription__is_active=True
        )
        .order_by("next_attempt_at")
        .values_list("pk", "attempts")[:SWEEP_BATCH]
    )
    queue(due)
    return len(due)
