"""Real servers for the failure tests: gunicorn serving the site, a `db_worker`, and a private
PostgreSQL cluster that a test may stop and start (never the shared server)."""

import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


IMMEDIATE_TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


def redis_or_skip(url):
    """A client of the Redis database at `url`, emptied; the test is skipped when none answers
    (failed instead, on CI with REQUIRE_REDIS=1)."""
    import pytest
    from redis import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except RedisError:
        if os.environ.get("CI") == "true" and os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis is required but not reachable at {url}.")
        pytest.skip(f"Redis is not reachable at {url}.")
    client.flushdb()
    return client


def django_env(*, database_url=None, db_name=None, tasks=None, **settings):
    """The environment of a process of ours: the test settings, pointed at a database."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "WORKER_TASKS": json.dumps(tasks or {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}),
        "WORKER_SETTINGS": json.dumps(settings),
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    if db_name is not None:
        env["WORKER_DB_NAME"] = db_name
    return env


def manage(*args, env, timeout=120):
    """Run a management command to its end; its stdout."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


class Gunicorn:
    """The project's gunicorn.conf.py with `workers` workers, logging to a file. Preloaded, so a
    worker killed by a test is replaced in a fraction of a second instead of re-importing
    everything (what a request does is the same either way)."""

    def __init__(self, env, *, workers=1, threads=1, log_dir, extra_args=()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_dir) / f"gunicorn-{self.port}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "fraudsite.wsgi",
                "--preload",
                "--no-control-socket",
                "--graceful-timeout",
                "5",
                *extra_args,
            ],
            cwd=ROOT,
            env={
                **env,
                "WEB_BIND": f"127.0.0.1:{self.port}",
                "WEB_WORKERS": str(workers),
                "WEB_THREADS": str(threads),
            },
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def connection(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, *, body=None, headers=None, timeout=30):
        """(status, headers, body bytes) of one request on a new connection."""
        conn = self.connection(timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            all_headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers={**all_headers, **(headers or {})})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log()}")
            try:
                self.request("GET", "/health/live/", timeout=5)  # counts against no rate limit
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not start:\n{self.log()}")

    def worker_pids(self):
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        return [int(pid) for pid in children.split()]

    def log(self):
        self._log.flush()
        return self.log_path.read_text()

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
        self._log.close()


class PrivatePostgres:
    """A PostgreSQL cluster of our own in a temporary directory, on a free port, that tests may
    stop and start. initdb refuses to run as root, so as root the cluster runs as the `postgres`
    system user (or `nobody`)."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="sentinel-pg-"))
        self.data = self.dir / "data"
        self.log_path = self.dir / "server.log"
        self._as_user = []
        if os.geteuid() == 0:
            user = "postgres" if _user_exists("postgres") else "nobody"
            shutil.chown(self.dir, user=user)
            self._as_user = ["runuser", "-u", user, "--"]
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    @staticmethod
    def available():
        return (PG_BIN / "initdb").exists() and (PG_BIN / "pg_ctl").exists()

    def url(self, dbname="postgres"):
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, program, *args, check=True):
        return subprocess.run(
            [*self._as_user, str(PG_BIN / program), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    def start(self):
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=100"
        )
        self._run("pg_ctl", "-D", self.data, "-l", self.log_path, "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode="fast"):
        """fast: sessions are told and ended; immediate: the server quits at once, as in a crash."""
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def execute(self, sql, dbname="postgres"):
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else None

    def destroy(self):
        self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def _user_exists(name):
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
