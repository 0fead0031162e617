"""
The SQL statements on the job table of schedulers that share it.

A claim leases due jobs to one scheduler: ``lease_owner`` names it and ``lease_expires`` says
until when, on the database's clock. On PostgreSQL and SQLite one ``UPDATE … RETURNING``
statement claims the jobs; PostgreSQL's ``FOR UPDATE SKIP LOCKED`` lets schedulers claiming at
the same moment take different jobs instead of waiting for each other, and SQLite runs one
writing statement at a time. Other databases select the candidates; where they can lock them
(``SKIP LOCKED`` on MySQL 8, MariaDB 10.6, Oracle) one ``UPDATE`` leases them all, elsewhere an
``UPDATE`` per job checks again that its lease is free.

With the claim comes the *outlook*: when the table next has work for the claiming scheduler
besides the jobs it just took, so that it needs no second look to know how long it may sleep.
On PostgreSQL the claim statement reads it too (a data-modifying ``WITH`` query); elsewhere one
``SELECT`` in the claim's transaction does (before the claim where claiming locks rows).

A run asked for with ``run_job_now`` (a *run request*) is kept with its job: a line
``"<UTC timestamp> <run id>"`` appended to ``run_requests``, the earliest of their times in
``requested_at``, and ``next_run_time`` lowered to it when it is earlier, so that the claim finds
the job due with no other condition (the job's own next run time stays in its pickled state).
The claim reads ``run_requests`` with the job; starting the job's runs clears both columns, and
a user's change to the job keeps ``next_run_time`` due for them.
"""

from __future__ import annotations

import time
from collections.abc import Container, Iterable, Sequence
from datetime import datetime, timezone
from functools import cached_property
from typing import Any, NamedTuple

from sqlalchemy import (
    Boolean,
    Float,
    Integer,
    LargeBinary,
    Table,
    Text,
    bindparam,
    case,
    cast,
    delete,
    exists,
    extract,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.elements import ColumnElement

from apscheduler.jobstores.shared import RunRequest
from apscheduler.jobstores.sqlalchemy.sqlite_claim import SQLiteClaimSQL, sqlite_clock
from apscheduler.util import datetime_to_utc_timestamp


def database_clock(dialect: Dialect) -> ColumnElement[Any] | None:
    """
    An SQL expression for the database server's time as a UTC timestamp, if the dialect has one.

    Leases end by this clock, so that schedulers on hosts whose clocks disagree still agree on
    when a lease has expired.
    """
    name = dialect.name
    if name == "postgresql":
        # now() is the start of the transaction; every lease statement is a transaction of its
        # own, and unlike clock_timestamp(), now() lets the planner use it in index conditions
        return cast(extract("epoch", func.now()), Float)
    if name == "sqlite":
        # the same text as in the claim and outlook written out for SQLite
        return literal_column(sqlite_clock(), Float)
    if name in ("mysql", "mariadb"):
        # UTC_TIMESTAMP() is free of the session's time zone, unlike UNIX_TIMESTAMP(NOW()):
        # in the hour that a change from summer time repeats, that reads the first of the two
        # equal local times, an hour behind, and makes leases taken just before last an hour
        microseconds = func.timestampdiff(
            literal_column("MICROSECOND"), literal("1970-01-01"), func.utc_timestamp(6)
        )
        return microseconds * literal_column("0.000001")
    if name == "mssql":
        milliseconds = func.datediff_big(
            literal_column("millisecond"), literal("19700101"), func.sysutcdatetime()
        )
        return milliseconds / 1000.0
    # no known clock: leases end by the clock of each scheduler's host
    return None


def skips_locked_rows(dialect: Dialect) -> bool:
    """Whether ``SELECT … FOR UPDATE SKIP LOCKED`` works on this database."""
    version = dialect.server_version_info or ()
    if dialect.name == "postgresql":
        return True
    if dialect.name in ("mysql", "mariadb"):
        if getattr(dialect, "is_mariadb", False):
            return version >= (10, 6)
        return version >= (8, 0, 1)
    return dialect.name == "oracle"


class Outlook(NamedTuple):
    """What a job table holds for a scheduler besides the jobs it has claimed."""

    #: ``(id, next run time)`` of the first jobs that nobody holds, in no particular order
    waiting: list[tuple[str, float]]
    #: the earliest end of a lease still in force (``None``: none is), on the database's clock
    lease_expires: float | None
    #: the database's time when it looked, to set ``lease_expires`` against
    store_now: float | None
    #: whether the runs table held runs in progress (``True`` where it was not asked)
    runs_in_progress: bool = True


class JobTableSQL:
    """
    The statements on one job table: claims and their outlook, and every write to a job.

    Statement parameters: ``now`` (a UTC timestamp), ``owner``, ``lease`` (seconds), ``skip``
    (ids to leave unclaimed), ``batch`` (the most jobs a claim takes), ``looked_at`` (how many
    waiting jobs the outlook reads), plus those of :meth:`params`.

    :param notify: ``(channel, token)`` to announce every change with PostgreSQL's
        ``pg_notify`` in the statement that makes it (no extra round trip), or ``None``
    :param runs_table: the table of the runs in progress, which the outlook says whether it
        holds any (``None``: the outlook does not tell)
    """

    def __init__(
        self,
        table: Table,
        dialect: Dialect,
        notify: tuple[str, str] | None = None,
        runs_table: Table | None = None,
    ) -> None:
        self.table = table
        self._runs_table = runs_table
        self.dialect = dialect
        self._notify = notify
        #: whether leases end by each scheduler host's clock, for want of a database clock
        self.uses_local_clock = database_clock(dialect) is None
        #: whether one UPDATE … RETURNING claims the jobs (and, on PostgreSQL, reads the
        #: outlook too); otherwise a transaction of a few statements does
        self.claims_in_one_statement = dialect.name in ("postgresql", "sqlite") and getattr(
            dialect, "update_returning", False
        )

    # Each statement is built on first use: a store that only lists jobs needs one or two of
    # them, and building them all made a store's construction several times slower.

    @cached_property
    def clock(self) -> ColumnElement[Any]:
        """The database's time as a UTC timestamp, or the ``local_now`` parameter."""
        clock = database_clock(self.dialect)
        return bindparam("local_now", type_=Float) if clock is None else clock

    @cached_property
    def free(self) -> ColumnElement[bool]:
        """The condition of a job no scheduler holds: never leased, released, or expired."""
        c = self.table.c
        return or_(c.lease_owner.is_(None), c.lease_expires < self.clock)

    @cached_property
    def _leased(self) -> dict[str, Any]:
        return {"lease_owner": bindparam("owner"), "lease_expires": self.clock + _lease()}

    @property
    def _ours(self) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        c = self.table.c
        return c.id == bindparam("job_id"), c.lease_owner == bindparam("owner")

    @cached_property
    def _due(self) -> Any:
        c = self.table.c
        return (
            select(c.id, c.next_run_time, c.job_state, c.run_requests)
            .where(
                c.next_run_time <= bindparam("now"),
                self.free,
                c.id.not_in(bindparam("skip", expanding=True)),
            )
            # by run time alone, as the index on next_run_time gives them: a tie-break by id
            # made the database sort every job due at that instant on each claim
            # (10,000 jobs due at once: 2.7 s of PostgreSQL CPU instead of 0.95 s)
            .order_by(c.next_run_time)
            .limit(bindparam("batch", type_=Integer))
        )

    @cached_property
    def _claim_all(self) -> Any:
        c = self.table.c
        return (
            update(self.table)
            .where(c.id.in_(bindparam("job_ids", expanding=True)), self.free)
            .values(self._leased)
        )

    @cached_property
    def _claim_one(self) -> Any:
        """
        Claims a row read without a lock if it is still free and has the requests read with
        it: the claim hands them over, and the start forgets what the claim handed over.
        """
        c = self.table.c
        return (
            update(self.table).where(c.id == bindparam("job_id"), self.free).values(self._leased)
        )

    @cached_property
    def _claim_one_unrequested(self) -> Any:
        return self._claim_one.where(self.table.c.run_requests.is_(None))

    @cached_property
    def _claim_one_as_read(self) -> Any:
        seen = bindparam("seen_requests", type_=Text)
        return self._claim_one.where(self.table.c.run_requests == seen)

    @cached_property
    def _look_out(self) -> Any:
        return self._outlook(None)

    @cached_property
    def _sqlite(self) -> SQLiteClaimSQL | None:
        """The claim and the outlook in SQLite's own SQL, on SQLite (see sqlite_claim)."""
        if self.dialect.name != "sqlite":
            return None
        return SQLiteClaimSQL(self.table, self._runs_table, self.dialect)

    @cached_property
    def scheduled(self) -> Any:
        """The next scheduled jobs, for a table that has no lease columns (a read-only one)."""
        c = self.table.c
        return (
            select(c.id, c.next_run_time)
            .where(c.next_run_time.is_not(None))
            .order_by(c.next_run_time)
            .limit(bindparam("looked_at", type_=Integer))
        )

    @cached_property
    def move_on(self) -> Any:
        """
        Starting a claimed job's runs stores it as the scheduler moved it on (or, with no next
        run time, removes it) and gives its lease up, if the lease is still the starter's: see
        RunsTableSQL. A start makes every request pending at its claim: none came since, or
        the claim would have ended.
        """
        return self.announced(
            update(self.table)
            .where(*self._ours)
            .values(
                next_run_time=bindparam("run_time"),
                job_state=bindparam("state"),
                **_UNLEASED,
                **_UNREQUESTED,
            )
        )

    @cached_property
    def finish(self) -> Any:
        return delete(self.table).where(*self._ours)

    @cached_property
    def release(self) -> Any:
        c = self.table.c
        return self.announced(
            update(self.table)
            .where(c.id.in_(bindparam("job_ids", expanding=True)))
            .where(c.lease_owner == bindparam("owner"))
            .values(_UNLEASED)
        )

    @cached_property
    def insert(self) -> Any:
        return self.announced(insert(self.table))

    @cached_property
    def replace(self) -> Any:
        """
        A change made by the user ends any claim on the job: the claimer's stale copy must not
        overwrite it, and the job is claimed afresh with its new settings (and stays due for
        its pending run requests).
        """
        c = self.table.c
        return self.announced(
            update(self.table)
            .where(c.id == bindparam("job_id"))
            .values(
                next_run_time=_earlier(self._timestamp("run_time"), c.requested_at),
                job_state=bindparam("state"),
                **_UNLEASED,
            )
        )

    @cached_property
    def request(self) -> Any:
        """A request is due at its time at the latest, and ends any claim as a user's change."""
        c = self.table.c
        requested_at = self._timestamp("requested_at")
        return self.announced(
            update(self.table)
            .where(c.id == bindparam("job_id"))
            .values(
                run_requests=func.coalesce(c.run_requests, "") + bindparam("entry", type_=Text),
                requested_at=_earlier(c.requested_at, requested_at),
                next_run_time=_earlier(c.next_run_time, requested_at),
                **_UNLEASED,
            )
        )

    @cached_property
    def remove(self) -> Any:
        return self.announced(
            delete(self.table).where(self.table.c.id == bindparam("job_id")), False
        )

    @cached_property
    def remove_all(self) -> Any:
        return self.announced(delete(self.table), False)

    @cached_property
    def rows_of(self) -> Any:
        c = self.table.c
        return select(c.id, c.next_run_time, c.job_state, c.lease_owner).where(
            c.id.in_(bindparam("job_ids", expanding=True))
        )

    def _timestamp(self, name: str) -> Any:
        """
        A parameter holding a UTC timestamp or ``None``, typed where the database must know
        the type of a ``NULL`` (PostgreSQL, in ``CASE WHEN … IS NULL``).
        """
        parameter = bindparam(name, type_=Float)
        return cast(parameter, Float) if self.dialect.name == "postgresql" else parameter

    def _outlook(self, unclaimed: ColumnElement[bool] | None) -> Any:
        """
        One row per waiting job (the ``looked_at`` free ones first to run), or a row of
        ``NULL`` jobs if none waits, each with the earliest lease end, the database's time and
        whether any run is in progress.

        :param unclaimed: the condition that leaves out the jobs just claimed
        """
        c = self.table.c
        others = () if unclaimed is None else (unclaimed,)
        runs = self._runs_table
        runs_in_progress = (
            true() if runs is None else exists(select(literal(1)).select_from(runs))
        ).label("runs_in_progress")
        lease = (
            select(
                func.min(c.lease_expires).label("lease_expires"),
                self.clock.label("store_now"),
                runs_in_progress,
            )
            .where(c.lease_expires >= self.clock, *others)
            .subquery("lease")
        )
        waiting = (
            select(c.id, c.next_run_time)
            .where(c.next_run_time.is_not(None), self.free, *others)
            .order_by(c.next_run_time)
            .limit(bindparam("looked_at", type_=Integer))
            .subquery("waiting")
        )
        return select(
            waiting.c.id,
            waiting.c.next_run_time,
            lease.c.lease_expires,
            lease.c.store_now,
            lease.c.runs_in_progress,
        ).select_from(lease.outerjoin(waiting, true()))

    @cached_property
    def _claim_and_look(self) -> Any:
        """
        PostgreSQL: claim the due jobs and read the outlook in one statement.

        Rows with a ``job_state`` are the claimed jobs; the others are those of the outlook.
        Every part sees the table as it was when the statement began, when the claimed jobs
        were still free: the outlook leaves them out by their ids.
        """
        c = self.table.c
        candidates = self._due.with_only_columns(c.id).with_for_update(skip_locked=True)
        claimed = (
            update(self.table)
            .where(c.id.in_(candidates.scalar_subquery()), self.free)
            .values(self._leased)
            .returning(c.id, c.next_run_time, c.job_state, c.run_requests)
            .cte("claimed")
        )
        outlook = self._outlook(c.id.not_in(select(claimed.c.id))).subquery("outlook")
        nothing = cast(null(), Float)
        return select(
            claimed.c.id,
            claimed.c.next_run_time,
            claimed.c.job_state,
            claimed.c.run_requests,
            nothing,
            nothing,
            cast(null(), Boolean),
        ).union_all(
            select(
                outlook.c.id,
                outlook.c.next_run_time,
                cast(null(), LargeBinary),
                cast(null(), Text),
                outlook.c.lease_expires,
                outlook.c.store_now,
                outlook.c.runs_in_progress,
            )
        )

    @cached_property
    def candidates_locked(self) -> bool:
        """
        Whether rows read ``FOR UPDATE SKIP LOCKED`` stay locked until the transaction ends, so
        that one ``UPDATE`` can lease all the candidates of a claim and concurrent readers skip
        them; known once connected, as the server's version decides.
        """
        return skips_locked_rows(self.dialect)

    @cached_property
    def _locked_due(self) -> Any:
        return self._due.with_for_update(skip_locked=True)

    def announced(self, statement: Any, with_run_time: bool = True) -> Any:
        """
        Make ``statement`` also tell other processes about its change (PostgreSQL only).

        ``RETURNING pg_notify(…)`` runs once per changed row, only if a row changes, and is
        delivered only if the transaction commits; PostgreSQL folds identical messages of one
        transaction into one.
        """
        if self._notify is None:
            return statement
        channel, token = self._notify
        c = self.table.c
        message: Any = literal(f"{token} ")
        if with_run_time:
            message = message + func.coalesce(cast(c.next_run_time, Text), "")
        return statement.returning(func.pg_notify(literal(channel), message))

    def params(self, **values: Any) -> dict[str, Any]:
        """Statement parameters, with this host's time where the database has no clock."""
        if self.uses_local_clock:
            values["local_now"] = time.time()
        return values

    # --- claiming --------------------------------------------------------------------------

    @property
    def claims_in_one_round_trip(self) -> bool:
        """Whether :meth:`claim` is one statement, which needs no transaction around it."""
        return self.claims_in_one_statement and self.dialect.name == "postgresql"

    def claim(
        self, connection: Connection, params: dict[str, Any]
    ) -> tuple[Sequence[Any], Outlook]:
        """
        Lease the due jobs that are free to ``params['owner']``; return their rows
        ``(id, next_run_time, job_state, run_requests)``, and the outlook of the table without
        them.
        """
        if self.claims_in_one_round_trip:
            return self._claim_and_look_at_once(connection, params)
        if self.claims_in_one_statement:
            return self._claim_then_look(connection, params)
        return self._look_then_claim(connection, params)

    def _claim_and_look_at_once(
        self, connection: Connection, params: dict[str, Any]
    ) -> tuple[Sequence[Any], Outlook]:
        rows = connection.execute(self._claim_and_look, params).all()
        looks = [(row[0], row[1], row[4], row[5], row[6]) for row in rows if row[2] is None]
        return [row[:4] for row in rows if row[2] is not None], _read_outlook(looks)

    def _claim_then_look(
        self, connection: Connection, params: dict[str, Any]
    ) -> tuple[Sequence[Any], Outlook]:
        """SQLite: claim in one statement (one writer works at a time), then look out."""
        sqlite = self._sqlite
        assert sqlite is not None  # only SQLite and PostgreSQL claim in one statement
        claimed = sqlite.claim(connection, params)
        looks = sqlite.look_out(connection, params["looked_at"], [row[0] for row in claimed])
        return claimed, _read_outlook(looks)

    def _look_then_claim(
        self, connection: Connection, params: dict[str, Any]
    ) -> tuple[Sequence[Any], Outlook]:
        """
        Read the outlook, then claim the portable way.

        Where claiming locks rows until the transaction ends, an outlook read after the claim
        would make the locks last longer, and leave concurrent claims with nothing to take.
        Read first, it takes as many more waiting jobs as the claim may take, then leaves out
        those the claim took.
        """
        looked_at = params["looked_at"] + params["batch"]
        looks = self._looks(connection, {**params, "looked_at": looked_at})
        claimed = self._claim_rows(connection, params)
        return claimed, _read_outlook(looks, leave_out={row[0] for row in claimed})

    def look_out(self, connection: Connection, params: dict[str, Any]) -> Outlook:
        """The outlook of the table for a scheduler that holds no claim."""
        return _read_outlook(self._looks(connection, params))

    def _looks(self, connection: Connection, params: dict[str, Any]) -> Sequence[Any]:
        sqlite = self._sqlite
        if sqlite is not None:
            return sqlite.look_out(connection, params["looked_at"])
        return connection.execute(self._look_out, params).all()

    def _claim_rows(self, connection: Connection, params: dict[str, Any]) -> Sequence[Any]:
        """Select the due jobs that are free, then lease them: the portable way."""
        locked = self.candidates_locked
        rows = connection.execute(self._locked_due if locked else self._due, params).all()
        if locked:
            if rows:
                connection.execute(
                    self._claim_all, {**params, "job_ids": [row[0] for row in rows]}
                )
            return rows

        claimed = []
        for row in rows:
            # the row may have been leased, or asked to run, since it was read, where no lock
            # held it
            if row[3] is None:
                statement, seen = self._claim_one_unrequested, {}
            else:
                statement, seen = self._claim_one_as_read, {"seen_requests": row[3]}
            if connection.execute(statement, {**params, **seen, "job_id": row[0]}).rowcount:
                claimed.append(row)
        return claimed


_UNLEASED = {"lease_owner": None, "lease_expires": None}
_UNREQUESTED = {"run_requests": None, "requested_at": None}


def _lease() -> Any:
    return bindparam("lease", type_=Float)


def _earlier(time: Any, other: Any) -> Any:
    """The earlier of two UTC timestamps that may each be ``NULL`` (then: the other one)."""
    return case(
        (other.is_(None), time),
        (time.is_(None), other),
        (other < time, other),
        else_=time,
    )


def request_entry(request: RunRequest) -> str:
    """A run request as one line of the ``run_requests`` column: time, run id, attempt."""
    timestamp = datetime_to_utc_timestamp(request.requested_at)
    return f"{timestamp!r} {request.run_id} {request.attempt}\n"


def read_requests(text: str | None) -> tuple[RunRequest, ...]:
    """
    The run requests of a ``run_requests`` column, oldest first; a run id given twice (a
    retried request) counts once.
    """
    if not text:
        return ()
    by_run_id: dict[str, RunRequest] = {}
    for line in text.splitlines():
        timestamp, run_id, *attempt = line.split(" ")
        at = datetime.fromtimestamp(float(timestamp), timezone.utc)
        by_run_id.setdefault(run_id, RunRequest(run_id, at, int(attempt[0]) if attempt else 1))
    requests = list(by_run_id.values())
    return tuple(sorted(requests, key=lambda request: (request.requested_at, request.run_id)))


def _read_outlook(rows: Iterable[Sequence[Any]], leave_out: Container[str] = ()) -> Outlook:
    """
    Read the rows of an outlook query: ``(id, next run time, lease end, database time, runs in
    progress)``.
    """
    waiting = []
    lease_expires = store_now = None
    runs_in_progress: Any = True
    for job_id, run_time, lease_end, now, runs in rows:
        if job_id is not None and job_id not in leave_out:
            waiting.append((job_id, run_time))
        lease_expires, store_now, runs_in_progress = lease_end, now, runs
    # an EXISTS comes back as 0 or 1 where the database has no booleans (SQLite, MySQL)
    return Outlook(waiting, lease_expires, store_now, bool(runs_in_progress))
