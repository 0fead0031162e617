"""
The SQL with which schedulers sharing a job table record the runs they have in progress.

Starting the runs of a batch of claimed jobs is one transaction: for each job whose lease its
scheduler still holds, the job is stored as the scheduler moved it on (or goes, if its schedule is
over), its lease and its pending run requests are given up and, unless ``max_instances`` runs of
it are in progress already, a row of the runs table records the new runs. On PostgreSQL the
whole batch is one statement (data-modifying ``WITH`` queries), so it costs one round trip to the
server; elsewhere it is one transaction of a few statements. A run row is leased to its
scheduler until ``expires`` on the database's clock; the scheduler renews its rows while their
runs go on, and whatever expires is handed, once, to the scheduler that asks for abandoned runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from functools import cached_property
from typing import Any, NamedTuple

from sqlalchemy import (
    ARRAY,
    Boolean,
    Float,
    Integer,
    LargeBinary,
    Table,
    Text,
    Unicode,
    bindparam,
    case,
    cast,
    column,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection

from apscheduler.jobstores.shared import AbandonedRun, RunStart, RunStartOutcome
from apscheduler.jobstores.sqlalchemy.jobs_sql import JobTableSQL
from apscheduler.util import datetime_to_utc_timestamp

#: the columns of a batch of starts in PostgreSQL's one statement
BATCH_COLUMNS = (
    ("position", Integer),
    ("run_id", Unicode),
    ("job_id", Unicode),
    ("next_run_time", Float),
    ("job_state", LargeBinary),
    ("finished", Boolean),
    ("run_times", Text),
    ("max_instances", Integer),
)
STARTED, MAX_INSTANCES, LOST = (
    RunStartOutcome.STARTED,
    RunStartOutcome.MAX_INSTANCES,
    RunStartOutcome.LOST,
)


class RunEntry(NamedTuple):
    """One start of a batch, as the statements take it."""

    run_id: str
    job_id: str
    #: the job's next run time as a UTC timestamp (``None``: paused, or removed)
    next_run_time: float | None
    #: the job's pickled state with that next run time (``None``: remove the job)
    state: bytes | None
    #: :func:`encode_run_times` of the runs
    run_times: str
    max_instances: int


def encode_run_times(run_times: Sequence[datetime]) -> str:
    """The run times as the runs table keeps them: UTC timestamps, separated by spaces."""
    return " ".join(repr(datetime_to_utc_timestamp(run_time)) for run_time in run_times)


def decode_run_times(text: str) -> list[datetime]:
    return [datetime.fromtimestamp(float(timestamp), timezone.utc) for timestamp in text.split()]


def run_entries(starts: Sequence[RunStart], serialize: Callable[[Any], bytes]) -> list[RunEntry]:
    """Say what to store of each start's job, which the scheduler has moved on already."""
    return [
        RunEntry(
            start.run_id,
            start.job.id,
            datetime_to_utc_timestamp(start.job.next_run_time),
            None if start.removes_job else serialize(start.job),
            encode_run_times(start.run_times),
            start.job.max_instances,
        )
        for start in starts
    ]


def unique_job_batches(entries: list[RunEntry]) -> Iterator[list[RunEntry]]:
    """
    Cut ``entries`` into consecutive batches in which no job comes twice.

    A statement moves each job of a batch once; a second start of one job in a batch comes
    after the first in a batch of its own, as starts one by one would.
    """
    batch: list[RunEntry] = []
    job_ids: set[str] = set()
    for entry in entries:
        if entry.job_id in job_ids:
            yield batch
            batch, job_ids = [], set()
        batch.append(entry)
        job_ids.add(entry.job_id)
    if batch:
        yield batch


class RunsTableSQL:
    """The statements on the runs table ``runs`` of the job table that ``jobs`` works on."""

    def __init__(self, runs: Table, jobs: JobTableSQL) -> None:
        self.runs = runs
        self._jobs = jobs
        dialect = jobs.dialect
        #: whether one statement starts a whole batch (PostgreSQL's data-modifying WITH)
        self.starts_in_one_statement = dialect.name == "postgresql"
        #: whether one statement renews the runs and names them (UPDATE … RETURNING)
        self.renews_in_one_statement = dialect.name in ("postgresql", "sqlite") and getattr(
            dialect, "update_returning", False
        )
        #: whether one statement takes the abandoned runs (DELETE … RETURNING)
        self.takes_in_one_statement = dialect.name in ("postgresql", "sqlite") and getattr(
            dialect, "delete_returning", False
        )

    # Each statement is built on first use, as JobTableSQL's are.

    @property
    def _ours(self) -> Any:
        # named apart from the column "owner", as SQLAlchemy needs in statements that write it
        return self.runs.c.owner == bindparam("run_owner", type_=Unicode)

    @property
    def _expires(self) -> Any:
        return self._jobs.clock + bindparam("lease", type_=Float)

    @cached_property
    def _start_all(self) -> Any:
        return self._start_statement()

    @cached_property
    def _record(self) -> Any:
        return insert(self.runs).values(expires=self._expires)

    @cached_property
    def _runs_of(self) -> Any:
        r = self.runs.c
        return select(r.run_id, r.job_id, case((r.expires >= self._jobs.clock, 1), else_=0)).where(
            r.job_id.in_(bindparam("job_ids", expanding=True))
        )

    @cached_property
    def finish(self) -> Any:
        run_ids: Any = bindparam("run_ids", expanding=True)
        return delete(self.runs).where(self._ours, self.runs.c.run_id.in_(run_ids))

    @cached_property
    def _renew(self) -> Any:
        return update(self.runs).where(self._ours).values(expires=self._expires)

    @cached_property
    def _renew_and_name(self) -> Any:
        return self._renew.returning(self.runs.c.run_id)

    @cached_property
    def _run_ids_of(self) -> Any:
        return select(self.runs.c.run_id).where(self._ours)

    @property
    def _expired_condition(self) -> Any:
        return self.runs.c.expires < self._jobs.clock

    @cached_property
    def _take(self) -> Any:
        r = self.runs.c
        return (
            delete(self.runs)
            .where(self._expired_condition)
            .returning(r.job_id, r.run_times, r.owner)
        )

    @cached_property
    def _expired(self) -> Any:
        r = self.runs.c
        return select(r.run_id, r.job_id, r.run_times, r.owner, r.expires).where(
            self._expired_condition
        )

    @cached_property
    def _take_one(self) -> Any:
        r = self.runs.c
        return delete(self.runs).where(
            r.run_id == bindparam("run_id"), r.expires == bindparam("expires")
        )

    @cached_property
    def _locked_expired(self) -> Any:
        return self._expired.with_for_update(skip_locked=True)

    # --- starting runs ---------------------------------------------------------------------

    def start(
        self, connection: Connection, entries: list[RunEntry], params: dict[str, Any]
    ) -> list[RunStartOutcome]:
        """Start a batch of distinct jobs in the transaction of ``connection``."""
        if self.starts_in_one_statement:
            columns = zip(
                *(self._batch_row(position, entry) for position, entry in enumerate(entries)),
                strict=True,
            )
            batch = {
                f"batch_{name}": list(values)
                for (name, _), values in zip(BATCH_COLUMNS, columns, strict=True)
            }
            rows = connection.execute(self._start_all, {**params, **batch}).all()
            return [
                STARTED if started else MAX_INSTANCES if moved else LOST
                for _, started, moved in rows
            ]
        return self._start_step_by_step(connection, entries, params)

    def prepare(self, connection: Connection, params: dict[str, Any]) -> None:
        """
        Run the statement that starts a batch once, on an empty batch (PostgreSQL only).

        Its first compile and the server's first look at the tables take milliseconds, which
        the first burst of due jobs would otherwise pay.
        """
        if self.starts_in_one_statement:
            empty: dict[str, list[Any]] = {f"batch_{name}": [] for name, _ in BATCH_COLUMNS}
            connection.execute(self._start_all, {**params, **empty})

    @staticmethod
    def _batch_row(position: int, entry: RunEntry) -> tuple[Any, ...]:
        """One start as the row of :data:`BATCH_COLUMNS` that the PostgreSQL statement takes."""
        return (
            position,
            entry.run_id,
            entry.job_id,
            entry.next_run_time,
            entry.state,
            entry.state is None,
            entry.run_times,
            entry.max_instances,
        )

    def _start_step_by_step(
        self, connection: Connection, entries: list[RunEntry], params: dict[str, Any]
    ) -> list[RunStartOutcome]:
        """Read the batch's runs, then move each job on, then record the new runs."""
        in_progress: dict[str, int] = {}
        recorded: set[str] = set()
        found = connection.execute(
            self._runs_of, {**params, "job_ids": [entry.job_id for entry in entries]}
        )
        for run_id, job_id, live in found:
            recorded.add(run_id)
            in_progress[job_id] = in_progress.get(job_id, 0) + live

        # Counting before moving is safe: only the holder of a job's lease adds runs of that
        # job, and a lease that changed hands since makes the move below find nothing.
        outcomes: list[RunStartOutcome] = []
        records = []
        for entry in entries:
            if entry.run_id in recorded:
                outcomes.append(STARTED)  # a retry after a commit whose reply was lost
                continue
            if entry.state is None:
                statement = self._jobs.finish
            else:
                statement = self._jobs.move_on
            job = {"job_id": entry.job_id, "run_time": entry.next_run_time, "state": entry.state}
            if not connection.execute(statement, {**params, **job}).rowcount:
                outcomes.append(LOST)
            elif in_progress.get(entry.job_id, 0) >= entry.max_instances:
                outcomes.append(MAX_INSTANCES)
            else:
                outcomes.append(STARTED)
                records.append(
                    {
                        **params,
                        "run_id": entry.run_id,
                        "job_id": entry.job_id,
                        "run_times": entry.run_times,
                    }
                )
        if records:
            connection.execute(self._record, records)
        return outcomes

    def recognise_moves(
        self, connection: Connection, entries: list[RunEntry], outcomes: list[RunStartOutcome]
    ) -> list[RunStartOutcome]:
        """
        On a retry, tell the starts that an earlier attempt applied from those really lost.

        An earlier attempt whose reply was lost left its recorded runs (which the retry finds:
        ``STARTED``) and its jobs moved on without runs (``MAX_INSTANCES``), which the retry,
        finding the lease gone, calls lost. A job stored just as this start would store it,
        with no lease, is one of those. A removed job cannot be told from one a user removed,
        so it stays lost.
        """
        job_ids = [entry.job_id for entry in entries]
        rows = connection.execute(self._jobs.rows_of, {"job_ids": job_ids}).all()
        stored = {row.id: (row.next_run_time, row.job_state, row.lease_owner) for row in rows}
        return [
            MAX_INSTANCES
            if outcome is LOST
            and entry.state is not None
            and stored.get(entry.job_id) == (entry.next_run_time, entry.state, None)
            else outcome
            for entry, outcome in zip(entries, outcomes, strict=True)
        ]

    def _start_statement(self) -> Any:
        """
        One PostgreSQL statement that starts the whole batch and says how each start went.

        All its parts see the table as it was when the statement began; the runs recorded come
        only from the jobs that the move actually found leased to the scheduler. A move waits
        for any other transaction that holds the job's row, then checks the lease again.
        """
        jobs = self._jobs.table
        j, r = jobs.c, self.runs.c
        # the batch comes as one array per column, so that the statement's text is the same
        # for every batch and SQLAlchemy compiles it once
        arrays = [bindparam(f"batch_{name}", type_=ARRAY(type_)) for name, type_ in BATCH_COLUMNS]
        given = (
            func.unnest(*arrays)
            .table_valued(*(column(name, type_) for name, type_ in BATCH_COLUMNS))
            .render_derived(name="given")
        )
        # typed again: psycopg2 spells arrays out as literals, and one of NULLs only is text[]
        batch = select(*(cast(c, c.type).label(c.name) for c in given.c)).cte("batch")
        b = batch.c
        owner = bindparam("owner", type_=Unicode)

        existing = select(r.run_id).where(r.run_id.in_(select(b.run_id))).cte("existing")
        ours = (
            j.id == b.job_id,
            j.lease_owner == owner,
            b.run_id.not_in(select(existing.c.run_id)),
        )
        moved = self._jobs.announced(
            update(jobs)
            .where(*ours, b.finished.is_(False))
            .values(
                next_run_time=b.next_run_time,
                job_state=b.job_state,
                lease_owner=None,
                lease_expires=None,
                run_requests=None,
                requested_at=None,
            )
        )
        moved_cte = moved.returning(j.id).cte("moved")
        removed = delete(jobs).where(*ours, b.finished.is_(True)).returning(j.id).cte("removed")
        taken = select(moved_cte.c.id).union_all(select(removed.c.id)).cte("taken")

        in_progress = (
            select(func.count())
            .where(r.job_id == b.job_id, r.expires >= self._jobs.clock)
            .scalar_subquery()
        )
        lease = bindparam("lease", type_=Float)
        recorded = (
            insert(self.runs)
            .from_select(
                ["run_id", "job_id", "owner", "run_times", "expires"],
                select(
                    b.run_id,
                    b.job_id,
                    bindparam("run_owner", type_=Unicode),
                    b.run_times,
                    self._jobs.clock + lease,
                ).where(b.job_id.in_(select(taken.c.id)), in_progress < b.max_instances),
            )
            .returning(r.run_id)
            .cte("recorded")
        )
        started = b.run_id.in_(select(existing.c.run_id)) | b.run_id.in_(select(recorded.c.run_id))
        return select(b.position, started, b.job_id.in_(select(taken.c.id))).order_by(b.position)

    # --- after the start -------------------------------------------------------------------

    def renew(self, connection: Connection, params: dict[str, Any]) -> set[str]:
        """Extend the leases of the runs of ``params['run_owner']``; return their run ids."""
        if self.renews_in_one_statement:
            return set(connection.execute(self._renew_and_name, params).scalars())
        connection.execute(self._renew, params)
        # the update locked these rows: nobody can take them before the transaction ends
        return set(connection.execute(self._run_ids_of, params).scalars())

    def take_abandoned(self, connection: Connection, params: dict[str, Any]) -> list[AbandonedRun]:
        """Delete the expired runs and return them, each to one caller only."""
        rows: Sequence[Any]
        if self.takes_in_one_statement:
            rows = connection.execute(self._take, params).all()
        else:
            rows = []
            for run_id, job_id, run_times, owner, expires in connection.execute(
                self._locked_expired if self._jobs.candidates_locked else self._expired, params
            ).all():
                # renewed or taken by another caller since it was read: not ours to take
                taken = connection.execute(self._take_one, {"run_id": run_id, "expires": expires})
                if taken.rowcount:
                    rows.append((job_id, run_times, owner))
        runs = [
            AbandonedRun(job_id, decode_run_times(times), owner) for job_id, times, owner in rows
        ]
        return sorted(runs, key=lambda run: (run.run_times, run.job_id, run.owner))
