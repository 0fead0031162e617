"""
An executor that hands runs to Dramatiq workers, and the one actor those workers run them with.

Scheduler side: :class:`DramatiqExecutor` enqueues one message per submission for the actor
``apscheduler_run_job`` and reads the outcomes from the broker's ``Results`` middleware.
Worker side: :func:`install` declares that actor on the broker of the module the ``dramatiq``
command loads.

.. versionadded:: 3.12.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq.middleware import CurrentMessage, TimeLimit, TimeLimitExceeded
from dramatiq.results import ResultFailure, ResultMissing, Results
from dramatiq.results.backends import RedisBackend

from apscheduler.executors._remote_messages import (
    DUPLICATE,
    RunMessage,
    RunOutcome,
    message_time_limit,
)
from apscheduler.executors._remote_worker import (
    CLAIMED,
    DEFAULT_CLAIM_TTL,
    RunClaims,
    claims_from,
    run_message,
    worker_name,
)
from apscheduler.executors.remote import (
    DEFAULT_POLL_INTERVAL,
    RemoteExecutor,
    SentRun,
    lost_outcomes,
    timed_out_outcomes,
)
from apscheduler.util import maybe_ref

if TYPE_CHECKING:
    from apscheduler.job import Job

#: the name of the actor that runs jobs on the workers
ACTOR_NAME = "apscheduler_run_job"
#: milliseconds an outcome stays in the result backend (Dramatiq's default is 10 minutes)
RESULT_TTL = 24 * 3600 * 1000
#: the prefix of the claims that mark a delivery as seen (see :func:`install`)
DELIVERY_PREFIX = "dramatiq-delivery:"
#: what a result backend holds for a run still going on (a stored ``None`` is a result)
NOT_YET = object()


class DramatiqExecutor(RemoteExecutor):
    """
    Sends each run to a Dramatiq worker and reports its outcome when the worker has run it.

    The broker needs the ``Results`` middleware: its backend brings the
    outcomes back (a ``RedisBackend`` is read in one round trip
    for all runs in progress). The workers load a module that calls :func:`install`.

    Plugin alias: ``dramatiq``

    :param broker: the Dramatiq broker, or its ``package.module:name`` text reference
    :param queue_name: the Dramatiq queue the messages go to
    :param max_retries: how many times Dramatiq's ``Retries`` middleware may deliver a message
        again after the worker-side task itself failed (its claims store unreachable, say); the
        job's own exceptions are reported, never retried by Dramatiq: the job's ``max_retries``
        option retries those
    :param priority: the message option ``broker_priority`` (honoured by a ``RabbitmqBroker``
        made with a ``max_priority``; Redis has no message priorities)
    :param poll_interval: seconds between two looks at the outcomes of the runs in progress

    .. versionadded:: 3.12.0
    """

    def __init__(
        self,
        broker: Any,
        queue_name: str = "default",
        max_retries: int = 0,
        priority: int | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        super().__init__(poll_interval=poll_interval)
        if not isinstance(broker, (str, dramatiq.Broker)):
            raise TypeError(f"broker must be a Dramatiq broker or its text reference: {broker!r}")
        self._broker_ref = broker
        self.broker: dramatiq.Broker | None = None
        self.queue_name = queue_name
        self.max_retries = int(max_retries)
        self.priority = priority
        self._backend: Any = None

    def _connect(self) -> None:
        broker = maybe_ref(self._broker_ref)
        if not isinstance(broker, dramatiq.Broker):
            raise TypeError(f"{self._broker_ref!r} is not a Dramatiq broker, but {broker!r}")
        self.broker = broker
        self._backend = result_backend(broker)

    def _send(self, message: RunMessage, job: Job) -> str:
        assert self.broker is not None, "the executor is not started"
        dramatiq_message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=self.queue_name,
            actor_name=ACTOR_NAME,
            args=(message,),
            kwargs={},
            options=self._message_options(message),
        )
        self.broker.enqueue(dramatiq_message)
        return dramatiq_message.message_id

    def _message_options(self, message: RunMessage) -> dict[str, Any]:
        """Dramatiq's options for one run: its time limit, retries and priority."""
        options: dict[str, Any] = {"max_retries": self.max_retries}
        limit = message_time_limit(message)
        if limit is not None:
            options["time_limit"] = max(1, round(limit * 1000))
        if self.priority is not None:
            options["broker_priority"] = self.priority
        return options

    def _collect(self, sent: Sequence[SentRun]) -> Mapping[str, Sequence[RunOutcome]]:
        done: dict[str, Sequence[RunOutcome]] = {}
        for run, stored in zip(sent, self._read_results(sent), strict=True):
            if stored is not NOT_YET:
                done[run.task_id] = outcomes_from_result(run, stored)
        return done

    def _read_results(self, sent: Sequence[SentRun]) -> list[Any]:
        """
        The stored result of each run: :data:`NOT_YET` while there is none, else what the actor
        returned or the ``ResultFailure`` of its failure. Nothing waits.
        """
        backend = self._backend
        messages = [self._result_message(run.task_id) for run in sent]
        if not isinstance(backend, RedisBackend):
            return [_stored_result(backend, message) for message in messages]
        with backend.client.pipeline(transaction=False) as pipe:
            for message in messages:
                pipe.lindex(backend.build_message_key(message), 0)
            found = pipe.execute()
        return [NOT_YET if data is None else _unwrapped(backend, data) for data in found]

    def _result_message(self, message_id: str) -> dramatiq.Message[Any]:
        """A message with what a result backend makes its key of."""
        return dramatiq.Message(
            queue_name=self.queue_name,
            actor_name=ACTOR_NAME,
            args=(),
            kwargs={},
            options={},
            message_id=message_id,
        )


def result_backend(broker: dramatiq.Broker) -> Any:
    """
    The backend of the broker's ``Results`` middleware.

    :raises ValueError: the broker has no ``Results`` middleware
    """
    for middleware in broker.middleware:
        if isinstance(middleware, Results):
            return middleware.backend
    raise ValueError(
        f"The Dramatiq broker {broker!r} has no Results middleware, through which workers "
        f"report the outcomes of runs: add one, for example "
        f"broker.add_middleware(Results(backend=RedisBackend(client=broker.client)))"
    )


def _unwrapped(backend: Any, data: bytes) -> Any:
    try:
        return backend.unwrap_result(backend.encoder.decode(data))
    except ResultFailure as failure:
        return failure


def _stored_result(backend: Any, message: dramatiq.Message[Any]) -> Any:
    """The stored result of ``message`` in a backend other than Redis: one look per run."""
    try:
        return backend.get_result(message, block=False)
    except ResultMissing:
        return NOT_YET
    except ResultFailure as failure:
        return failure


def outcomes_from_result(run: SentRun, stored: Any) -> Sequence[RunOutcome]:
    """
    The outcomes in a stored result: what the actor returned, or, if the task itself failed
    (on Dramatiq's side of the job), what that failure means for the run.
    """
    if isinstance(stored, ResultFailure):
        if stored.orig_exc_type == TimeLimitExceeded.__name__:
            return timed_out_outcomes(run)
        reason = f"Dramatiq failed the message on the worker: {stored.orig_exc_type}: "
        return lost_outcomes(run, reason + str(stored.orig_exc_msg))
    if isinstance(stored, list):
        return stored
    if stored is None:  # what the Results middleware stores for a skipped message
        reason = "Dramatiq skipped the message without running it (its AgeLimit, say)"
        return lost_outcomes(run, reason)
    return lost_outcomes(run, f"the Dramatiq worker stored an unknown result: {stored!r}")


# ----- the worker side


def install(
    broker: dramatiq.Broker,
    claims: Any = None,
    *,
    queue_name: str | Sequence[str] = "default",
    priority: int = 0,
    claim_ttl: int = DEFAULT_CLAIM_TTL,
) -> dramatiq.Actor[Any, Any]:
    """
    Declare, on the broker of the worker, the actor that runs the jobs sent by
    :class:`DramatiqExecutor`. Call it in the module the ``dramatiq`` command loads.

    :param broker: the worker's broker (with a ``Results`` middleware)
    :param claims: where the runs taken are marked, so that none runs twice: a
        ``redis.Redis`` client, a ``redis://`` URL or a
        ``RunClaims``; by default the Redis of a
        ``RedisBroker``
    :param queue_name: the queue, or queues, whose messages this worker takes
    :param priority: the actor's priority among the other actors of the worker (lower first)
    :param claim_ttl: seconds a run's mark (and a delivery's) keeps refusing copies of its
        message
    :return: the actor
    :raises ValueError: the broker has no ``Results`` middleware, or no Redis and no
        ``claims``
    """
    result_backend(broker)
    run_claims = _worker_claims(broker, claims, claim_ttl)
    if not any(isinstance(middleware, CurrentMessage) for middleware in broker.middleware):
        broker.add_middleware(CurrentMessage())
    queue_names = [queue_name] if isinstance(queue_name, str) else list(queue_name)
    for extra_queue in queue_names[1:]:
        broker.declare_queue(extra_queue)

    def apscheduler_run_job(message: RunMessage) -> list[RunOutcome]:
        return _run_delivery(broker, run_claims, message)

    options: dict[str, Any] = {"store_results": True, "result_ttl": RESULT_TTL}
    if any(isinstance(middleware, TimeLimit) for middleware in broker.middleware):
        options["time_limit"] = float("inf")  # only the runs of jobs with a timeout have one
    declare = dramatiq.actor(
        actor_name=ACTOR_NAME,
        queue_name=queue_names[0],
        priority=priority,
        broker=broker,
        **options,
    )
    return declare(apscheduler_run_job)


def _worker_claims(broker: dramatiq.Broker, claims: Any, ttl: int) -> RunClaims:
    if claims is not None:
        return claims_from(claims, ttl=ttl)
    client = getattr(broker, "client", None)
    if client is None:
        raise ValueError(
            f"The Dramatiq broker {broker!r} has no Redis client to mark the runs taken in: "
            f"give install() the claims (a redis.Redis client or a redis:// URL)"
        )
    return claims_from(client, ttl=ttl)


def _run_delivery(
    broker: dramatiq.Broker, claims: RunClaims, message: RunMessage
) -> list[RunOutcome]:
    """Run one delivery of a message; leave a stored outcome alone when this one ran nothing."""
    current = CurrentMessage.get_current_message()
    redelivered = current is not None and _delivered_before(current, claims)
    outcomes = run_message(message, claims, redelivered=redelivered, on_timeout=TimeLimitExceeded)
    if current is not None and _ran_nothing(outcomes):
        if not redelivered or _has_result(broker, current):
            current.options["store_results"] = False
    return outcomes


def _delivered_before(current: dramatiq.Message[Any], claims: RunClaims) -> bool:
    """
    Whether the broker delivers this enqueued message again (its worker died before acking).

    RabbitMQ says so itself. The Redis broker does not, but it gives every enqueue (a retry, a
    copy sent by hand) a new ``redis_message_id`` and hands a dead worker's messages out again
    under the same one: each delivery is marked with a claim on that id.
    """
    flag = getattr(current, "redelivered", None)
    if isinstance(flag, bool):
        return flag
    delivery = current.options.get("redis_message_id") or current.message_id
    return claims.claim(DELIVERY_PREFIX + str(delivery), worker_name()) != CLAIMED


def _ran_nothing(outcomes: Sequence[RunOutcome]) -> bool:
    return all(outcome.get("outcome") == DUPLICATE for outcome in outcomes)


def _has_result(broker: dramatiq.Broker, current: dramatiq.Message[Any]) -> bool:
    try:
        result_backend(broker).get_result(current, block=False)
    except ResultMissing:
        return False
    except Exception:  # a stored failure is a result too
        return True
    return True


__all__ = ["ACTOR_NAME", "DramatiqExecutor", "install"]
