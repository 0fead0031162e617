"""
An executor that hands runs to the workers of a Celery app.

The scheduler's process sends each submission as a message to one task of this package,
:data:`TASK_NAME`, by name (it does not import the module the workers load); the workers
register that task with :func:`install`. The outcome comes back through the app's result
backend, which the executor reads for all runs in progress at once.

Scheduler side::

    scheduler = BackgroundScheduler(
        executors={"default": {"type": "celery", "app": "myproject.celery:app", "queue": "cron"}}
    )

Worker side, in the module that ``celery -A`` loads::

    from apscheduler.executors.celery import install

    install(app)

.. versionadded:: 3.12.0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from celery import Celery
from celery.backends.base import (
    DisabledBackend,
    KeyValueStoreBackend,
)
from celery.exceptions import SoftTimeLimitExceeded

from apscheduler.executors._remote_messages import RunMessage, RunOutcome
from apscheduler.executors._remote_worker import (
    DEFAULT_CLAIM_TTL,
    claims_from,
    run_message,
)
from apscheduler.executors.remote import (
    DEFAULT_POLL_INTERVAL,
    RemoteExecutor,
    SentRun,
    lost_outcomes,
    timed_out_outcomes,
)
from apscheduler.util import ref_to_obj

if TYPE_CHECKING:
    from apscheduler.job import Job

#: the name of the task that runs a job on a worker
TASK_NAME = "apscheduler.run_job"
#: the soft time limit comes this long before the hard one (at most; 10 % of short timeouts)
SOFT_LIMIT_MARGIN = 1.0

# the states of a task that has ended, and those of a task still to end
_SUCCESS = "SUCCESS"
_FAILURE = "FAILURE"
_UNFINISHED_STATES = frozenset({"PENDING", "RECEIVED", "STARTED", "RETRY"})


class CeleryExecutor(RemoteExecutor):
    """
    Sends each run to the workers of a Celery app and reports what they say of it.

    The app needs a result backend: the outcomes come back through it.

    :param app: the Celery app, or its ``package.module:name`` text reference (imported when
        the executor starts)
    :param queue: the queue to send the runs to (default: the app's default queue)
    :param poll_interval: seconds between two looks at the result backend while runs are out
    :param priority: the Celery priority of every message this executor sends (``None``: the
        app's default); what it means depends on the broker (see the documentation)
    """

    def __init__(
        self,
        app: Any,
        queue: str | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        priority: int | str | None = None,
    ) -> None:
        super().__init__(poll_interval)
        if not isinstance(app, (str, Celery)):
            raise TypeError(
                f'app must be a Celery app or its "package.module:name" reference, not {app!r}'
            )
        self._app_option: str | Celery = app
        self.queue = queue
        self.priority = None if priority is None else int(priority)
        self.app: Celery | None = None

    # ----- RemoteExecutor

    def _connect(self) -> None:
        app = resolve_app(self._app_option)
        check_result_backend(app)
        self.app = app
        if self.queue is None:
            self.queue = app.conf.task_default_queue

    def _send(self, message: RunMessage, job: Job) -> str:
        assert self.app is not None, "This executor has not been started yet"
        options: dict[str, Any] = {"queue": self.queue}
        if self.priority is not None:
            options["priority"] = self.priority
        if message["timeout"] is not None:
            options["soft_time_limit"], options["time_limit"] = time_limits(message["timeout"])
        result = self.app.send_task(TASK_NAME, args=[message], **options)
        return str(result.id)

    def _collect(self, sent: Sequence[SentRun]) -> Mapping[str, Sequence[RunOutcome]]:
        assert self.app is not None, "This executor has not been started yet"
        # app.backend belongs to the calling thread: this one is the collector's own
        metas = task_metas(self.app.backend, [run.task_id for run in sent])
        ended: dict[str, Sequence[RunOutcome]] = {}
        for run in sent:
            meta = metas.get(run.task_id)
            if meta is not None:
                outcomes = outcomes_from_meta(run, meta)
                if outcomes is not None:
                    ended[run.task_id] = outcomes
        return ended

    def __repr__(self) -> str:
        return f"<{type(self).__name__} (app={self._app_option!r}, queue={self.queue!r})>"


# ----- the scheduler side


def resolve_app(app: str | Celery) -> Celery:
    """The Celery app ``app`` is, or refers to.

    :raises TypeError: the reference names something else
    """
    resolved = ref_to_obj(app) if isinstance(app, str) else app
    if not isinstance(resolved, Celery):
        raise TypeError(f"{app!r} is not a Celery app but {resolved!r}")
    return resolved


def check_result_backend(app: Celery) -> None:
    """
    Refuse an app without a result backend: the outcomes of the runs could not come back.

    :raises ValueError: naming the app
    """
    if isinstance(app.backend, DisabledBackend):
        raise ValueError(
            f"The Celery app {app.main!r} has no result backend, and the CeleryExecutor reads "
            f"the outcomes of the runs from it: set its result_backend (a redis:// URL, for "
            f"example)"
        )


def time_limits(timeout: float) -> tuple[float, float]:
    """
    Celery's ``(soft_time_limit, time_limit)`` for a job's ``timeout``.

    The hard limit is the timeout; the soft one comes just before it, so that the run ends
    with :exc:`~celery.exceptions.SoftTimeLimitExceeded` inside the job, which the worker
    reports as timed out, and the hard limit only stops a run that ignores it.
    """
    margin = min(SOFT_LIMIT_MARGIN, timeout / 10)
    return timeout - margin, timeout


def task_metas(backend: Any, task_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    """
    The result documents of the tasks that have one, by task id: one ``MGET`` on a key-value
    result backend (Redis, memcached, ...), one look-up per task on the others.

    The documents are decoded but their exceptions not rebuilt: only the class name is read.
    """
    if isinstance(backend, KeyValueStoreBackend):
        keys = [backend.get_key_for_task(task_id) for task_id in task_ids]
        values = backend.mget(keys)
        if isinstance(values, Mapping):  # some clients answer by key
            values = [values.get(key) for key in keys]
        return {
            task_id: backend.decode(value)
            for task_id, value in zip(task_ids, values, strict=True)
            if value is not None
        }
    return {task_id: backend.get_task_meta(task_id) for task_id in task_ids}


def outcomes_from_meta(run: SentRun, meta: Mapping[str, Any]) -> list[RunOutcome] | None:
    """
    The outcomes of ``run`` by its task's result document; ``None`` while it has not ended.

    A worker child that died mid-run (``WorkerLostError``) makes the run lost, Celery's hard
    time limit makes it timed out; a task revoked, or failed outside the job, is lost too: the
    job may or may not have run.
    """
    state = meta.get("status")
    result = meta.get("result")
    if state in _UNFINISHED_STATES:
        return None
    if state == _SUCCESS:
        if isinstance(result, list) and all(isinstance(item, dict) for item in result):
            return result
        return lost_outcomes(run, f"the Celery task returned {result!r}, not the run's outcome")
    if state == _FAILURE:
        return _failure_outcomes(run, result)
    return lost_outcomes(run, f"the Celery task ended as {state}")


def _failure_outcomes(run: SentRun, error: Any) -> list[RunOutcome]:
    name, text = _exception_name_and_text(error)
    if name == "TimeLimitExceeded":
        return timed_out_outcomes(
            run, f"the Celery worker stopped it at its hard time limit ({text or '?'} s)"
        )
    if name == "SoftTimeLimitExceeded":
        return timed_out_outcomes(run, "the Celery worker stopped it at its soft time limit")
    if name == "WorkerLostError":
        return lost_outcomes(run, f"the Celery worker process running it died ({text})")
    return lost_outcomes(run, f"the Celery task failed outside the job: {name}: {text}")


def _exception_name_and_text(error: Any) -> tuple[str, str]:
    """The class name and message of an exception, rebuilt or as its serialized document."""
    if isinstance(error, BaseException):
        return type(error).__name__, str(error)
    if isinstance(error, Mapping):
        message = error.get("exc_message", "")
        if isinstance(message, (list, tuple)):
            message = " ".join(str(part) for part in message)
        return str(error.get("exc_type", "Exception")), str(message)
    return "Exception", str(error)


# ----- the worker side


def install(app: Celery, claims: Any = None, *, claim_ttl: int = DEFAULT_CLAIM_TTL) -> Any:
    """
    Register the task that runs the jobs an executor sends (call it in the module the workers
    load).

    :param app: the workers' Celery app
    :param claims: where the workers mark the runs they take, so that a run is made once: a
        ``redis://`` URL, a ``redis.Redis`` client or a
        :class:`~apscheduler.executors._remote_worker.RunClaims` (default: the app's broker,
        when it is a Redis server)
    :param claim_ttl: seconds a run's mark keeps refusing copies of its message
    :return: the task
    :raises ValueError: neither ``claims`` nor a Redis broker is given
    """
    run_claims = claims_from(_claims_source(app, claims), ttl=claim_ttl)

    @app.task(name=TASK_NAME, bind=True, shared=False, ignore_result=False, typing=False)  # type: ignore[untyped-decorator]
    def run_job(task: Any, message: RunMessage) -> list[RunOutcome]:
        return run_message(
            message,
            run_claims,
            redelivered=_redelivered(task.request),
            on_timeout=SoftTimeLimitExceeded,
        )

    return run_job


def _claims_source(app: Celery, claims: Any) -> Any:
    if claims is not None:
        return claims
    broker = _first_broker_url(app.conf.broker_url)
    if broker.startswith(("redis://", "rediss://")):
        return broker
    raise ValueError(
        f"The workers mark the runs they take in Redis, so that a redelivered or copied message "
        f"never runs a job twice, and the broker of the Celery app {app.main!r} is not Redis "
        f"({broker or 'none set'}): give install() a Redis server, claims='redis://host:6379/0'"
    )


def _first_broker_url(setting: str | Iterable[str] | None) -> str:
    """The first of the broker URLs (Celery takes a list, or ``;``-separated fail-overs)."""
    if not setting:
        return ""
    if isinstance(setting, str):
        return setting.split(";")[0].strip()
    return next(iter(setting), "")


def _redelivered(request: Any) -> bool:
    """Whether the broker delivers this message again (its worker died before the ack)."""
    return bool((request.delivery_info or {}).get("redelivered"))


__all__ = ["TASK_NAME", "CeleryExecutor", "install"]
