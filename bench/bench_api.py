"""Latency of POST /api/v1/transactions/ under gunicorn, at a constant offered rate (open loop).

    .venv/bin/python bench/bench_api.py [--db postgres|sqlite|both] [--history 1000000]
        [--rate 150] [--duration 60] [--search 200,300,400] [--workers N --threads N] [--floor]

For each database: a fresh database with `--history` transactions over 180 days on 10,000 cards
and 1,000 merchants (bulk SQL), a champion model (the training module's gradient boosting, as in
bench_decide.py, so each decision runs lists, rules, features from history, the model and its
reasons), an integrator key, then gunicorn (the project's gunicorn.conf.py). The load generator
schedules arrivals at a fixed rate and measures each latency from the request's scheduled time,
so a slow server cannot slow the arrivals down (no coordinated omission). Each load also reports
the CPU time per request of the web server, the database server and the load generator (Linux's
/proc), and `--floor` first loads GET /api/v1/me/ at the same rate: the cost of any
authenticated API request, which no work on the decision can remove. On PostgreSQL the
statistics are refreshed after the warm-up, as autovacuum would (see `settle_statistics`). The
report opens and closes with a calibration (a fixed pure-Python loop), so figures taken on
different machines or days can be compared. Prints a JSON summary; the figures go in
docs/benchmarks.md by hand.
"""

import argparse
import asyncio
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/sentinel_bench")
SQLITE_PATH = ROOT / "var" / "bench-api.sqlite3"
CARDS, MERCHANTS, DAYS = 10_000, 1_000, 180
CONNECTIONS = 32  # the client's keep-alive pool, as wrk2's -c
FLOOR_PATH = "/api/v1/me/"  # authentication, throttling, one query, a serializer: no decision
ENV = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "bench-secret-key-" + "b" * 40,
    "CARD_FINGERPRINT_KEY": "bench-card-fingerprint-key",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "DJANGO_SECURE_SSL_REDIRECT": "0",
    "DJANGO_LOG_LEVEL": "ERROR",
    "DJANGO_SETTINGS_MODULE": "fraudsite.settings",
    "DETECTION_MODELS_DIR": str(ROOT / "var" / "bench-models"),
    "API_RATE_READ": "1000000/min",  # the floor's GETs must not be throttled
}

PG_HISTORY = """
INSERT INTO transactions_merchant (external_id, name, category, country)
SELECT 'bm_' || g, 'Merchant ' || g, (5000 + g % 40)::text, 'US' FROM generate_series(1, {merchants}) g;
INSERT INTO transactions_card (external_id, issuer_id, brand, first6, last4, cardholder_name, credit_limit, balance,
                               held, status, created_at)
SELECT 'ISSUER~bc_' || g, ISSUER, '', '', '', '', 100000000, 0, 0, 'active', now() FROM generate_series(1, {cards}) g;
INSERT INTO transactions_transaction (external_id, card_id, merchant_id, amount, currency, occurred_at, channel,
    country, decision, model_version, model_fallback_from, decided_by, rule_hits, reasons, features, status,
    is_fraud, label_known_at, label_source, created_at)
SELECT 'bh_' || g,
       (SELECT min(id) FROM transactions_card) + (g::bigint * 7919) % {cards},
       (SELECT min(id) FROM transactions_merchant) + (g::bigint * 104729) % {merchants},
       round((5 + random() * 120)::numeric, 2), 'USD',
       now() - interval '{days} days' + (g::float / {history}) * interval '{days} days',
       'online', 'US', 'approve', '', '', 'model', '[]', '[]', '{{}}', 'approved', g % 200 = 0,
       now() - interval '{days} days' + (g::float / {history}) * interval '{days} days' + interval '7 days',
       'import', now()
FROM generate_series(1, {history}) g;
VACUUM ANALYZE;
CHECKPOINT;
"""

SQLITE_HISTORY = """
WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {merchants})
INSERT INTO transactions_merchant (external_id, name, category, country)
SELECT 'bm_' || x, 'Merchant ' || x, CAST(5000 + x % 40 AS TEXT), 'US' FROM g;
WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {cards})
INSERT INTO transactions_card (external_id, issuer_id, brand, first6, last4, cardholder_name, credit_limit, balance,
                               held, status, created_at)
SELECT 'ISSUER~bc_' || x, ISSUER, '', '', '', '', '100000000', '0', '0', 'active',
       strftime('%Y-%m-%d %H:%M:%f', 'now') FROM g;
WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {history})
INSERT INTO transactions_transaction (external_id, card_id, merchant_id, amount, currency, occurred_at, channel,
    country, decision, model_version, model_fallback_from, decided_by, rule_hits, reasons, features, status,
    is_fraud, label_known_at, label_source, created_at)
SELECT 'bh_' || x,
       (SELECT min(id) FROM transactions_card) + (x * 7919) % {cards},
       (SELECT min(id) FROM transactions_merchant) + (x * 104729) % {merchants},
       CAST(round(5 + (abs(random()) % 12000) / 100.0, 2) AS TEXT), 'USD',
       strftime('%Y-%m-%d %H:%M:%f', 'now', '-{days} days', '+' || (x * {days} * 86400 / {history}) || ' seconds'),
       'online', 'US', 'approve', '', '', 'model', '[]', '[]', '{{}}', 'approved', x % 200 = 0,
       strftime('%Y-%m-%d %H:%M:%f', 'now', '-{days} days', '+' || (x * {days} * 86400 / {history}) || ' seconds',
                '+7 days'),
       'import', strftime('%Y-%m-%d %H:%M:%f', 'now')
FROM g;
ANALYZE;
"""


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def run(cmd, env):
    subprocess.run(cmd, env={**os.environ, **env}, check=True, cwd=ROOT)


def prepare(db, history):
    env = {**ENV, "DATABASE_URL": PG_URL if db == "postgres" else f"sqlite:///{SQLITE_PATH}"}
    if db == "postgres":
        import psycopg
        import psycopg.sql

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            # The database of BENCH_PG_URL, so that benchmarks run side by side do not collide.
            name = psycopg.sql.Identifier(PG_URL.rsplit("/", 1)[1].split("?")[0])
            conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(name))
    else:
        SQLITE_PATH.parent.mkdir(exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)
    log(f"[{db}] migrate")
    run([sys.executable, "manage.py", "migrate", "-v", "0"], env)
    log(f"[{db}] {history:,} transactions of history")
    started = time.monotonic()
    sql = (PG_HISTORY if db == "postgres" else SQLITE_HISTORY).format(
        cards=CARDS, merchants=MERCHANTS, days=DAYS, history=history
    )
    setup = f"""
from django.db import connection
from accounts.tests import factories
from accounts.services import api_key_create
import sys
import joblib
from detection import services
sys.path.insert(0, "bench")
import bench_decide
# The cards are the bench integrator's own (its card ids are scoped to it: see transactions.Card).
user = factories.integrator(email="bench@example.com")
with connection.cursor() as cursor:
    for statement in {sql!r}.replace("ISSUER", str(user.pk)).split(";"):
        if statement.strip():
            cursor.execute(statement)
# The champion: the training module's gradient boosting, trained on simulated days (shared with
# bench_decide.py), so each decision costs what a real one does.
model = bench_decide.MODEL_FILE
services.register(joblib.load(model) if model.exists() else bench_decide._train_model(), promote="force")
print(api_key_create(owner=user, name="bench")[1])
"""
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", setup],
        env={**os.environ, **env},
        check=True,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    # The load leaves about a gigabyte of dirty pages that the kernel writes back for minutes;
    # commits waiting behind that write-back stalled runs for seconds. Measure the steady state.
    os.sync()
    log(f"[{db}] history ready in {time.monotonic() - started:.0f} s")
    return env, out.stdout.strip().splitlines()[-1]


def settle_statistics():
    """ANALYZE after the warm-up, as autovacuum would on a live server (this machine's PostgreSQL
    runs with it off). The idempotency table was empty when the history was analysed, so every
    worker planned its UPDATE by primary key as a scan of a one-page table, and prepared
    statements keep their plan until statistics change: that scan grew with the table, from
    0.25 ms to 2.2 ms per request within four minutes of a fresh database."""
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute("ANALYZE")


def start_gunicorn(env, workers, threads, port):
    """The project's own gunicorn.conf.py (read from ROOT), with these workers and threads."""
    cmd = [str(Path(sys.executable).parent / "gunicorn"), "fraudsite.wsgi", "--log-level", "warning"]
    sizes = {"WEB_BIND": f"127.0.0.1:{port}"}
    if workers:
        sizes["WEB_WORKERS"] = str(workers)
    if threads:
        sizes["WEB_THREADS"] = str(threads)
    process = subprocess.Popen(cmd, env={**os.environ, **env, **sizes}, cwd=ROOT, start_new_session=True)
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/me/")
            conn.getresponse().read()
            return process
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def stop(process):
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def _request_bytes(port, key, body):
    if body is None:  # the floor: an authenticated GET that decides nothing
        return (
            f"GET {FLOOR_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Api-Key {key}\r\n\r\n"
        ).encode()
    data = body.encode()
    head = (
        f"POST /api/v1/transactions/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Api-Key {key}\r\nContent-Type: application/json\r\n"
        f"Idempotency-Key: {uuid.uuid4()}\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def _exchange(port, request, connection):
    """Send one request on a pooled keep-alive connection (opening it if it was closed);
    returns (status, connection to give back)."""
    for _attempt in range(3):
        if connection is None:
            connection = await asyncio.open_connection("127.0.0.1", port)
        reader, writer = connection
        try:
            writer.write(request)
            status_line = await reader.readline()
            if not status_line:
                raise ConnectionError("closed")
            length, keep = 0, True
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection" and value.strip().lower() == "close":
                    keep = False
            await reader.readexactly(length)
        except (ConnectionError, asyncio.IncompleteReadError):
            # The server closed an idle connection: send again on a new one (same
            # Idempotency-Key, so a resend never decides twice).
            writer.close()
            connection = None
            continue
        if not keep:
            writer.close()
            connection = None
        return int(status_line.split()[1]), connection
    return 0, None


async def _open_loop(port, key, rate, bodies, connections):
    """Request i is due at start + i/rate. It goes out on the first free connection of a fixed
    pool (as wrk2 does: a client keeps so many connections, never one per waiting request), and
    its latency counts from its due time, so time spent waiting for a connection counts too."""
    pool = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(None)  # opened on first use
    results, tasks = [], []
    requests = [_request_bytes(port, key, body) for body in bodies]
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.5

    async def one(request, scheduled):
        connection = await pool.get()
        status, connection = await _exchange(port, request, connection)
        pool.put_nowait(connection)
        results.append((status, loop.time() - scheduled, scheduled - start))

    for i, request in enumerate(requests):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(request, scheduled)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        connection = pool.get_nowait()
        if connection is not None:
            connection[1].close()
    return results


_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _processes():
    """{pid: (parent pid, command name, CPU ticks)} from /proc (Linux); {} elsewhere. A process's
    ticks include those of its children that ended and were reaped (cutime, cstime), so the CPU
    of a database backend that closes mid-load (CONN_MAX_AGE) still counts, in the postmaster."""
    found = {}
    for name in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                head, _, rest = f.read().rpartition(")")
        except OSError:
            continue
        fields = rest.split()
        found[int(name)] = (int(fields[1]), head.partition("(")[2], sum(int(x) for x in fields[11:15]))
    return found


def _machine_busy():
    """(busy, total) CPU ticks of the whole machine since boot."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return 0, 0
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # idle and iowait are not busy


class CpuMeter:
    """CPU time spent during a load, per request: the web server (gunicorn's arbiter and its
    workers), the database server (PostgreSQL's processes; SQLite runs inside the workers) and
    this load generator, plus how busy the whole machine was. Where requests cost their CPU says
    what a target rate needs: two cores give 2,000 ms of CPU a second to share among all three."""

    def __init__(self, server_pid):
        self.server_pid = server_pid

    def _groups(self):
        processes = _processes()
        server = {pid for pid, (parent, _, _) in processes.items() if parent == self.server_pid}
        server.add(self.server_pid)
        database = {pid for pid, (_, name, _) in processes.items() if name == "postgres"}
        return {
            "server": {pid: processes[pid][2] for pid in server if pid in processes},
            "database": {pid: processes[pid][2] for pid in database},
        }

    def start(self):
        self.before, self.times, self.busy = self._groups(), os.times(), _machine_busy()

    def per_request(self, requests):
        after, times, busy = self._groups(), os.times(), _machine_busy()
        result = {}
        for group in ("server", "database"):
            # Totals, not per process: a backend that ended took its ticks into the postmaster's.
            ticks = sum(after[group].values()) - sum(self.before[group].values())
            result[f"{group}_cpu_ms"] = round(ticks * _TICK_MS / requests, 2)
        own = (times.user - self.times.user) + (times.system - self.times.system)
        result["load_generator_cpu_ms"] = round(1000 * own / requests, 2)
        result["total_cpu_ms"] = round(sum(result.values()), 2)
        total = busy[1] - self.busy[1]
        result["machine_busy"] = round((busy[0] - self.busy[0]) / total, 2) if total else None
        return result


def load(port, key, rate, duration, connections=CONNECTIONS, *, meter=None, floor=False):
    """Open loop: request i is due at start + i/rate and its latency counts from that moment,
    however long earlier requests take (one asyncio loop, a fixed pool of keep-alive
    connections)."""
    total = int(rate * duration)
    rng = random.Random(1)
    bodies = (
        [None] * total
        if floor
        else [
            json.dumps(
                {
                    "card_id": f"bc_{rng.randint(1, CARDS)}",
                    "merchant_id": f"bm_{rng.randint(1, MERCHANTS)}",
                    "amount": f"{rng.uniform(5, 300):.2f}",
                    "currency": "USD",
                    "channel": "online",
                    "country": "US",
                }
            )
            for _ in range(total)
        ]
    )
    if meter is not None:
        meter.start()
    results = asyncio.run(_open_loop(port, key, rate, bodies, connections))
    cpu = meter.per_request(len(results)) if meter is not None else {}
    ok = 200 if floor else 201
    latencies = sorted(latency for _status, latency, _at in results)
    errors = sum(1 for status, _latency, _at in results if status != ok)

    def pct(p):
        return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1)

    statuses = {}
    for status, _latency, _at in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    # The slowest second shows stalls (garbage collection, checkpoints) that a percentile hides.
    by_second = {}
    for _status, latency, at in results:
        second = int(at)
        by_second[second] = max(by_second.get(second, 0.0), latency)
    return {
        "rate": rate,
        "slowest_seconds": {
            s: round(1000 * v) for s, v in sorted(by_second.items(), key=lambda kv: -kv[1])[:5]
        },
        "statuses": statuses,
        "duration_s": duration,
        "requests": len(results),
        "errors": errors,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(1000 * latencies[-1], 1),
        "mean_ms": round(1000 * statistics.fmean(latencies), 1),
        **cpu,
    }


def calibration_s():
    """Seconds a fixed pure-Python loop takes (best of three). The same machine has run at half
    speed for hours, and machines differ between sessions: a figure is comparable with another
    only next to this one."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(5_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


def bench(db, args):
    before = calibration_s()
    env, key = prepare(db, args.history)
    process = start_gunicorn(env, args.workers, args.threads, args.port)
    try:
        # Warm up every worker at the measured rate (a cold worker opens its database connection
        # and fills its caches on its first requests), then measure.
        load(args.port, key, args.rate, 5)
        if db == "postgres":
            settle_statistics()
        report = {
            "db": db,
            "workers": args.workers,
            "threads": args.threads,
            "history": args.history,
            "calibration_s": before,
        }
        meter = CpuMeter(process.pid)
        if args.floor:
            report["floor"] = load(args.port, key, args.rate, args.duration, meter=meter, floor=True)
            log(f"[{db}] floor (GET {FLOOR_PATH}) {report['floor']}")
        report["at_rate"] = load(args.port, key, args.rate, args.duration, meter=meter)
        log(f"[{db}] {report['at_rate']}")
        # The highest rate that holds for the whole duration: a run that passes for 20 s can still
        # drift into overload later, so each step runs as long as the target asks.
        report["search"] = []
        for rate in args.search:
            result = load(args.port, key, rate, args.duration, meter=meter)
            log(f"[{db}] search {result}")
            report["search"].append(result)
            if result["errors"] or result["p99_ms"] > 250:
                break
            report["sustained"] = rate
        report["calibration_after_s"] = calibration_s()
        return report
    finally:
        stop(process)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=150)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument(
        "--search", type=lambda s: [float(x) for x in s.split(",")], default=[200, 250, 300, 400]
    )
    parser.add_argument("--workers", type=int, default=None, help="Default: gunicorn.conf.py's.")
    parser.add_argument("--threads", type=int, default=None, help="Default: gunicorn.conf.py's.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--floor",
        action="store_true",
        help=f"Also load GET {FLOOR_PATH} at --rate: what any authenticated API request costs.",
    )
    args = parser.parse_args()
    dbs = ["postgres", "sqlite"] if args.db == "both" else [args.db]
    print(json.dumps([bench(db, args) for db in dbs], indent=2))


if __name__ == "__main__":
    main()
