"""How fast `transaction_submit` stores a decided transaction and moves the balance, alone and
with concurrent writers on one card (the row lock serialises them).

Run: .venv/bin/python bench/bench_transactions.py  (SQLite in a temporary file; set
BENCH_DATABASE_URL=postgres://.../scratch to measure PostgreSQL: it migrates and writes there). Uses whatever `decide()` is
installed, so the figures include its cost.
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
    main()
