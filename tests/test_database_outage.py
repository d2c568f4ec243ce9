"""The database stops and starts again under real traffic: a private PostgreSQL cluster (initdb +
pg_ctl in a temporary directory, on a free port), gunicorn and a `db_worker` pointed at it.

- While it is down, every request answers 503 with Retry-After (the API's error shape under
  /api/, a plain page elsewhere), one log line each and no traceback; when it is back, requests
  succeed again without restarting anything.
- No Idempotency-Key stays stuck and no payment is stored twice, though the server vanished in
  the middle of requests (some between a commit and its acknowledgement).
- The task worker keeps running, logs once per outage, writes the outcome of a task that ended
  during the outage, and picks up new tasks when the database is back.

The timings measured (stop -> first 503, restart -> first 200) are printed (pytest -s)."""

import json
import os
import threading
import time
from pathlib import Path

import psycopg
import pytest

from tests.servers import ROOT, Gunicorn, PrivatePostgres, django_env, manage

# One private PostgreSQL cluster for the module: its tests stay on one parallel worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("private_postgres")]

if not PrivatePostgres.available():
    if os.environ.get("CI") == "true":
        pytest.fail("PostgreSQL's server binaries (initdb, pg_ctl) are required on CI.", pytrace=False)
    pytest.skip(
        "No PostgreSQL server binaries (initdb, pg_ctl) under PG_BIN (default /usr/lib/postgresql/15/bin): "
        "the database outage tests need a private server to stop and start.",
        allow_module_level=True,
    )

TEMPLATE = "fraud_template"
SEED = """
import json
from django.test import Client
from accounts.services import api_key_create
from accounts.tests import factories
from transactions.models import Card, Merchant
integrator = factories.integrator()
customer = factories.customer()
Card.objects.create(external_id="card_out", credit_limit="1000000.00", owner=customer)
Merchant.objects.create(external_id="m_out")
browser = Client()
browser.force_login(customer)
print(json.dumps({"key": api_key_create(owner=integrator, name="outage")[1],
                  "session": browser.cookies["sessionid"].value}))
"""


@pytest.fixture(scope="module")
def cluster():
    cluster = PrivatePostgres()
    try:
        cluster.start()
        cluster.execute(f"CREATE DATABASE {TEMPLATE}")
        manage("migrate", "-v", "0", env=django_env(database_url=cluster.url(TEMPLATE), db_name=TEMPLATE))
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def database(cluster, request):
    """A fresh, migrated database on the running cluster; its name."""
    if not _running(cluster):
        cluster.start()
    name = f"fraud_{request.node.name[:40].lower()}".replace("-", "_")
    cluster.execute(f"DROP DATABASE IF EXISTS {name}")
    cluster.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    return name


def _running(cluster):
    try:
        cluster.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def test_requests_get_503_while_the_database_is_down_and_succeed_once_it_is_back(cluster, database, tmp_path):
    env = django_env(database_url=cluster.url(database), db_name=database)
    seed = json.loads(manage("shell", "-c", SEED, env=env).strip().splitlines()[-1])
    auth = {"Authorization": f"Api-Key {seed['key']}"}
    server = Gunicorn(env, workers=2, threads=2, log_dir=tmp_path)
    try:
        server.wait_ready()
        outcome = _traffic_through_an_outage(cluster, server, auth, seed["session"])
        log = server.log()
        replays = {
            key: server.request(
                "POST", "/api/v1/transactions/", body=_payment(n), headers={**auth, "Idempotency-Key": key}
            )
            for n, key in enumerate(outcome["keys"])
        }
    finally:
        server.stop()

    probes, payments, page = outcome["probes"], outcome["payments"], outcome["page"]
    t_stop, t_up = outcome["stopped_at"], outcome["up_at"]
    answers = [*probes, *payments, page]
    statuses = sorted({status for _s, _e, status, _h, _b in answers}, key=str)
    assert set(statuses) <= {200, 201, 503}, statuses  # never 500, never 409 "in flight"
    unavailable = [a for a in answers if a[2] == 503]
    first_503 = min(end for start, end, status, _h, _b in probes if status == 503) - t_stop
    first_200 = min(end for start, end, status, _h, _b in probes if status == 200 and start >= t_up) - t_up
    restart_to_200 = first_200 + (t_up - outcome["start_command_at"])
    print(
        f"\ndatabase stop -> first 503: {first_503 * 1000:.0f} ms; server accepting again -> first 200: "
        f"{first_200 * 1000:.0f} ms ({restart_to_200 * 1000:.0f} ms after `pg_ctl start`); "
        f"{len(answers)} requests, {len(unavailable)} answered 503, statuses {statuses}; "
        f"{len(outcome['keys'])} payments through the outage"
    )

    assert unavailable and first_503 < 2 and first_200 < 5
    for _s, _e, _status, headers, _content in unavailable:
        assert int(headers["Retry-After"]) > 0
    api_503 = [a for a in unavailable if a is not page]
    assert all(json.loads(a[4])["error"]["code"] == "service_unavailable" for a in api_503)
    assert page[2] == 503 and page[3]["Content-Type"].startswith("text/html")
    assert b"Temporarily unavailable" in page[4]
    # One log line per 503, and not one traceback.
    assert log.count("Database unavailable, answered 503") == len(unavailable)
    assert "Traceback" not in log

    # Every payment was acted on exactly once, and its key replays it.
    assert outcome["unfinished"] == []
    assert all(
        status == 201 and headers.get("Idempotent-Replayed") == "true"
        for status, headers, _ in replays.values()
    )
    amounts = cluster.execute(
        "SELECT amount, count(*) FROM transactions_transaction GROUP BY amount HAVING count(*) > 1", database
    )
    assert amounts == []
    stored = cluster.execute("SELECT count(*) FROM transactions_transaction", database)[0][0]
    assert stored == len(outcome["keys"])


def _payment(n):
    return {"card_id": "card_out", "merchant_id": "m_out", "amount": f"{n + 1}.01"}


def _traffic_through_an_outage(cluster, server, auth, session):
    """Probes (GET /api/v1/me/) and payments (POST with a key each, retried until stored) run
    while the database is stopped for 3 s and started again."""
    stop = threading.Event()
    probes, payments, keys, unfinished = [], [], [], []
    counter = iter(range(10_000))
    lock = threading.Lock()

    def timed(method, path, **kwargs):
        start = time.monotonic()
        try:
            status, headers, content = server.request(method, path, timeout=30, **kwargs)
        except OSError as error:
            status, headers, content = f"connection error: {error}", {}, b""
        return start, time.monotonic(), status, headers, content

    def probe():
        while not stop.is_set():
            probes.append(timed("GET", "/api/v1/me/", headers=auth))
            time.sleep(0.02)

    def pay():
        while not stop.is_set():
            with lock:
                n = next(counter)
            key = f"outage-{n}"
            keys.append(key)
            deadline = time.monotonic() + 30
            while True:
                answer = timed(
                    "POST",
                    "/api/v1/transactions/",
                    body=_payment(n),
                    headers={**auth, "Idempotency-Key": key},
                )
                payments.append(answer)
                if answer[2] == 201:
                    break
                if time.monotonic() > deadline:
                    unfinished.append((key, answer[2]))
                    break
                time.sleep(0.1)

    threads = [threading.Thread(target=probe)] + [threading.Thread(target=pay) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)
        stopped_at = time.monotonic()
        cluster.stop("immediate")
        time.sleep(1.5)
        page = timed("GET", "/dashboard/", headers={"Cookie": f"sessionid={session}"})
        time.sleep(1.5)
        start_command_at = time.monotonic()
        cluster.start()
        up_at = time.monotonic()
        time.sleep(3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    return {
        "probes": probes,
        "payments": payments,
        "page": page,
        "keys": keys,
        "unfinished": unfinished,
        "stopped_at": stopped_at,
        "start_command_at": start_command_at,
        "up_at": up_at,
    }


def _task_status(cluster, database, task_id):
    sql = "SELECT status, return_value FROM django_tasks_database_dbtaskresult WHERE id = '%s'"
    rows = cluster.execute(sql % task_id.replace("'", ""), database)
    return rows[0] if rows else (None, None)


def _wait_for_status(cluster, database, task_id, wanted, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, value = _task_status(cluster, database, task_id)
        except psycopg.OperationalError:
            status, value = None, None
        if status == wanted:
            return value
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} never reached {wanted} (last: {status})")


ENQUEUER = """
import sys
import django
django.setup()
from django.db import connection
from tests import outage_tasks
for line in sys.stdin:
    connection.close()  # the last connection may have died with the server
    print(eval(line, {"outage_tasks": outage_tasks}).id, flush=True)
"""


class Enqueuer:
    """A process with Django set up, enqueueing tasks on request: no start-up cost per task."""

    def __init__(self, env):
        import subprocess
        import sys

        self.process = subprocess.Popen(
            [sys.executable, "-c", ENQUEUER],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __call__(self, call):
        self.process.stdin.write(f"outage_tasks.{call}\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


def test_the_task_worker_outlives_the_outage_and_picks_up_tasks_again(cluster, database, tmp_path):
    import subprocess
    import sys

    env = django_env(database_url=cluster.url(database), db_name=database)
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log_file:
        worker = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "db_worker", "--queue-name", "*", "--no-startup-delay",
             "--interval", "0.2", "--no-reload"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    enqueue = Enqueuer(env)
    try:
        # A task that ends while the database is away: its outcome is written when it is back.
        napping = enqueue("nap.enqueue(2)")
        _wait_for_status(cluster, database, napping, "RUNNING", timeout=30)
        cluster.stop("fast")
        time.sleep(3)
        assert worker.poll() is None, Path(log_path).read_text()
        cluster.start()
        assert _wait_for_status(cluster, database, napping, "SUCCESSFUL", timeout=20) == "rested"

        # A second outage while idle; a task enqueued after it is picked up.
        cluster.stop("immediate")
        time.sleep(3)
        assert worker.poll() is None, Path(log_path).read_text()
        cluster.start()
        restarted = time.monotonic()
        echo = enqueue("echo.enqueue('after the outage')")
        assert _wait_for_status(cluster, database, echo, "SUCCESSFUL", timeout=20) == "after the outage"
        print(
            f"\ndb_worker: task enqueued after the restart ran {time.monotonic() - restarted:.1f} s after it"
        )
        assert worker.poll() is None
    finally:
        enqueue.close()
        if worker.poll() is None:
            os.killpg(worker.pid, 15)
        worker.wait(timeout=30)
    log = Path(log_path).read_text()
    assert log.count("Database unavailable") == 2, log  # once per outage, not once per attempt
    assert log.count("Database reachable again") == 2, log
    assert "Traceback" not in log, log
