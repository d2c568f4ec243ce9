"""How long each staff page (the Django admin) takes on demo-sized data, through the whole stack
(middleware, sessions, templates) with Django's test Client.

    .venv/bin/python bench/bench_staff_pages.py [--runs 20] [--reseed] [--page NAME ...]

The database is a SQLite file under var/ seeded once with `manage.py seed_demo` (users, months
of simulated history, a trained model), its empty review queue filled with `--queue` items,
and reused by later runs (`--reseed` starts over; set BENCH_DATABASE_URL to measure another
database). Each page is requested once to warm caches and imports (its "first" figure), then
`--runs` times, signed in as the demo superuser (who sees every page). Prints the first
request and p50 / p95 / max of the others per page, in milliseconds; the target is p95 under
1 s for every page. The figures go in docs/benchmarks.md by hand.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SQLITE_PATH = ROOT / "var" / "bench-staff.sqlite3"
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{SQLITE_PATH}")
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "fraudsite.settings",
        "DJANGO_DEBUG": "0",  # as in production: no debug overhead
        "DJANGO_DEMO": "1",  # seed_demo lives in the demo app
        "DJANGO_SECRET_KEY": "bench-secret-key-" + "s" * 40,
        "CARD_FINGERPRINT_KEY": "bench-card-fingerprint-key",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_LOG_LEVEL": "ERROR",
        "DETECTION_MODELS_DIR": str(ROOT / "var" / "bench-staff-models"),
    }
)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from accounts.models import User  # noqa: E402
from detection.models import ModelVersion  # noqa: E402
from transactions.models import FraudReport, Transaction  # noqa: E402

SIGN_IN = "admin@example.com"  # the demo superuser


def pages():
    """(name, url) of every staff page measured; add a line to measure another."""
    transaction = Transaction.objects.order_by("-occurred_at").first()
    queued = Transaction.objects.filter(status=Transaction.Status.PENDING_REVIEW).order_by("pk").first()
    version = ModelVersion.objects.order_by("-created_at").first()
    changelist = reverse("admin:transactions_transaction_changelist")
    return [
        ("admin index", reverse("admin:index")),
        ("review queue", reverse("admin:transactions_review_queue")),
        ("transaction changelist", changelist),
        (
            "transaction changelist, one merchant",
            f"{changelist}?merchant__id__exact={transaction.merchant_id}",
        ),
        ("transaction changelist, searched", f"{changelist}?q={transaction.card.external_id}"),
        ("transaction case", reverse("admin:transactions_transaction_change", args=[transaction.pk])),
        ("transaction case, queued", reverse("admin:transactions_transaction_change", args=[queued.pk])),
        ("rules", reverse("admin:detection_rule_changelist")),
        ("list entries", reverse("admin:detection_listentry_changelist")),
        ("users", reverse("admin:accounts_user_changelist")),
        ("audit trail", reverse("admin:accounts_auditentry_changelist")),
        ("fraud report changelist", reverse("admin:transactions_fraudreport_changelist")),
        ("card changelist", reverse("admin:transactions_card_changelist")),
        ("merchant changelist", reverse("admin:transactions_merchant_changelist")),
        ("model version changelist", reverse("admin:detection_modelversion_changelist")),
        ("model version change", reverse("admin:detection_modelversion_change", args=[version.pk])),
        ("retraining runs", reverse("admin:detection_retrainingrun_changelist")),
        ("models dashboard", reverse("admin:detection_dashboard_models")),
        ("traffic dashboard", reverse("admin:detection_dashboard_traffic")),
        ("traffic dashboard, 90 days", reverse("admin:detection_dashboard_traffic") + "?days=90"),
    ]


def seed(reseed):
    if reseed and SQLITE_PATH.exists():
        for path in SQLITE_PATH.parent.glob(SQLITE_PATH.name + "*"):
            path.unlink()
    SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # the manifest DEBUG=0 serves from
    if not Transaction.objects.exists():
        start = time.perf_counter()
        call_command("seed_demo", quiet_logins=True)
        print(f"seeded in {time.perf_counter() - start:.0f} s")


def fill_queue(size):
    """The demo leaves the review queue empty: hold `size` recent approved payments for review
    (decided a few minutes after they occurred) and file a fraud report on every fourth, so the
    queue page and the dashboard's queue figures have work to show. Only the first time."""
    if Transaction.objects.filter(status=Transaction.Status.PENDING_REVIEW).exists():
        return
    recent = list(
        Transaction.objects.filter(status=Transaction.Status.APPROVED).order_by("-occurred_at")[:size]
    )
    for i, tx in enumerate(recent):
        tx.status, tx.decision = Transaction.Status.PENDING_REVIEW, "review"
        tx.decided_at = tx.occurred_at + timedelta(minutes=2 + i % 7)
    Transaction.objects.bulk_update(recent, ["status", "decision", "decided_at"])
    FraudReport.objects.bulk_create(
        FraudReport(transaction=tx, source=FraudReport.Source.CUSTOMER, note="Not me") for tx in recent[::4]
    )


def measure(client, url, runs):
    start = time.perf_counter()
    response = client.get(url)  # warm-up: imports, templates, first caches
    first = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    timings.sort()
    p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
    return first, statistics.median(timings), p95, timings[-1]


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--queue", type=int, default=200, help="items held for review (a quarter reported)")
    parser.add_argument("--page", action="append", help="measure only the pages of these names")
    args = parser.parse_args()
    seed(args.reseed)
    fill_queue(args.queue)
    client = Client()
    client.force_login(User.objects.get(email=SIGN_IN))
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{Transaction.objects.count()} transactions, "
        f"{Transaction.objects.filter(status=Transaction.Status.PENDING_REVIEW).count()} held for review, "
        f"{args.runs} runs per page after one warm-up"
    )
    print(f"{'page':<30} {'first ms':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    missed = []
    for name, url in pages():
        if args.page and name not in args.page:
            continue
        first, p50, p95, worst = measure(client, url, args.runs)
        print(f"{name:<30} {first:8.0f} {p50:8.0f} {p95:8.0f} {worst:8.0f}", flush=True)
        if p95 >= 1000:
            missed.append(name)
    if missed:
        print("p95 of 1 s or more: " + ", ".join(missed))


if __name__ == "__main__":
    main()
