"""How fast `transaction_submit` stores a decided transaction and moves the balance, alone and
with concurrent writers on one card (the row lock serialises them).

Run: .venv/bin/python bench/bench_transactions.py  (SQLite in a temporary file; set
BENCH_DATABASE_URL=postgres://.../scratch to measure PostgreSQL: it migrates and writes there). Uses whatever `decide()` is
installed, so the figures include its cost.

`--webhooks` measures instead what webhooks add to a submission (sequential, p50/p95 and queries
per submission), in rounds that alternate three states so the machine's load falls on each alike:
no subscription at all; subscriptions that do not concern the card (another integrator's, and one
of the bank's to another event type); and one of the bank's to `transaction.decided` for the
card, so every decision writes an event, a delivery and its queued task (no worker runs: the
delivery itself is not on the decision's path).
"""

import os
import statistics
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
_tmp = tempfile.mkdtemp(prefix="bench-tx-")
os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{_tmp}/bench.sqlite3")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fraudsite.settings")
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from transactions import services  # noqa: E402
from transactions.models import Card, Merchant, Transaction  # noqa: E402

SEQUENTIAL = 300
THREADS, PER_THREAD = 4, 75


WEBHOOK_ROUNDS, WEBHOOK_PER_ROUND = 6, 150


def _webhook_state(state, card_owner_integrator):
    from api.models import WebhookSubscription
    from api.webhooks.services import subscription_create

    WebhookSubscription.objects.all().delete()
    url = "http://127.0.0.1:9/hook"  # never called: no worker runs
    if state in ("elsewhere", "subscribed"):
        subscription_create(integrator=card_owner_integrator, url=url, event_types=["transaction.decided"])
        subscription_create(integrator=None, url=url, event_types=["card.status_changed"])
    if state == "subscribed":
        subscription_create(integrator=None, url=url, event_types=["transaction.decided"])


def webhooks_main():
    from django.conf import settings
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from accounts.services import user_set_roles

    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    call_command("migrate", verbosity=0)
    card = Card.objects.create(external_id="bench_card", credit_limit=Decimal("100000000"))
    merchant = Merchant.objects.create(external_id="bench_m", name="Bench")
    other = user_set_roles(
        user=User.objects.create(email="bench-integrator@example.com"), roles=["integrator"]
    )
    states = ["none", "elsewhere", "subscribed"]
    latencies = {state: [] for state in states}
    queries = {}
    for _round in range(WEBHOOK_ROUNDS):
        for state in states:
            _webhook_state(state, other)
            for _ in range(WEBHOOK_PER_ROUND):
                start = time.perf_counter()
                services.transaction_submit(card=card, merchant=merchant, amount="1.00")
                latencies[state].append((time.perf_counter() - start) * 1000)
            connection.queries_log.clear()  # DEBUG keeps at most 9,000: room for the count
            with CaptureQueriesContext(connection) as captured:
                services.transaction_submit(card=card, merchant=merchant, amount="1.00")
            queries[state] = len(captured)
            if "-v" in sys.argv:
                print(state, *[q["sql"][:150] for q in captured.captured_queries], sep="\n  ")
    print(
        f"database: {connection.vendor}; {WEBHOOK_ROUNDS} rounds x {WEBHOOK_PER_ROUND} submissions per state"
    )
    for state in states:
        quantiles = statistics.quantiles(latencies[state], n=100)
        print(
            f"{state:>10}: p50 {quantiles[49]:.2f} ms, p95 {quantiles[94]:.2f} ms, "
            f"{queries[state]} queries per submission"
        )


def main():
    call_command("migrate", verbosity=0)
    card = Card.objects.create(external_id="bench_card", credit_limit=Decimal("1000000"))
    merchant = Merchant.objects.create(external_id="bench_m", name="Bench")

    latencies = []
    for _ in range(SEQUENTIAL):
        start = time.perf_counter()
        services.transaction_submit(card=card, merchant=merchant, amount="1.00")
        latencies.append((time.perf_counter() - start) * 1000)

    def worker():
        try:
            for _ in range(PER_THREAD):
                services.transaction_submit(card=card, merchant=merchant, amount="1.00")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start

    card.refresh_from_db()
    total = Transaction.objects.count()
    exact = card.balance + card.held == Decimal(total)
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"database: {connection.vendor}")
    print(f"sequential: {SEQUENTIAL} submissions, p50 {quantiles[49]:.1f} ms, p95 {quantiles[94]:.1f} ms")
    print(f"concurrent: {THREADS} threads x {PER_THREAD}, {THREADS * PER_THREAD / elapsed:.0f} submissions/s")
    print(f"balance exact after {total} submissions: {exact}")
    if not exact:
        sys.exit(1)


if __name__ == "__main__":
    webhooks_main() if "--webhooks" in sys.argv else main()
