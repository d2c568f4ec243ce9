"""django_tasks_db's worker, made to outlive the database: `manage.py db_worker` runs this one.

django_tasks_db's own loop exits on the first error that is not "database is locked", so a
database restart stopped background work until someone restarted the worker. This worker treats
an unreachable database (core.outage) as a pause: it logs one warning when the outage starts,
drops its connections, tries again with exponential backoff (0.5 s doubling up to 10 s, with
jitter so a fleet of workers does not reconnect in step), logs once when the database is back, and
goes on picking up tasks. A task whose outcome could not be written because the database went
away mid-task gets it written once the database is back (its success, or its failure), instead of
staying "running" forever. Between tasks it runs the periodic chores (core/chores.py).

Everything else (queues, batch mode, signals, how a task is called) is django_tasks_db's."""

import contextlib
import logging
import random
import time

from django.db import close_old_connections, connections
from django.db.utils import OperationalError
from django_tasks_db.compat import task_finished
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from core.chores import Chores
from core.outage import DATABASE_UNAVAILABLE, one_line

logger = logging.getLogger("django_tasks_db")


class ResilientWorker(Worker):
    backoff_first = 0.5
    backoff_max = 10.0

    def __init__(self, *, chores=None, **kwargs):
        super().__init__(**kwargs)
        self.chores = chores if chores is not None else Chores()
        self.outage_started = None
        self._attempts = 0
        self._unrecorded = None  # (task result, "successful" | "failed", return value | exception)

    def run(self):
        logger.info("Starting worker worker_id=%s queues=%s", self.worker_id, ",".join(self.queue_names))
        if self.startup_delay and self.interval:
            time.sleep(random.random())  # spreads workers started together
        while self.running:
            try:
                if self._cycle():
                    return
            except DATABASE_UNAVAILABLE as exc:
                self._wait_out(exc)

    def _cycle(self):
        """One pass of django_tasks_db's loop, plus the chores. True when the worker is done."""
        close_old_connections()
        if self._unrecorded is not None:
            self._record_unrecorded()
        self.chores.run_due()

        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if not self.process_all_queues:
            tasks = tasks.filter(queue_name__in=self.queue_names)
        if self.excluded_queue_names:
            tasks = tasks.exclude(queue_name__in=self.excluded_queue_names)
        retrieved = True
        with exclusive_transaction(tasks.db):
            try:
                task_result = tasks.get_locked()
                if task_result is not None:
                    task_result.claim(self.worker_id)  # so no other worker runs it
            except OperationalError as exc:
                if not is_locked_database_exception(exc):
                    raise
                retrieved, task_result = False, None  # SQLite busy: it unlocks eventually
        self._back()

        if task_result is not None:
            self.run_task(task_result)
        if self.batch and retrieved and task_result is None:
            logger.info("No more tasks to run for worker_id=%s - exiting gracefully.", self.worker_id)
            return True
        if self.max_tasks is not None and self._run_tasks >= self.max_tasks:
            logger.info(
                "Run maximum tasks (%d) on worker=%s - exiting gracefully.", self._run_tasks, self.worker_id
            )
            return True
        close_old_connections()
        if self.running and task_result is None:
            time.sleep(self.interval)
        return False

    def run_task(self, db_task_result):
        """django_tasks_db's, remembering an outcome the database was not there to take."""
        set_successful, set_failed = db_task_result.set_successful, db_task_result.set_failed

        def successful(return_value):
            try:
                set_successful(return_value)
            except DATABASE_UNAVAILABLE:
                self._unrecorded = (db_task_result, "successful", return_value)
                raise

        def failed(exc):
            try:
                set_failed(exc)
            except DATABASE_UNAVAILABLE:
                if self._unrecorded is None:  # a success that could not be written stays one
                    self._unrecorded = (db_task_result, "failed", exc)
                raise

        db_task_result.set_successful, db_task_result.set_failed = successful, failed
        try:
            super().run_task(db_task_result)
        finally:
            del db_task_result.set_successful, db_task_result.set_failed

    def _record_unrecorded(self):
        db_task_result, outcome, value = self._unrecorded
        getattr(db_task_result, f"set_{outcome}")(value)
        self._unrecorded = None
        logger.warning(
            "Task id=%s: recorded as %s now that the database is back (it ended during the outage).",
            db_task_result.id,
            outcome,
        )
        task_finished.send(
            sender=type(db_task_result.task.get_backend()), task_result=db_task_result.task_result
        )

    def _wait_out(self, exc):
        if self.outage_started is None:
            self.outage_started = time.monotonic()
            self._attempts = 0
            logger.warning(
                "Database unavailable (%s); worker_id=%s retries with backoff until it is back.",
                one_line(exc),
                self.worker_id,
            )
        self._attempts += 1
        for connection in connections.all(initialized_only=True):
            with contextlib.suppress(Exception):  # a broken connection may fail to close: dropped anyway
                connection.close()
        delay = min(self.backoff_max, self.backoff_first * 2 ** (self._attempts - 1))
        time.sleep(delay * random.uniform(0.8, 1.2))  # jitter

    def _back(self):
        if self.outage_started is not None:
            logger.warning(
                "Database reachable again after %.1f s; worker_id=%s resumes.",
                time.monotonic() - self.outage_started,
                self.worker_id,
            )
            self.outage_started = None
