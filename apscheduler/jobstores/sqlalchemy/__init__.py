"""Stores jobs in a database table through SQLAlchemy: SQLite, PostgreSQL or any other dialect."""

from __future__ import annotations

import logging
import pickle
import threading
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from functools import cached_property
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores._persistent import (
    DEFAULT_RECHECK_INTERVAL,
    DEFAULT_RETRY_TIMEOUT,
    StorageProblem,
)
from apscheduler.jobstores._shared import (
    DEFAULT_LEASE_TIME,
    DEFAULT_POLL_INTERVAL,
    SharedPersistentStore,
)
from apscheduler.jobstores.base import (
    BaseJobStore as BaseJobStore,
    ConflictingIdError,
    JobLookupError,
)
from apscheduler.jobstores.shared import (
    AbandonedRun,
    ClaimedJobs,
    RunRequest,
    RunStart,
    RunStartOutcome,
)
from apscheduler.runs import (
    JobRun,
    RetentionPolicy,
    RunHistory,
    RunHistoryReadOnlyError,
    SchedulerFact,
)
from apscheduler.util import (
    datetime_to_utc_timestamp,
    maybe_ref,
    utc_timestamp_to_datetime as utc_timestamp_to_datetime,
)

try:
    from sqlalchemy import (
        Column as Column,
        Float as Float,
        LargeBinary as LargeBinary,
        MetaData,
        Table as Table,
        Unicode as Unicode,
        and_ as and_,
        bindparam,
        create_engine,
        inspect,
        null as null,
        select,
    )
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.exc import DBAPIError, IntegrityError
    from sqlalchemy.pool import QueuePool
except ImportError as exc:  # pragma: no cover
    raise ImportError("SQLAlchemyJobStore requires SQLAlchemy installed") from exc

# ``name as name`` above: names this module had in APScheduler 3, which programs import from
# here (``create_engine`` too, in ``__all__``).

from apscheduler.jobstores.sqlalchemy.engine import (
    AUTOCOMMIT_DIALECTS,
    explain_setup_error,
    is_temporary_error,
    make_engine,
)
from apscheduler.jobstores.sqlalchemy.facts_sql import FactsTableSQL, latest_by_fact_id
from apscheduler.jobstores.sqlalchemy.history_sql import HistoryTableSQL, latest_by_run_id
from apscheduler.jobstores.sqlalchemy.jobs_sql import (
    JobTableSQL,
    Outlook,
    read_requests,
    request_entry,
)
from apscheduler.jobstores.sqlalchemy.listen import (
    Waker,
    can_listen,
    notification_channel,
    postgres_listener,
)
from apscheduler.jobstores.sqlalchemy.runs_sql import (
    LOST,
    RunEntry,
    RunsTableSQL,
    run_entries,
    unique_job_batches,
)
from apscheduler.jobstores.sqlalchemy.tables import (
    ReadOnlyTable,
    TableProblem,
    make_facts_table,
    make_history_table,
    make_runs_table,
    make_table,
    set_up_tables,
)

__all__ = ["SQLAlchemyJobStore", "create_engine"]


class ReadOnlyJobStoreError(RuntimeError, RunHistoryReadOnlyError):
    """
    A change asked of a :class:`SQLAlchemyJobStore` that may only read its table.

    Also a :class:`~apscheduler.runs.RunHistoryReadOnlyError`: a scheduler does not keep
    trying to record runs in such a store.

    .. versionadded:: 3.12.0
    """


class SQLAlchemyJobStore(SharedPersistentStore, RunHistory):
    """
    Stores jobs in a database table managed with SQLAlchemy 2.

    The table has the columns ``id``, ``next_run_time`` (UTC timestamp) and ``job_state``
    (pickled job), as APScheduler 3 made it, so an existing table keeps working, plus the
    columns ``lease_owner`` and ``lease_expires``, which let several scheduler processes share
    the table (see :doc:`/multiprocess`), and ``run_requests`` and ``requested_at``, which keep
    the runs asked for with ``run_job_now`` until a scheduler makes them (while some are
    pending, ``next_run_time`` is the earlier of the job's own next run time and theirs). Those
    processes record the runs they have in progress in a second table, named after the first
    with ``_runs`` appended. The store keeps the history of runs
    (:class:`~apscheduler.runs.RunHistory`) in a third, named after the first with ``_history``
    appended, and its facts (:class:`~apscheduler.runs.SchedulerFact`) in a fourth, with
    ``_facts`` appended (both shortened with a hash where the database limits the length of
    names), which every process sharing the table reads. The tables are created at start if
    missing; a table of APScheduler 3, or of an earlier release, gets the columns it lacks
    added in place.

    A connection that may only read (such as ``sqlite:///file:jobs.sqlite?mode=ro&uri=true``,
    or a database role granted only ``SELECT`` on the table) cannot add those columns or that
    table. When it can read the job table, the store then works read-only, and says so in one
    warning at start: it lists and looks up jobs and tells their next run time, but every change
    (adding, modifying, removing jobs, running due ones, asking for runs, recording runs)
    raises :exc:`ReadOnlyJobStoreError`; the history of runs and its facts can be read if their
    tables are there. A scheduler on such a store runs none of its jobs: a run it could not
    record would start again on every pass. It logs a warning instead each time it finds jobs
    due (every ``jobstore_retry_interval`` seconds), and leaves them to a scheduler that may
    write.

    When this store creates the engine for a SQLite database file, it switches the file to the
    write-ahead log journal (``PRAGMA journal_mode=WAL``), which makes adding jobs several times
    faster. Pass your own ``engine`` to keep full control of the connection settings.

    On PostgreSQL with the psycopg or psycopg2 driver, the store hears about other processes'
    changes at once through ``LISTEN``/``NOTIFY``; elsewhere the scheduler looks at the table
    every ``poll_interval`` seconds.

    Plugin alias: ``sqlalchemy``

    :param url: connection string (a SQLAlchemy database URL, such as ``sqlite:///jobs.sqlite``)
    :param engine: an SQLAlchemy :class:`~sqlalchemy.engine.Engine` to use instead of creating
        a new one based on ``url`` (may also be a ``module:name`` reference)
    :param tablename: name of the table to store jobs in
    :param metadata: a :class:`~sqlalchemy.schema.MetaData` instance to use instead of creating
        a new one (may also be a reference)
    :param pickle_protocol: pickle protocol level to use (for serialization), defaults to the
        highest available
    :param tableschema: name of the (existing) schema in the target database where the table
        should be
    :param engine_options: keyword arguments to :func:`~sqlalchemy.create_engine` (ignored if
        ``engine`` is given)
    :param retry_timeout: seconds one operation keeps retrying a lost connection or another
        temporary error before raising it (``0`` disables retrying)
    :param recheck_interval: seconds between attempts to load a due job that failed to load
    :param lease_time: seconds a due job stays claimed by the scheduler that took it; if that
        scheduler's process dies, another one runs the job once the lease has expired
    :param poll_interval: seconds between looks at the table for jobs that other processes
        added, where no change notifications arrive
    :param serializer: how jobs are written: ``"pickle"`` (the default, APScheduler 3's format)
        or ``"json"``, which loads no code but the jobs' callables (see :doc:`/security`)
    :param pickle_secret: a secret to sign pickles with (bytes, or the name of an environment
        variable holding it): a pickle without a valid signature is then never unpickled, and
        is reported as an unloadable job
    :raises ValueError: if neither ``url`` nor ``engine`` is given

    .. versionchanged:: 3.12.0
        Jobs that fail to load are kept and reported instead of deleted; temporary errors are
        retried; SQLite files get a write-ahead log; several scheduler processes can share
        the table (the ``lease_time`` and ``poll_interval`` options); a connection that may
        only read works read-only instead of failing at start; the store keeps the history
        of runs and its facts, and takes run requests.
    """

    def __init__(
        self,
        url: str | None = None,
        engine: Engine | str | None = None,
        tablename: str = "apscheduler_jobs",
        metadata: MetaData | str | None = None,
        pickle_protocol: int = pickle.HIGHEST_PROTOCOL,
        tableschema: str | None = None,
        engine_options: dict[str, Any] | None = None,
        *,
        retry_timeout: float = DEFAULT_RETRY_TIMEOUT,
        recheck_interval: float = DEFAULT_RECHECK_INTERVAL,
        lease_time: float = DEFAULT_LEASE_TIME,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        serializer: str = "pickle",
        pickle_secret: bytes | str | None = None,
    ) -> None:
        super().__init__(
            pickle_protocol,
            retry_timeout,
            recheck_interval,
            lease_time,
            poll_interval,
            serializer=serializer,
            pickle_secret=pickle_secret,
        )
        metadata = maybe_ref(metadata) or MetaData()

        if engine:
            self.engine: Engine = maybe_ref(engine)
        elif url:
            # this module's name, looked up now: tests patch it to hand the store a fake
            self.engine = make_engine(url, engine_options or {}, create_engine)
        else:
            raise ValueError('Need either "engine" or "url" defined')

        # Work that is one statement needs no transaction around it: in autocommit mode it costs
        # one round trip to the server instead of three (BEGIN, the statement, COMMIT)
        if self.engine.dialect.name in AUTOCOMMIT_DIALECTS:
            self._single: Engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        else:
            self._single = self.engine

        self.jobs_t = make_table(tablename, metadata, tableschema)
        self._channel = notification_channel(self.jobs_t)
        notify = (self._channel, self._token) if self.engine.dialect.name == "postgresql" else None
        #: the runs in progress of the schedulers sharing the table
        self.runs_t = make_runs_table(self.jobs_t)
        self._jobs_sql = JobTableSQL(self.jobs_t, self.engine.dialect, notify, self.runs_t)
        self._runs_sql = RunsTableSQL(self.runs_t, self._jobs_sql)
        #: the history of runs (:class:`~apscheduler.runs.JobRun` records)
        self.history_t = make_history_table(self.jobs_t, self.engine.dialect.max_identifier_length)
        self._history_sql = HistoryTableSQL(self.history_t, self.engine.dialect)
        #: whether the history table can be read (it may be missing from a read-only database)
        self._history_readable = True
        #: the facts of the history (:class:`~apscheduler.runs.SchedulerFact` records)
        self.facts_t = make_facts_table(self.jobs_t, self.engine.dialect.max_identifier_length)
        self._facts_sql = FactsTableSQL(self.facts_t, self.engine.dialect)
        #: whether the facts table can be read (it may be missing from a read-only database)
        self._facts_readable = True
        #: why the table can only be read (the database's refusal), or None if it can be written
        self._read_only: str | None = None
        #: ends the wait of the change listener, while there is one
        self._waker: Waker | None = None
        #: whether the preparation for a first burst is still to be made (see start())
        self._bursts_unprepared = False
        self._burst_lock = threading.Lock()

    # The reading statements are built on first use, as those of JobTableSQL are.

    @cached_property
    def _select_all(self) -> Any:
        table = self.jobs_t.c
        return select(table.id, table.next_run_time, table.job_state)

    @cached_property
    def _select_all_with_requests(self) -> Any:
        """Every job, and whether it has run requests pending (then its own time decides)."""
        return self._select_all.add_columns(self.jobs_t.c.requested_at)

    @cached_property
    def _select_by_id(self) -> Any:
        return self._select_all.where(self.jobs_t.c.id == bindparam("job_id"))

    @cached_property
    def _select_due(self) -> Any:
        table = self.jobs_t.c
        return self._select_all.where(table.next_run_time <= bindparam("now")).order_by(
            table.next_run_time, table.id
        )

    @cached_property
    def _select_state(self) -> Any:
        table = self.jobs_t.c
        return select(table.job_state).where(table.id == bindparam("job_id"))

    # --- set-up and error policy -----------------------------------------------------------

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        # a socket pair costs system calls: only a store that listens makes one
        if can_listen(self.engine):
            waker = Waker()
            listener = postgres_listener(
                self.engine,
                self._channel,
                self._on_change_message,
                self._wake_scheduler,
                logging.getLogger(f"{self._logger.name}.notifications"),
                waker,
            )
            assert listener is not None  # can_listen said so
            self._start_listener(listener)  # stops an earlier listener, and closes its waker
            self._waker = waker
        # the second pooled connection and the batch start statement are prepared at the first
        # claim that finds nothing due
        self._bursts_unprepared = True

    @property
    def _keeps_two_connections(self) -> bool:
        """
        Whether the preparation for bursts opens a second pooled connection, which a first
        burst of due jobs would otherwise open (the run leases' thread's, as the scheduler's is
        busy starting runs): only where the pool keeps two, so that a pool sized to one
        connection never waits for it, and where opening one is a handshake with a server (a
        SQLite file opens in a fraction of a millisecond).
        """
        pool = self.engine.pool
        keeps_two = isinstance(pool, QueuePool) and pool.size() >= 2
        return keeps_two and self.engine.dialect.name != "sqlite"

    def _prepare_for_bursts_once(self) -> None:
        """
        Prepare for bursts of due jobs (see :meth:`_prepare_for_bursts`) once per start, in the
        thread that claims; a claim running meanwhile in another thread does not wait.
        """
        if not self._burst_lock.acquire(blocking=False):
            return
        try:
            if self._bursts_unprepared and not self._shut_down:
                self._bursts_unprepared = False
                if self._read_only is None:
                    self._prepare_for_bursts()
        finally:
            self._burst_lock.release()

    def _prepare_for_bursts(self) -> None:
        """
        Open the pool's second connection (see :attr:`_keeps_two_connections`) and run
        PostgreSQL's batch start statement once on no starts: the handshake, the statement's
        first compiling and the server's first planning take milliseconds, which the first
        burst of due jobs would pay.

        It runs after the first claim that found nothing due, in the scheduler's first pass as
        a rule, rather than in start(), which would wait for it (the second connection was
        a quarter of a PostgreSQL store's start); a claim that found jobs is followed by their
        start, which pays the same at once.
        """
        try:
            with self.engine.connect() as connection:
                if self._keeps_two_connections:
                    # opened while the first is checked out, so the pool makes a new one
                    self.engine.connect().close()
                if self._runs_sql.starts_in_one_statement:
                    params = self._jobs_sql.params(owner="", run_owner="", lease=0)
                    with connection.begin():
                        self._runs_sql.prepare(connection, params)
        except Exception as exc:  # the first burst pays then; nothing else depends on this
            self._logger.debug("Could not prepare the store for bursts: %s", exc)

    def _setup_storage(self) -> None:
        self._read_only = None
        self._history_readable = self._facts_readable = True
        try:
            set_up_tables(self.engine, self.jobs_t, self.runs_t, self.history_t, self.facts_t)
        except TableProblem as exc:
            raise StorageProblem(str(exc)) from None
        except ReadOnlyTable as exc:
            # A dashboard or a command line tool may look at the table of a scheduler with a
            # connection that may only read, as it could with APScheduler 3.
            self._read_only = str(exc)
            inspector = inspect(self.engine)
            history, facts = self.history_t, self.facts_t
            self._history_readable = inspector.has_table(history.name, schema=history.schema)
            self._facts_readable = inspector.has_table(facts.name, schema=facts.schema)
            self._logger.warning(
                "Job store %r works read-only: this connection may read the table %r but not "
                "change it (%s); it lists jobs but refuses to add, change, remove or run any. "
                "Connect with the right to write to upgrade the table in place",
                self._alias,
                self.jobs_t.fullname,
                exc,
            )

    def _check_writable(self) -> None:
        """
        Refuse a change when this store may only read its table.

        :raises ReadOnlyJobStoreError: if the database refused this store's writes at start
        """
        if self._read_only is not None:
            raise ReadOnlyJobStoreError(
                f"Job store {self._alias!r} cannot change the table {self.jobs_t.fullname!r}: "
                f"this connection may only read it ({self._read_only})"
            )

    def _explain_setup_error(self, exc: Exception) -> str:
        if isinstance(exc, DBAPIError):
            return explain_setup_error(exc, self.engine)
        return super()._explain_setup_error(exc)

    def _is_temporary_error(self, exc: BaseException) -> bool:
        return is_temporary_error(exc, self.engine)

    # --- reading ---------------------------------------------------------------------------

    def _fetch(self, statement: Any, **params: Any) -> Sequence[Any]:
        def fetch() -> Sequence[Any]:
            with self._single.connect() as connection:
                return connection.execute(statement, params).all()

        return self._run(fetch)

    def lookup_job(self, job_id: str) -> Job | None:
        rows = self._fetch(self._select_by_id, job_id=job_id)
        return self._load(*rows[0]) if rows else None

    def get_due_jobs(self, now: datetime) -> list[Job]:
        rows = self._fetch(self._select_due, now=datetime_to_utc_timestamp(now))
        return self._load_due(rows, now)

    def get_next_run_time(self) -> datetime | None:
        if self._shut_down:
            return None

        looked_at = self._rows_to_look_at()

        def look() -> Outlook:
            with self._single.connect() as connection:
                if self._read_only is not None:
                    return self._read_only_outlook(connection, looked_at)
                params = self._jobs_sql.params(looked_at=looked_at)
                return self._jobs_sql.look_out(connection, params)

        return self._next_time(self._run(look))

    def _rows_to_look_at(self) -> int:
        """How many waiting jobs an outlook must read: one more than the known broken ones."""
        return len(self._unloadable_ids()) + 1

    def _next_time(self, outlook: Outlook) -> datetime | None:
        """
        Return when the scheduler should look at the table next, by its own clock.

        A job leased to a scheduler counts with the end of its lease rather than its run time:
        its run is that scheduler's business until then, and chasing its overdue run time would
        keep the other schedulers busy in a loop.
        """
        earliest = self._next_run_time(sorted(outlook.waiting, key=lambda row: (row[1], row[0])))
        if outlook.lease_expires is not None and outlook.store_now is not None:
            lease_end = self._lease_end_for_scheduler(
                float(outlook.lease_expires), float(outlook.store_now)
            )
            if earliest is None or lease_end < earliest:
                earliest = lease_end
        return earliest

    def _read_only_outlook(self, connection: Connection, looked_at: int) -> Outlook:
        # an APScheduler 3 table that could not be upgraded has no lease columns to look at
        rows = connection.execute(self._jobs_sql.scheduled, {"looked_at": looked_at}).all()
        return Outlook([(job_id, run_time) for job_id, run_time in rows], None, None)

    def get_all_jobs(self) -> list[Job]:
        if self._read_only is not None:
            # a table this store could not upgrade may lack the request columns; one that it
            # may only read may have them all the same, with requests that other stores made
            jobs = self._load_all(self._fetch(self._select_all))
            jobs.sort(key=_schedule_order)
            return jobs

        rows = self._fetch(self._select_all_with_requests)
        # the next_run_time column of a job with pending run requests may be theirs: the job's
        # own next run time decides its place
        requested = {row[0] for row in rows if row[3] is not None}
        return self._load_all([row[:3] for row in rows], requested)

    # --- writing ---------------------------------------------------------------------------

    def _begin(self, one_statement: bool = True) -> AbstractContextManager[Connection]:
        """A connection in a transaction, in autocommit mode when it is for one statement."""
        return (self._single if one_statement else self.engine).begin()

    def _write(self, statement: Any, params: dict[str, Any]) -> int:
        self._check_writable()
        with self._begin() as connection:
            return connection.execute(statement, params).rowcount

    def add_job(self, job: Job) -> None:
        params = {
            "id": job.id,
            "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
            "job_state": self._serialize(job),
        }

        def insert_row() -> bool:
            try:
                self._write(self._jobs_sql.insert, params)
            except IntegrityError:
                return False
            return True

        def inserted_before(inserted: bool) -> bool:
            # a retry after a commit whose reply was lost finds its own row: that is fine
            return inserted or self._stored_state(job.id) == params["job_state"]

        if not self._run(insert_row, applied_on_retry=inserted_before):
            raise ConflictingIdError(job.id)
        self._clear_load_failure(job.id)

    def _stored_state(self, job_id: str) -> bytes | None:
        with self._single.connect() as connection:
            return connection.execute(self._select_state, {"job_id": job_id}).scalar()

    def update_job(self, job: Job) -> None:
        # Ends any scheduler's claim on the job: see JobTableSQL.replace
        params = self._jobs_sql.params(
            job_id=job.id,
            run_time=datetime_to_utc_timestamp(job.next_run_time),
            state=self._serialize(job),
        )
        if not self._run(lambda: self._write(self._jobs_sql.replace, params)):
            raise JobLookupError(job.id)
        self._clear_load_failure(job.id)

    def remove_job(self, job_id: str) -> None:
        removed = self._run(
            lambda: self._write(self._jobs_sql.remove, {"job_id": job_id}) > 0,
            # a retry after a commit whose reply was lost finds the row gone: that is fine
            applied_on_retry=lambda removed: True,
        )
        if not removed:
            raise JobLookupError(job_id)
        self._clear_load_failure(job_id)

    def remove_all_jobs(self) -> None:
        self._run(lambda: self._write(self._jobs_sql.remove_all, {}))
        self._clear_load_failure()

    # --- sharing the table with other schedulers -------------------------------------------

    def acquire_due_jobs(self, now: datetime, owner: str) -> ClaimedJobs:
        if self._shut_down:
            return ClaimedJobs([], None)

        now_ts = datetime_to_utc_timestamp(now)
        assert now_ts is not None  # now is a datetime
        skip = self._ids_to_leave_unclaimed(now_ts)
        params = {
            "now": now_ts,
            "owner": owner,
            "lease": self.lease_time,
            "skip": skip,
            "batch": self.claim_batch,
            "looked_at": self._rows_to_look_at(),
        }

        def claim() -> tuple[Sequence[Any], Outlook]:
            if self._read_only is not None:
                with self._single.connect() as connection:
                    return [], self._refuse_due_jobs(connection, params)

            in_one = self._jobs_sql.claims_in_one_round_trip
            with self._begin(in_one) as connection:
                return self._jobs_sql.claim(connection, self._jobs_sql.params(**params))

        rows, outlook = self._run(claim)
        if not rows and self._bursts_unprepared:
            self._prepare_for_bursts_once()
        # after the claimed jobs are loaded: those that fail bring in their recheck time
        jobs = self._accept_claimed([row[:3] for row in rows], now, owner) if rows else []
        return ClaimedJobs(
            jobs, self._next_time(outlook), _requests_of(jobs, rows), outlook.runs_in_progress
        )

    def _refuse_due_jobs(self, connection: Connection, params: dict[str, Any]) -> Outlook:
        """
        On a table that may only be read, raise if any job is due: claiming it is a write.

        A run that could not be recorded would start again on every pass, so the jobs stay
        due, for a scheduler that may write, and this one logs the error.

        :raises ReadOnlyJobStoreError: if a job other than those in ``params["skip"]`` is due
        """
        # the jobs come in run time order, and at least one of them is not to skip
        outlook = self._read_only_outlook(connection, params["looked_at"])
        if any(
            run_time <= params["now"]
            for job_id, run_time in outlook.waiting
            if job_id not in params["skip"]
        ):
            raise ReadOnlyJobStoreError(
                f"Job store {self._alias!r} cannot run its due jobs: this connection may only "
                f"read the table {self.jobs_t.fullname!r} ({self._read_only})"
            )
        return outlook

    def request_run(self, job_id: str, request: RunRequest) -> bool:
        """
        Record ``request`` with the job in one statement, lowering its ``next_run_time`` column
        to the request's time if that is earlier (the job's own stays in its state).

        :raises ReadOnlyJobStoreError: if this store may only read its table
        """
        params = self._jobs_sql.params(
            job_id=job_id,
            entry=request_entry(request),
            requested_at=datetime_to_utc_timestamp(request.requested_at),
        )
        # a retry after a lost reply appends the same line again, which counts once
        return bool(self._run(lambda: self._write(self._jobs_sql.request, params)))

    def start_claimed_runs(self, owner: str, starts: Sequence[RunStart]) -> list[RunStartOutcome]:
        entries = run_entries(starts, self._serialize)
        outcomes: list[RunStartOutcome] = []
        for batch in unique_job_batches(entries):
            outcomes.extend(self._start_batch(owner, batch))

        for start, outcome in zip(starts, outcomes, strict=True):
            if outcome is not LOST:
                self._clear_load_failure(start.job.id)
        return outcomes

    def _start_batch(self, owner: str, entries: list[RunEntry]) -> list[RunStartOutcome]:
        def start() -> list[RunStartOutcome]:
            self._check_writable()
            params = self._jobs_sql.params(owner=owner, run_owner=owner, lease=self.lease_time)
            with self._begin(self._runs_sql.starts_in_one_statement) as connection:
                return self._runs_sql.start(connection, entries, params)

        def moved_before(outcomes: list[RunStartOutcome]) -> list[RunStartOutcome]:
            # a retry after a commit whose reply was lost finds its jobs moved on already
            if LOST not in outcomes:
                return outcomes
            with self._single.connect() as connection:
                return self._runs_sql.recognise_moves(connection, entries, outcomes)

        return self._run(start, applied_on_retry=moved_before)

    def finish_runs(self, owner: str, run_ids: Sequence[str]) -> None:
        if run_ids:
            params = {"run_owner": owner, "run_ids": list(run_ids)}
            self._run(lambda: self._write(self._runs_sql.finish, params))

    def renew_runs(self, owner: str) -> set[str]:
        def renew() -> set[str]:
            self._check_writable()
            params = self._jobs_sql.params(run_owner=owner, lease=self.lease_time)
            with self._begin(self._runs_sql.renews_in_one_statement) as connection:
                return self._runs_sql.renew(connection, params)

        return self._run(renew)

    def take_abandoned_runs(self) -> list[AbandonedRun]:
        def take() -> list[AbandonedRun]:
            if self._read_only is not None:
                return []  # nothing can be taken off a table that this store cannot write

            with self._begin(self._runs_sql.takes_in_one_statement) as connection:
                return self._runs_sql.take_abandoned(connection, self._jobs_sql.params())

        return self._run(take)

    def _release_claimed_jobs(self, job_ids: list[str], owner: str) -> None:
        params = {"job_ids": job_ids, "owner": owner}
        self._run(lambda: self._write(self._jobs_sql.release, params))

    # --- the history of runs ---------------------------------------------------------------

    def record_runs(self, runs: Sequence[JobRun]) -> None:
        """
        Store ``runs`` in the history table, replacing the records of the same run ids.

        :raises ReadOnlyJobStoreError: if this store may only read its tables
        """
        latest = latest_by_run_id(runs)
        if not latest:
            return

        def record() -> None:
            self._check_writable()
            one_statement = self._history_sql.upserts_in_one_statement
            with self._begin(one_statement) as connection:
                self._history_sql.record(connection, latest)

        # an upsert written twice leaves the same rows: a retry after a lost reply is harmless
        self._run(record)

    def get_job_runs(
        self,
        job_id: str | None = None,
        *,
        states: Collection[str] | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[JobRun]:
        if limit <= 0:
            return []

        def read() -> list[JobRun]:
            if not self._history_readable:
                return []  # a read-only database that never had a history has no runs in it
            with self._single.connect() as connection:
                return self._history_sql.runs(connection, job_id, states, since, limit)

        return self._run(read)

    def prune_runs(self, policy: RetentionPolicy, now: datetime) -> None:
        """
        Drop the finished runs and the facts that ``policy`` no longer keeps.

        :raises ReadOnlyJobStoreError: if this store may only read its tables
        """

        def prune() -> None:
            self._check_writable()
            with self._begin(False) as connection:
                self._history_sql.prune(connection, policy, now)
                self._facts_sql.prune(connection, policy, now)

        # deleting what a lost attempt deleted already deletes nothing more
        self._run(prune)

    def record_facts(self, facts: Sequence[SchedulerFact]) -> None:
        """
        Store ``facts`` in the facts table, replacing the records of the same fact ids.

        :raises ReadOnlyJobStoreError: if this store may only read its tables
        """
        latest = latest_by_fact_id(facts)
        if not latest:
            return

        def record() -> None:
            self._check_writable()
            with self._begin(self._facts_sql.upserts_in_one_statement) as connection:
                self._facts_sql.record(connection, latest)

        # an upsert written twice leaves the same rows: a retry after a lost reply is harmless
        self._run(record)

    def get_facts(
        self, *, until: datetime | None = None, limit: int = 1000
    ) -> list[SchedulerFact]:
        if limit <= 0:
            return []

        def read() -> list[SchedulerFact]:
            if not self._facts_readable:
                return []  # a read-only database that never had facts has none to show
            with self._single.connect() as connection:
                return self._facts_sql.read(connection, until, limit)

        return self._run(read)

    def _interrupt_listener(self) -> None:
        """End the listener's wait at once, with no round trip to the server."""
        if self._waker is not None:
            self._waker.wake()

    def _stop_listener(self, interrupt: Callable[[], None] | None = None) -> None:
        super()._stop_listener(interrupt)
        waker, self._waker = self._waker, None
        if waker is not None:
            waker.close()

    def shutdown(self) -> None:
        super().shutdown()
        # a preparation for bursts under way in the scheduler's thread holds connections that
        # a disposal going on meanwhile would leave open: it ends first
        with self._burst_lock:
            self._bursts_unprepared = False
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} (url={self.engine.url})>"


def _schedule_order(job: Job) -> tuple[bool, float, str]:
    """Sort key of listed jobs: by their own next run time, paused ones last, then by id."""
    run_time = datetime_to_utc_timestamp(job.next_run_time)
    return run_time is None, run_time or 0.0, job.id


def _requests_of(jobs: list[Job], rows: Sequence[Any]) -> dict[str, tuple[RunRequest, ...]]:
    """The pending run requests of the claimed ``jobs``, from the claimed rows."""
    if not any(row[3] for row in rows):
        return {}
    claimed = {job.id for job in jobs}
    return {row[0]: read_requests(row[3]) for row in rows if row[3] and row[0] in claimed}
