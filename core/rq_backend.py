"""A `django.tasks` backend on Redis Queue (RQ), for deployments with many worker machines.

Why our own: `django-tasks-rq` is written for the `django_tasks` backport, not for Django's
own `django.tasks`. It does accept our Task objects, but what it hands back are the backport's
TaskResult objects and it sends the backport's signals, so `isinstance(result,
django.tasks.TaskResult)`, `task.get_result()` and Django's task signals (and their logging) do
not behave as with Django's backends; it also needs django-rq. This backend is small and uses
`rq` directly: a task becomes an RQ job whose id is the task result's id, and
`get_result()` rebuilds a `django.tasks.TaskResult` from the job.

Settings (``fraudsite/settings.py`` picks it when ``REDIS_URL`` is set)::

    TASKS = {"default": {"BACKEND": "core.rq_backend.RQBackend",
                         "OPTIONS": {"URL": "redis://127.0.0.1:6379/0"}}}

Workers: ``manage.py rq_worker`` (one per core, on any number of machines sharing the Redis).
"""

from __future__ import annotations

import logging
from traceback import format_exception

from django.db import close_old_connections
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import TASK_MAX_PRIORITY, Task, TaskContext, TaskError, TaskResult, TaskResultStatus
from django.tasks.exceptions import TaskResultDoesNotExist
from django.tasks.signals import task_enqueued, task_finished, task_started
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.json import normalize_json
from django.utils.module_loading import import_string
from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from core import conf

logger = logging.getLogger(__name__)

STATUS = {
    JobStatus.QUEUED: TaskResultStatus.READY,
    JobStatus.SCHEDULED: TaskResultStatus.READY,
    JobStatus.DEFERRED: TaskResultStatus.READY,
    JobStatus.CREATED: TaskResultStatus.READY,
    JobStatus.STARTED: TaskResultStatus.RUNNING,
    JobStatus.FINISHED: TaskResultStatus.SUCCESSFUL,
    JobStatus.FAILED: TaskResultStatus.FAILED,
    JobStatus.STOPPED: TaskResultStatus.FAILED,
    JobStatus.CANCELED: TaskResultStatus.FAILED,
}
# Results and failures are kept a week in Redis (RQ's defaults are shorter).
RESULT_TTL = 7 * 24 * 3600


def _aware(value):
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value, timezone.UTC)
    return value


def run_task(module_path, args, kwargs, backend_alias, result_id):
    """What the RQ worker runs: look the Task up by path and call it as Django's backends do."""
    from django.tasks import task_backends

    task: Task = import_string(module_path)
    if not isinstance(task, Task):
        raise TypeError(f"{module_path} is not a django.tasks Task.")
    backend = task_backends[backend_alias]
    result = backend.get_result(result_id)
    close_old_connections()
    task_started.send(sender=type(backend), task_result=result)
    try:
        if task.takes_context:
            value = task.call(TaskContext(task_result=result), *args, **kwargs)
        else:
            value = task.call(*args, **kwargs)
    except BaseException as error:
        object.__setattr__(result, "status", TaskResultStatus.FAILED)
        object.__setattr__(result, "finished_at", timezone.now())
        result.errors.append(
            TaskError(
                exception_class_path=f"{type(error).__module__}.{type(error).__qualname__}",
                traceback="".join(format_exception(error)),
            )
        )
        task_finished.send(sender=type(backend), task_result=result)
        raise
    finally:
        close_old_connections()
    object.__setattr__(result, "status", TaskResultStatus.SUCCESSFUL)
    object.__setattr__(result, "finished_at", timezone.now())
    object.__setattr__(result, "_return_value", normalize_json(value))
    task_finished.send(sender=type(backend), task_result=result)
    return normalize_json(value)


class RQBackend(BaseTaskBackend):
    supports_defer = True
    supports_get_result = True
    supports_priority = True  # the highest priority goes to the front of the queue

    def __init__(self, alias, params):
        super().__init__(alias, params)
        self.url = self.options.get("URL") or conf.redis_url() or "redis://127.0.0.1:6379/0"
        self._connection = None

    @property
    def connection(self) -> Redis:
        if self._connection is None:
            self._connection = Redis.from_url(self.url)
        return self._connection

    def queue(self, name) -> Queue:
        return Queue(name, connection=self.connection)

    def enqueue(self, task, args, kwargs):
        self.validate_task(task)
        result = TaskResult(
            task=task,
            id=get_random_string(32),
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        queue = self.queue(task.queue_name)
        job_args = (task.module_path, result.args, result.kwargs, self.alias, result.id)
        options = {
            "job_id": result.id,
            "result_ttl": RESULT_TTL,
            "failure_ttl": RESULT_TTL,
            # Training can take a while; RQ's default of 180 s would kill it.
            "job_timeout": int(self.options.get("JOB_TIMEOUT", 6 * 3600)),
            "meta": {"backend": self.alias, "task": task.module_path},
        }
        if task.run_after is not None:
            queue.enqueue_at(task.run_after, run_task, *job_args, **options)
        else:
            queue.enqueue(run_task, *job_args, at_front=task.priority == TASK_MAX_PRIORITY, **options)
        object.__setattr__(result, "enqueued_at", timezone.now())
        task_enqueued.send(type(self), task_result=result)
        return result

    def mark_lost(self, result_id, message) -> bool:
        """Record as failed a job whose worker died (its run noticed the missing heartbeat), as
        RQ's own clean-up of abandoned jobs does, without waiting for the job's timeout (hours
        for training). True when the job was still queued or started."""
        from rq.job_lifecycle import record_job_failure

        try:
            job = Job.fetch(result_id, connection=self.connection)
        except NoSuchJobError:
            return False
        status = job.get_status()
        if status not in (JobStatus.STARTED, JobStatus.QUEUED):
            return False
        with self.connection.pipeline() as pipeline:
            if status == JobStatus.STARTED:
                job.started_job_registry.remove_executions(job, pipeline=pipeline)
            else:
                self.queue(job.origin).remove(job, pipeline=pipeline)
            record_job_failure(job, message, pipeline)
            pipeline.execute()
        return True

    def get_result(self, result_id):
        try:
            job = Job.fetch(result_id, connection=self.connection)
        except NoSuchJobError:
            raise TaskResultDoesNotExist(result_id) from None
        module_path, args, kwargs, _alias, _id = job.args
        task = import_string(module_path)
        status = STATUS.get(job.get_status(refresh=False), TaskResultStatus.READY)
        errors = []
        latest = job.latest_result()
        if status == TaskResultStatus.FAILED:
            errors.append(
                TaskError(
                    exception_class_path="builtins.Exception",
                    traceback=(latest.exc_string if latest is not None else "") or str(job.exc_info or ""),
                )
            )
        result = TaskResult(
            task=task.using(queue_name=job.origin, backend=self.alias),
            id=job.id,
            status=status,
            enqueued_at=_aware(job.enqueued_at),
            started_at=_aware(job.started_at),
            last_attempted_at=_aware(job.started_at),
            finished_at=_aware(job.ended_at),
            args=list(args),
            kwargs=dict(kwargs),
            backend=self.alias,
            errors=errors,
            worker_ids=[job.worker_name] if job.worker_name else [],
        )
        if status == TaskResultStatus.SUCCESSFUL:
            object.__setattr__(result, "_return_value", job.return_value())
        return result
