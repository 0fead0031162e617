"""
The scheduler's run recorder: what happens to each run becomes a :class:`~apscheduler.runs.JobRun`.

The processing pass and the executors tell the recorder what happened (submitted, skipped,
ended); the recorder keeps the runs in progress in memory, to match each end with its start,
and writes the records in batches from a thread of its own, so that neither a job nor the pass
ever waits for a history write. A batch that fails to be written is kept and tried again with
the next one.

Records go to the job store's own history when the store keeps one
(:class:`~apscheduler.runs.RunHistory`), else to one in this scheduler's memory, per store alias.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from types import TracebackType
from typing import TYPE_CHECKING, Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_TIMED_OUT,
    JobExecutionEvent,
)
from apscheduler.executors._deadlines import JobLost
from apscheduler.runs import (
    FAILED,
    LOST,
    MISSED,
    RUN_STATES,
    RUNNING,
    SKIPPED,
    STORE_REACHABLE,
    STORE_UNREACHABLE,
    SUCCEEDED,
    TIMED_OUT,
    JobRun,
    MemoryRunHistory,
    RetentionPolicy,
    RunHistory,
    RunHistoryReadOnlyError,
    SchedulerFact,
)
from apscheduler.schedulers._stuck_runs import StuckRunWatch

if TYPE_CHECKING:
    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler

UTC = timezone.utc
#: seconds a record waits in the buffer at most before it is written. Not a round figure: the
#: wait starts at a run's start, as a rule, and jobs run at round periods; a write a round
#: 0.2 s later would take the interpreter at the very moment a 100 or 200 ms job starts again
FLUSH_INTERVAL = 0.1937
#: a buffer this full is written at once
FLUSH_BATCH = 500
#: this many reports waiting make the writer thread start on them at once (fewer wait for
#: FLUSH_INTERVAL: waking the thread for each few would slow the pass that reports them)
INBOX_BATCH = 5_000
#: seconds between two writes while the history keeps failing
RETRY_PAUSE = 1.0
#: seconds between two prunings of the history by the retention policy
PRUNE_INTERVAL = 60.0
#: records written since the last pruning that make the next one due at once
PRUNE_EVERY_RECORDS = 10_000
#: the most records kept for a history that cannot be written; older ones are dropped
MAX_UNWRITTEN = 100_000

#: a run that has its id (and attempt number) before it is submitted: asked for, or a retry
GivenRun = tuple[str, int]
#: a run in progress, as the recorder finds it again: (store alias, job id, run timestamp)
_RunKey = tuple[str | None, str, float]
#: the run ids of a report that gives none
_NO_RUN_IDS: Mapping[float, GivenRun] = {}


# store class -> whether it keeps run history (asked for every record: ABC checks are slow)
_KEEPS_HISTORY: dict[type, bool] = {}


def history_of_store(store: object) -> RunHistory | None:
    """
    Return ``store`` if it keeps run history itself.

    Judged by its real class, as :func:`~apscheduler.jobstores.shared.is_shared_store` does: a
    ``MagicMock`` made from a store class passes ``isinstance`` but is not a history.
    """
    store_type = type(store)
    keeps = _KEEPS_HISTORY.get(store_type)
    if keeps is None:
        keeps = _KEEPS_HISTORY[store_type] = issubclass(store_type, RunHistory)
    return store if keeps else None  # type: ignore[return-value]


def qualified_name(cls: type) -> str:
    """``module.QualName`` of an exception class (builtins by their bare name)."""
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def describe_time(moment: datetime) -> str:
    """A run time in a reason sentence: in the zone it is given in."""
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").rstrip()


def lease_owner_process(owner: str) -> tuple[str | None, int | None]:
    """The host and pid of a lease owner (``host:pid:random``), as far as they can be read."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None, None
    return parts[0], int(parts[1])


class _Unwritten:
    """
    The records waiting to be written to one history: runs by run id (a later record wins),
    and facts by fact id.
    """

    __slots__ = ("history", "runs", "facts")

    def __init__(self, history: RunHistory) -> None:
        self.history = history
        self.runs: dict[str, JobRun] = {}
        self.facts: dict[str, SchedulerFact] = {}

    def __len__(self) -> int:
        return len(self.runs) + len(self.facts)


class RunRecorder:
    """
    Turns what happens to the runs of one scheduler's jobs into records, and writes them.

    :param scheduler: the scheduler whose runs these are
    """

    def __init__(self, scheduler: BaseScheduler) -> None:
        self._scheduler = scheduler
        self.policy = RetentionPolicy()
        self._logger = logging.getLogger("apscheduler.scheduler")
        #: the runs that go on for far longer than usual
        self.stuck = StuckRunWatch(lambda: scheduler._clock.now(UTC), self._logger)
        import socket  # here: importing a scheduler need not load it

        self._host = socket.gethostname()
        self._pid = os.getpid()
        # run ids: a random part per recorder, then a counter (a uuid4 per run costs more
        # than the rest of recording it)
        self._id_prefix = os.urandom(8).hex()
        self._ids = itertools.count()
        self._condition = threading.Condition()
        # runs submitted and not ended yet: key -> (record, number of its submission)
        # (several for one key: runs of one job at one time, as run_job_now can make)
        self._running: dict[_RunKey, list[tuple[JobRun, int]]] = {}
        self._submissions = 0
        # id(history) -> the records waiting for it
        self._unwritten: dict[int, _Unwritten] = {}
        self._unwritten_count = 0
        # histories of the stores that keep none of their own, by store alias
        self._memory: dict[str | None, MemoryRunHistory] = {}
        # histories written to since the last pruning
        self._to_prune: dict[int, RunHistory] = {}
        self._written_since_prune = 0
        self._pruned_at = time.monotonic()
        # ids of the histories whose last write failed (logged once per outage)
        self._failing: set[int] = set()
        # ids of the histories that refuse every write (logged once)
        self._read_only: set[int] = set()
        # held while a batch is written, so that flush() waits for a write under way
        self._writing = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        # the writer thread sleeps with nothing to do: the next report must wake it
        self._writer_idle = False
        # the writer thread was told that the inbox is full (told once, not per report)
        self._hurried = False
        # what happened, not yet turned into records, oldest first: (apply, *its arguments),
        # apply taking the recorder first (one tuple per report: reports wait in memory until
        # the writer takes them, and every object that waits there makes garbage collection
        # of the pass and of the jobs' threads longer)
        self._inbox: deque[tuple[Any, ...]] = deque()
        # aliases of the stores this scheduler could not reach on its last look
        self._unreachable: set[str] = set()

    @property
    def enabled(self) -> bool:
        return self.policy.max_runs > 0

    def new_run_id(self) -> str:
        """A run id no other run has (unique across processes: the prefix is random)."""
        return f"{self._id_prefix}{next(self._ids):016x}"

    @property
    def host(self) -> str:
        return self._host

    @property
    def pid(self) -> int:
        return self._pid

    # ----- lifecycle

    def start(self) -> None:
        """The scheduler starts: records may be written again."""
        with self._condition:
            self._stopping = False
        self._pid = os.getpid()  # the scheduler may have been made before a fork

    def stop(self) -> None:
        """Stop the writer thread and write what is buffered (before the stores shut down)."""
        with self._condition:
            self._stopping = True
            self._condition.notify()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self.flush()

    # ----- what the processing pass and the executors report

    # Each report only posts what happened to the inbox, in the order it happened; the writer
    # thread (or flush()) turns it into records. Neither the pass nor a job's thread builds a
    # record or waits for a lock held by a write.

    def submitting(
        self,
        job: Job,
        jobstore: str | None,
        run_times: Sequence[datetime],
        now: datetime,
        run_ids: Mapping[float, GivenRun] | None = None,
    ) -> list[JobRun] | None:
        """
        Record runs handed to the executor now, as running.

        Called before the executor gets them: an executor that runs the job at once reports
        its end before ``submit_job()`` returns. The writer thread is not woken here: the
        caller calls :meth:`wake_writer` once the executor has the runs, so that the job's
        thread, woken by the executor, gets the interpreter before the writer does.

        :param run_ids: run timestamp → the run id and attempt the run was given already (a run asked for
            with ``run_job_now``); the other runs get new ones
        :return: a handle on the records, for :meth:`not_submitted` if the executor refuses
            them (filled in when the report is applied)
        """
        if not self.enabled:
            return None

        runs: list[JobRun] = []
        self._inbox.append(
            (RunRecorder._apply_submitting, runs, job.id, jobstore, list(run_times), now, run_ids)
        )
        return runs

    def not_submitted(
        self,
        runs: list[JobRun] | None,
        state: str,
        now: datetime,
        reason: str | None = None,
        error: BaseException | None = None,
    ) -> None:
        """The executor refused runs recorded by :meth:`submitting`: record how they ended."""
        if runs is not None:
            self._post(RunRecorder._apply_not_submitted, runs, state, now, reason, error)

    def skipped(
        self,
        job: Job,
        jobstore: str | None,
        run_times: Iterable[datetime],
        reason: str,
        now: datetime,
        run_ids: Mapping[float, GivenRun] | None = None,
    ) -> None:
        """Record runs that were not made at all (coalesced, or ``max_instances`` reached)."""
        if self.enabled:
            self._post(
                RunRecorder._apply_skipped, job.id, jobstore, list(run_times), reason, now, run_ids
            )

    def record_at_once(self, runs: Sequence[JobRun]) -> None:
        """
        Write ``runs`` now, in the calling thread (a run asked for, which another process may
        make and must then find recorded).
        """
        if self.enabled and runs:
            self._buffer(runs)
            self.flush()

    # ----- facts

    def fact(
        self,
        kind: str,
        jobstore: str | None = None,
        job_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        """
        Record that ``kind`` happened now (see :data:`~apscheduler.runs.FACT_KINDS`).

        :param jobstore: the store it concerns; ``None``: it concerns the scheduler, so it is
            written to the history of each of its stores
        """
        if self.enabled:
            now = self._scheduler._clock.now(UTC)
            owner = self._scheduler._instance_id
            self._post(RunRecorder._apply_fact, kind, now, owner, jobstore, job_id, detail)

    def store_unreachable(self, jobstore: str, error: BaseException) -> None:
        """A look at ``jobstore`` failed: record it once per outage."""
        if jobstore not in self._unreachable:
            self._unreachable.add(jobstore)
            self.fact(STORE_UNREACHABLE, jobstore, detail=f"{type(error).__name__}: {error}")

    def store_reachable(self, jobstore: str) -> None:
        """A look at ``jobstore`` worked (cheap: called on every pass)."""
        if self._unreachable and jobstore in self._unreachable:
            self._unreachable.discard(jobstore)
            self.fact(STORE_REACHABLE, jobstore)

    def lost(
        self, job_id: str, jobstore: str | None, run_times: Iterable[datetime], owner: str
    ) -> None:
        """Record runs left in progress by a scheduler that stopped (taken from a shared store)."""
        if self.enabled:
            now = self._scheduler._clock.now(UTC)
            self._post(RunRecorder._apply_lost, job_id, jobstore, list(run_times), owner, now)

    def runs_ended(self, events: Sequence[JobExecutionEvent]) -> None:
        """Record how the runs ended, from the events :func:`~apscheduler.executors.base.run_job` made."""
        if self.enabled and events:
            self._post(RunRecorder._apply_runs_ended, list(events), self._end_time(events))

    def submission_failed(
        self, job_id: str, exc: BaseException, traceback: TracebackType | None
    ) -> None:
        """
        The executor could not run a submission at all (a broken process pool, say).

        No event says which submission it was: the job's oldest one counts, as the executor
        counts its instances.
        """
        if self.enabled:
            now = self._scheduler._clock.now(UTC)
            self._post(RunRecorder._apply_submission_failed, job_id, exc, traceback, now)

    def _post(self, apply: Callable[..., None], *args: Any) -> None:
        """Post a report: ``apply(self, *args)`` will turn it into records."""
        # deque.append is atomic: reports from the pass and from job threads keep their order
        self._inbox.append((apply, *args))
        self.wake_writer()

    def wake_writer(self) -> None:
        """Make sure the writer thread will find the reports posted so far."""
        inbox = self._inbox
        if not inbox:
            return  # nothing posted (the history is off), or all of it taken already
        # The condition is taken only to wake a writer thread that sleeps with nothing to do,
        # or once to hurry it on a full inbox. Taking it for every report would make the pass
        # wait for the writer, which holds it while it turns reports into records. (The
        # writer sets its flag before it looks at the inbox, and a report is appended before
        # the flag is read: one of the two sees the other.)
        if (
            self._thread is not None
            and not self._writer_idle
            and (len(inbox) < INBOX_BATCH or self._hurried)
        ):
            return  # the writer thread is awake and will find the report
        with self._condition:
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(
                    target=self._write_in_background, name="APScheduler run history", daemon=True
                )
                self._thread.start()
            else:
                if len(inbox) >= INBOX_BATCH:
                    self._hurried = True
                self._condition.notify()

    def _end_time(self, events: Sequence[JobExecutionEvent]) -> datetime | None:
        """
        Now, for runs whose events do not say when they ended; ``None`` if all of them say it
        (as ``run_job``'s do: reading the clock would cost a job's thread more than posting).
        """
        for event in events:
            if getattr(event, "finished_at", None) is None:
                return self._scheduler._clock.now(UTC)
        return None

    def _apply_inbox(self) -> None:
        """Turn every posted report into records (in the writer thread, or in flush())."""
        inbox = self._inbox
        while inbox:
            try:
                report = inbox.popleft()
            except IndexError:  # another thread took the last one meanwhile
                return
            try:
                report[0](self, *report[1:])
            except Exception:
                self._logger.exception("Could not record a job run")

    # ----- turning reports into records

    def _apply_submitting(
        self,
        into: list[JobRun],
        job_id: str,
        jobstore: str | None,
        run_times: Sequence[datetime],
        now: datetime,
        run_ids: Mapping[float, GivenRun] | None,
    ) -> None:
        runs = self._new_runs(job_id, jobstore, run_times, run_ids, RUNNING, submitted_at=now)
        into.extend(runs)
        history = self.history_for(jobstore)
        # one hold of the condition for both: the writer takes it once per report
        with self._condition:
            self._submissions += 1
            number = self._submissions
            for run in runs:
                key = (jobstore, run.job_id, run.scheduled_run_time.timestamp())
                self._running.setdefault(key, []).append((run, number))
            self._batch_for(history).runs.update((run.run_id, run) for run in runs)
            self._unwritten_count += len(runs)
        self.stuck.submitted(runs)

    def _new_runs(
        self,
        job_id: str,
        jobstore: str | None,
        run_times: Sequence[datetime],
        run_ids: Mapping[float, GivenRun] | None,
        state: str,
        **fields: Any,
    ) -> list[JobRun]:
        """Records of this process's runs at ``run_times``, with the ids they were given."""
        given = run_ids or _NO_RUN_IDS
        runs = []
        for run_time in run_times:
            run_id, attempt = given.get(run_time.timestamp()) or (self.new_run_id(), 1)
            runs.append(
                JobRun(
                    run_id,
                    job_id,
                    jobstore,
                    run_time,
                    state,
                    host=self._host,
                    pid=self._pid,
                    attempt=attempt,
                    **fields,
                )
            )
        return runs

    def _apply_not_submitted(
        self,
        runs: list[JobRun],
        state: str,
        now: datetime,
        reason: str | None,
        error: BaseException | None,
    ) -> None:
        if not runs:
            return

        with self._condition:
            for run in runs:
                self._forget_running(_key_of(run), run.run_id)
        # the executor never took them
        refused = [run.evolve(submitted_at=None) for run in runs]
        self._buffer([_ended(run, state, now, reason=reason, error=error) for run in refused])

    def _apply_skipped(
        self,
        job_id: str,
        jobstore: str | None,
        run_times: list[datetime],
        reason: str,
        now: datetime,
        run_ids: Mapping[float, GivenRun] | None,
    ) -> None:
        runs = self._new_runs(
            job_id, jobstore, run_times, run_ids, SKIPPED, finished_at=now, reason=reason
        )
        self._buffer(runs)

    def _apply_lost(
        self,
        job_id: str,
        jobstore: str | None,
        run_times: list[datetime],
        owner: str,
        now: datetime,
    ) -> None:
        """
        Where the history is shared, the dead scheduler's own record of the run is found and
        updated, so that the run is one record, not a running one and a lost one.
        """
        host, pid = lease_owner_process(owner)
        process = f"{host}:{pid}" if host is not None else owner
        reason = f"its process ({process}) stopped and its lease ran out"
        history = self.history_for(jobstore)
        runs = []
        for run_time in run_times:
            recorded = self._recorded_run(history, job_id, run_time)
            if recorded is not None and recorded.state == RUNNING:
                runs.append(_ended(recorded, LOST, now, reason=reason))
            elif recorded is None:
                run = JobRun(
                    self.new_run_id(), job_id, jobstore, run_time, LOST, host=host, pid=pid
                )
                runs.append(_ended(run, LOST, now, reason=reason))
        self._buffer(runs)

    def _apply_runs_ended(self, events: list[JobExecutionEvent], now: datetime | None) -> None:
        with self._condition:
            ended = [(self._forget_running(_key_of_event(event)), event) for event in events]
        # built outside the condition: an exception's text comes from code of the job's own
        records = [self._from_event(run, event, now) for run, event in ended]
        self._buffer(records)
        self.stuck.ended(records)

    def _apply_submission_failed(
        self, job_id: str, exc: BaseException, traceback: TracebackType | None, now: datetime
    ) -> None:
        with self._condition:
            running = [entry for entries in self._running.values() for entry in entries]
            numbers = [number for (run, number) in running if run.job_id == job_id]
            if not numbers:
                return
            oldest = min(numbers)
            failed = [run for run, number in running if number == oldest]
            for run in failed:
                self._forget_running(_key_of(run), run.run_id)
        self._buffer([_ended(run, FAILED, now, error=exc, traceback=traceback) for run in failed])

    def _apply_fact(
        self,
        kind: str,
        now: datetime,
        owner: str,
        jobstore: str | None,
        job_id: str | None,
        detail: str | None,
    ) -> None:
        fact = SchedulerFact(self.new_run_id(), kind, now, owner, jobstore, job_id, detail)
        aliases = [jobstore] if jobstore is not None else list(self._scheduler._registry.stores)
        histories = {id(history): history for history in map(self.history_for, aliases)}
        with self._condition:
            for history in histories.values():
                self._batch_for(history).facts[fact.fact_id] = fact
                self._unwritten_count += 1

    def _forget_running(self, key: _RunKey, run_id: str | None = None) -> JobRun | None:
        """
        Take a run in progress off the books: the one of ``run_id``, else the oldest one of
        ``key``. Hold the condition.
        """
        entries = self._running.get(key)
        if not entries:
            return None
        index = 0
        if run_id is not None:
            matching = [i for i, (run, _number) in enumerate(entries) if run.run_id == run_id]
            if not matching:
                return None
            index = matching[0]
        run = entries.pop(index)[0]
        if not entries:
            del self._running[key]
        return run

    # ----- reading

    def history_for(self, jobstore: str | None) -> RunHistory:
        """The history that keeps the runs of the store ``jobstore``."""
        store = self._scheduler._registry.stores.get(jobstore) if jobstore is not None else None
        history = history_of_store(store)
        if history is not None:
            return history
        memory = self._memory.get(jobstore)
        if memory is None:
            memory = self._memory.setdefault(jobstore, MemoryRunHistory())
        return memory

    def get_job_runs(
        self,
        job_id: str | None,
        jobstore: str | None,
        states: Collection[str] | None,
        since: datetime | None,
        limit: int,
    ) -> list[JobRun]:
        """The runs of every matching store, newest first (see ``BaseScheduler.get_job_runs``)."""
        self.flush()
        aliases = set(self._scheduler._registry.stores) | set(self._memory)
        histories: dict[int, RunHistory] = {}
        for alias in aliases:
            if jobstore is None or alias == jobstore:
                history = self.history_for(alias)
                histories.setdefault(id(history), history)

        runs: list[JobRun] = []
        for history in histories.values():
            runs.extend(history.get_job_runs(job_id, states=states, since=since, limit=limit))
        runs.sort(key=lambda run: (run.scheduled_run_time.timestamp(), run.run_id), reverse=True)
        return runs[: max(limit, 0)]

    def find_run(self, run: JobRun) -> JobRun | None:
        """The record of ``run`` as written now (``None``: no history, or not readable)."""
        if not self.enabled:
            return None
        self.flush()
        try:
            runs = self.history_for(run.jobstore).get_job_runs(
                run.job_id, since=run.scheduled_run_time, limit=1000
            )
        except Exception:
            return None
        return next((found for found in runs if found.run_id == run.run_id), None)

    def get_facts(
        self, jobstore: str | None, until: datetime | None, limit: int = 1000
    ) -> list[SchedulerFact]:
        """The facts recorded in the history of ``jobstore``, newest first."""
        self.flush()
        return self.history_for(jobstore).get_facts(until=until, limit=limit)

    # ----- writing

    def flush(self) -> None:
        """Write every buffered record now (those that fail stay buffered)."""
        with self._writing:
            self._apply_inbox()
            with self._condition:
                batches = [batch for batch in self._unwritten.values() if len(batch)]
                self._unwritten = {}
                self._unwritten_count = 0
            for batch in batches:
                self._write(batch)

    def prune(self) -> None:
        """Drop from the histories written to what the retention policy no longer keeps."""
        with self._writing:
            histories = list(self._to_prune.values())
            self._to_prune.clear()
            self._written_since_prune = 0
            self._pruned_at = time.monotonic()
        now = self._scheduler._clock.now(UTC)
        for history in histories:
            try:
                history.prune_runs(self.policy, now)
            except Exception as exc:
                self._logger.warning("Could not prune the run history in %r: %s", history, exc)

    def _write(self, batch: _Unwritten) -> None:
        history = batch.history
        key = id(history)
        try:
            if batch.runs:
                history.record_runs(list(batch.runs.values()))
                batch.runs.clear()
            if batch.facts:
                history.record_facts(list(batch.facts.values()))
        except RunHistoryReadOnlyError as exc:
            if key not in self._read_only:
                self._read_only.add(key)
                self._logger.info(
                    "Not recording job runs in %r, which is read-only: %s", history, exc
                )
            return
        except Exception as exc:
            if key not in self._failing:
                self._failing.add(key)
                self._logger.warning(
                    "Could not record %s in %r (will keep trying): %s",
                    _records_text(batch),
                    history,
                    exc,
                )
            self._keep_unwritten(batch)
            return

        if key in self._failing:
            self._failing.discard(key)
            self._logger.info("Recording job runs in %r works again", history)
        self._to_prune[key] = history
        self._written_since_prune += len(batch)

    def _keep_unwritten(self, batch: _Unwritten) -> None:
        """Put a batch that failed back, below the records buffered meanwhile."""
        with self._condition:
            newer = self._unwritten.get(id(batch.history))
            if newer is not None:
                batch.runs.update(newer.runs)
                batch.facts.update(newer.facts)
                self._unwritten_count -= len(newer)
            dropped = len(batch.runs) - MAX_UNWRITTEN
            if dropped > 0:
                for run_id in list(batch.runs)[:dropped]:
                    del batch.runs[run_id]
                self._logger.warning(
                    "Dropped the %d oldest unwritten job run records for %r",
                    dropped,
                    batch.history,
                )
            for fact_id in list(batch.facts)[: max(len(batch.facts) - MAX_UNWRITTEN, 0)]:
                del batch.facts[fact_id]
            self._unwritten[id(batch.history)] = batch
            self._unwritten_count += len(batch)

    def _buffer(self, runs: Sequence[JobRun]) -> None:
        if not runs:
            return

        histories = self._histories_of(runs)
        with self._condition:
            self._add_unwritten(runs, histories)

    def _histories_of(self, runs: Iterable[JobRun]) -> dict[str | None, RunHistory]:
        """The history of the store of each run, by store alias."""
        histories: dict[str | None, RunHistory] = {}
        for run in runs:
            if run.jobstore not in histories:
                histories[run.jobstore] = self.history_for(run.jobstore)
        return histories

    def _add_unwritten(
        self, runs: Sequence[JobRun], histories: Mapping[str | None, RunHistory]
    ) -> None:
        """Buffer ``runs`` for the histories of their stores. Hold the condition."""
        for run in runs:
            self._batch_for(histories[run.jobstore]).runs[run.run_id] = run
        self._unwritten_count += len(runs)

    def _batch_for(self, history: RunHistory) -> _Unwritten:
        """The records waiting for ``history``. Hold the condition."""
        batch = self._unwritten.get(id(history))
        if batch is None:
            batch = self._unwritten[id(history)] = _Unwritten(history)
        return batch

    def _write_in_background(self) -> None:
        while True:
            with self._condition:
                # sleep until something is buffered (or a pruning is due), then a little more,
                # so that one write takes many records
                self._hurried = False
                self._writer_idle = True
                while not self._stopping and not self._unwritten_count and not self._inbox:
                    if not self._wait_for_pruning():
                        break
                self._writer_idle = False
                deadline = time.monotonic() + (RETRY_PAUSE if self._failing else FLUSH_INTERVAL)
                while (
                    not self._stopping
                    and self._unwritten_count < FLUSH_BATCH
                    and len(self._inbox) < INBOX_BATCH
                ):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._condition.wait(remaining)
                if self._stopping:
                    return
            try:
                self.flush()
                if self._pruning_due():
                    self.prune()
            except Exception:  # never let the thread die: records would pile up unwritten
                self._logger.exception("Unexpected error while recording job runs")

    def _wait_for_pruning(self) -> bool:
        """Wait while nothing is buffered; tell whether to keep waiting (no pruning due)."""
        if self._to_prune:
            remaining = self._pruned_at + PRUNE_INTERVAL - time.monotonic()
            if remaining <= 0:
                return False
            self._condition.wait(remaining)
        else:
            self._condition.wait()
        return True

    def _pruning_due(self) -> bool:
        if not self._to_prune:
            return False
        return (
            self._written_since_prune >= PRUNE_EVERY_RECORDS
            or time.monotonic() - self._pruned_at >= PRUNE_INTERVAL
        )

    # ----- helpers

    def _recorded_run(self, history: RunHistory, job_id: str, run_time: datetime) -> JobRun | None:
        """The run of ``job_id`` at ``run_time`` already in ``history``, if it can be read."""
        try:
            runs = history.get_job_runs(job_id, since=run_time, limit=100)
        except Exception:
            return None
        timestamp = run_time.timestamp()
        matching = [run for run in runs if run.scheduled_run_time.timestamp() == timestamp]
        return matching[-1] if matching else None

    def _from_event(
        self, run: JobRun | None, event: JobExecutionEvent, now: datetime | None
    ) -> JobRun:
        if run is None:
            # ended without the recorder seeing it submitted (a third-party pass, say)
            run = JobRun(
                self.new_run_id(),
                event.job_id,
                event.jobstore,
                event.scheduled_run_time,
                RUNNING,
                host=self._host,
                pid=self._pid,
            )
        started_at = getattr(event, "started_at", None)
        finished_at = getattr(event, "finished_at", None) or now
        if event.code == EVENT_JOB_EXECUTED:
            return run.evolve(state=SUCCEEDED, started_at=started_at, finished_at=finished_at)
        if event.code == EVENT_JOB_TIMED_OUT:
            return run.evolve(
                state=TIMED_OUT,
                started_at=started_at,
                finished_at=finished_at,
                reason=getattr(event, "reason", None),
            )
        if event.code == EVENT_JOB_ERROR:
            return run.evolve(
                state=LOST if isinstance(event.exception, JobLost) else FAILED,
                started_at=started_at,
                finished_at=finished_at,
                reason=getattr(event, "reason", None),
                **_exception_fields(event.exception, event.traceback),
            )
        return run.evolve(
            state=MISSED, finished_at=finished_at, reason=getattr(event, "reason", None)
        )


def _records_text(batch: _Unwritten) -> str:
    """``3 job runs``, ``2 facts`` or ``3 job runs and 2 facts``: what a batch holds."""
    parts = []
    if batch.runs or not batch.facts:
        parts.append(f"{len(batch.runs)} job runs")
    if batch.facts:
        parts.append(f"{len(batch.facts)} facts")
    return " and ".join(parts)


def _key_of(run: JobRun) -> _RunKey:
    return run.jobstore, run.job_id, run.scheduled_run_time.timestamp()


def _key_of_event(event: JobExecutionEvent) -> _RunKey:
    return event.jobstore, event.job_id, event.scheduled_run_time.timestamp()


def _exception_fields(exc: BaseException | None, traceback: str | None) -> dict[str, Any]:
    if exc is None:
        return {"traceback": traceback}
    return {
        "exception_type": qualified_name(type(exc)),
        "exception": str(exc),
        "traceback": traceback,
    }


def _ended(
    run: JobRun,
    state: str,
    now: datetime,
    *,
    reason: str | None = None,
    error: BaseException | None = None,
    traceback: TracebackType | None = None,
) -> JobRun:
    fields: dict[str, Any] = {"state": state, "finished_at": now, "reason": reason}
    if error is not None:
        import traceback as traceback_module

        formatted = "".join(traceback_module.format_tb(traceback or error.__traceback__))
        fields.update(_exception_fields(error, formatted))
    return run.evolve(**fields)


def parse_states(state: str | Collection[str] | None) -> frozenset[str] | None:
    """
    The ``state`` argument of ``get_job_runs()``: one state or several.

    :raises ValueError: for a state that does not exist
    """
    if state is None:
        return None
    states = frozenset([state] if isinstance(state, str) else state)
    unknown = sorted(states - set(RUN_STATES))
    if unknown:
        raise ValueError(
            f"state must be one of {', '.join(map(repr, RUN_STATES))}, got {unknown[0]!r}"
        )
    return states


__all__ = ["RunRecorder", "history_of_store", "parse_states"]
