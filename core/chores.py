"""Periodic housekeeping (purging expired idempotency records, ...) run by the task workers
themselves, between tasks.

Why there: a worker runs wherever background work runs, and as long as it runs the chores do; a
chore that fails is logged and tried again at its next time, and one that meets an unreachable
database is retried when it is back. A cron entry can be forgotten, and a task that re-enqueues
itself stops for good the first time enqueueing it fails. Several workers may run the same chore;
each one must therefore be safe to run twice (a purge is).

`PERIODIC_CHORES` in the settings maps each chore's dotted path to its interval in seconds. Every
chore runs once when a worker starts, then at its interval."""

import logging
import time

from django.utils.module_loading import import_string

from core import conf
from core.outage import DATABASE_UNAVAILABLE

logger = logging.getLogger(__name__)


class Chores:
    def __init__(self, schedule=None, *, clock=time.monotonic):
        self._clock = clock
        self._every = conf.periodic_chores() if schedule is None else conf.periodic_chores.parse(schedule)
        self._due = dict.fromkeys(self._every, clock())

    def run_due(self):
        """Run every chore whose time has come. An unreachable database propagates (the worker
        waits it out, and the chore runs once the database is back); any other failure is logged
        with its traceback and the chore tried again at its next time."""
        for path, every in self._every.items():
            if self._clock() < self._due[path]:
                continue
            try:
                outcome = import_string(path)()
            except DATABASE_UNAVAILABLE:
                raise
            except Exception:
                logger.exception("Periodic chore %s failed; next try in %d s.", path, every)
            else:
                logger.info("Periodic chore %s done (%s).", path, outcome)
            self._due[path] = self._clock() + every
