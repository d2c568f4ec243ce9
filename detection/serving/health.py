"""Readiness checks of detection for the health endpoint (`core.health`): the champion model
is loadable, and the task queue takes work and a worker takes it off.

Database work runs in the request's own thread (`thread_sensitive`), on its usual connection,
so a probe every few seconds opens no connection of its own; Redis is asked on a short-lived
client with short timeouts, so a hung Redis cannot hold the request thread.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.db import DatabaseError
from django.db.models import Min, Q
from django.tasks import task_backends
from django.utils import timezone
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult, get_date_max
from health_check.base import HealthCheck

from core.health import Degraded, Failed
from core.rq_backend import RQBackend
from detection import conf
from detection.serving import registry


@dataclasses.dataclass
class ChampionModel(HealthCheck):
    """The champion's artifact passed verification (present, checksum, scikit-learn version) and
    decides in this process. Degraded when an earlier champion serves in its place or none was
    trained yet; failed when a champion exists and nothing can be loaded."""

    async def run(self):
        try:
            status = await sync_to_async(registry.serving_status, thread_sensitive=True)()
        except DatabaseError as error:
            raise Failed(f"registry unreadable: {error}", code="registry_unavailable") from error
        if status.state == "ok":
            return
        if status.state == "no_champion":
            raise Degraded("no champion model yet", code="no_champion")
        if status.state == "fallback":
            raise Degraded(
                f"champion {status.champion} refused ({status.error}); {status.serving} serves",
                code="champion_fallback",
                reason=status.error_code,
            )
        raise Failed(
            f"champion {status.champion} refused ({status.error}); no model can be loaded",
            code="no_loadable_model",
            reason=status.error_code,
        )


@dataclasses.dataclass
class TaskQueue(HealthCheck):
    """The configured `django.tasks` backend can take work and a worker takes it off: on the
    database backend its table answers; on Redis (RQ) Redis answers. The stock workers keep no
    heartbeat of their own, so a worker's absence shows as work waiting too long: degraded when
    the oldest runnable task has waited more than DETECTION_HEALTH_TASK_MAX_WAIT_SECONDS (or, on
    RQ, when jobs wait and no worker is registered)."""

    alias: str = "default"

    async def run(self):
        backend = task_backends[self.alias]
        if isinstance(backend, DatabaseBackend):
            await sync_to_async(self._database, thread_sensitive=True)(backend)
        elif isinstance(backend, RQBackend):
            await sync_to_async(self._redis, thread_sensitive=False)(backend)
        # The immediate and dummy backends queue nothing outside this process.

    def _database(self, backend):
        never = get_date_max()  # run_after of a task that was not deferred
        try:
            waiting = (
                DBTaskResult.objects.ready()
                .filter(backend_name=backend.alias)
                .aggregate(
                    enqueued=Min("enqueued_at", filter=Q(run_after=never)),
                    due=Min("run_after", filter=~Q(run_after=never)),
                )
            )
        except DatabaseError as error:
            raise Failed(f"task table unreachable: {error}", code="queue_unavailable") from error
        since = min((value for value in waiting.values() if value is not None), default=None)
        self._check_wait(since)

    def _redis(self, backend):
        from redis import Redis
        from redis.exceptions import RedisError
        from rq import Queue, Worker

        client = Redis.from_url(backend.url, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
            queue = Queue("default", connection=client)
            waiting = queue.count
            workers = Worker.count(connection=client)
            oldest = None
            if waiting:
                job_ids = queue.get_job_ids(0, 0)
                job = queue.fetch_job(job_ids[0]) if job_ids else None
                oldest = job.enqueued_at if job is not None else None
        except RedisError as error:
            raise Failed(f"Redis unreachable: {error}", code="queue_unavailable") from error
        finally:
            client.close()
        if waiting and not workers:
            raise Degraded(f"{waiting} job(s) waiting and no RQ worker registered", code="no_worker")
        if oldest is not None and timezone.is_naive(oldest):
            oldest = timezone.make_aware(oldest, timezone.UTC)
        self._check_wait(oldest)

    def _check_wait(self, since):
        if since is None:
            return
        waited = timezone.now() - since
        if waited > timedelta(seconds=conf.health_task_max_wait_seconds()):
            raise Degraded(
                f"the oldest task has waited {waited.total_seconds():.0f} s; is a worker running?",
                code="queue_stalled",
            )
