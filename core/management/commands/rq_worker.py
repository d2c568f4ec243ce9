from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.tasks import task_backends
from rq import SimpleWorker, Worker

from core.chores import Chores
from core.outage import DATABASE_UNAVAILABLE, one_line
from core.rq_backend import RQBackend


class ChoresMixin:
    """RQ's periodic maintenance (at start, then every 10 minutes) also runs our chores
    (PERIODIC_CHORES, core/chores.py) in the worker's main process, between jobs."""

    chores = None

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        if self.chores is None:
            self.chores = Chores()
        try:
            self.chores.run_due()
        except DATABASE_UNAVAILABLE as error:
            self.log.warning("Periodic chores wait: database unavailable (%s)", one_line(error))
        finally:
            connections.close_all()  # a forked job must not share the parent's database sockets


class Command(BaseCommand):
    help = (
        "Run a worker for background tasks queued in Redis (the RQ task backend, used when REDIS_URL "
        "is set). Start one per core on as many machines as needed; they share the queue."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--queue-name", default="default", help="Comma-separated queues to work on (default: default)."
        )
        parser.add_argument(
            "--backend", default="default", help="The TASKS alias to serve (default: default)."
        )
        parser.add_argument("--burst", action="store_true", help="Run every queued task, then exit.")
        parser.add_argument(
            "--simple",
            action="store_true",
            help="Run tasks in this process instead of a forked child (for debugging).",
        )

    def handle(self, *args, **options):
        try:
            backend = task_backends[options["backend"]]
        except Exception as error:
            raise CommandError(f"No task backend {options['backend']!r}: {error}") from error
        if not isinstance(backend, RQBackend):
            raise CommandError(
                f"The task backend {options['backend']!r} is {type(backend).__name__}, not the RQ backend: "
                "set REDIS_URL, or use 'manage.py db_worker' for the database backend."
            )
        names = [name.strip() for name in options["queue_name"].split(",") if name.strip()]
        if not names:
            raise CommandError("--queue-name needs at least one queue.")
        # A forked job must not share the parent's database sockets.
        connections.close_all()
        worker_class = type("ChoresWorker", (ChoresMixin, SimpleWorker if options["simple"] else Worker), {})
        worker = worker_class([backend.queue(name) for name in names], connection=backend.connection)
        worker.work(burst=options["burst"], with_scheduler=True)
