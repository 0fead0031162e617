"""
The SQL statements with which schedulers in several processes share one job table.

A claim leases due jobs to one scheduler: ``lease_owner`` names it and ``lease_expires`` says
until when, on the database's clock. On PostgreSQL and SQLite one ``UPDATE … RETURNING``
statement claims the jobs; PostgreSQL's ``FOR UPDATE SKIP LOCKED`` lets schedulers claiming at
the same moment take different jobs instead of waiting for each other, and SQLite runs one
writing statement at a time. Other databases select the candidates; where they can lock them
(``SKIP LOCKED`` on MySQL 8, MariaDB 10.6, Oracle) one ``UPDATE`` leases them all, elsewhere an
``UPDATE`` per job checks again that its lease is free.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from sqlalchemy import (
    Float,
    Table,
    Text,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.elements import ColumnElement

from apscheduler.jobstores._shared import CLAIM_BATCH
from apscheduler.jobstores._sqlschema import database_clock


def _lease() -> Any:
    return bindparam("lease", type_=Float)


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


class SQLClaims:
    """
    The lease statements of one job table.

    :param notify: ``(channel, token)`` to announce every change with PostgreSQL's
        ``pg_notify`` in the statement that makes it (no extra round trip), or ``None``
    """

    def __init__(
        self, table: Table, dialect: Dialect, notify: tuple[str, str] | None = None
    ) -> None:
        self.table = table
        self.dialect = dialect
        self._notify = notify
        c = table.c
        clock = database_clock(dialect)
        #: whether leases end by each scheduler host's clock, for want of a database clock
        self.uses_local_clock = clock is None
        self.clock: ColumnElement[Any] = (
            bindparam("local_now", type_=Float) if clock is None else clock
        )
        #: the condition of a job no scheduler holds: never leased, released, or expired
        self.free = free = or_(c.lease_owner.is_(None), c.lease_expires < self.clock)
        leased = {"lease_owner": bindparam("owner"), "lease_expires": self.clock + _lease()}
        unleased = {"lease_owner": None, "lease_expires": None}
        ours = (c.id == bindparam("job_id"), c.lease_owner == bindparam("owner"))

        due = (
            select(c.id, c.next_run_time, c.job_state)
            .where(
                c.next_run_time <= bindparam("now"),
                free,
                c.id.not_in(bindparam("skip", expanding=True)),
            )
            .order_by(c.next_run_time, c.id)
            .limit(CLAIM_BATCH)
        )
        self.claims_in_one_statement = dialect.name in ("postgresql", "sqlite") and getattr(
            dialect, "update_returning", False
        )
        if self.claims_in_one_statement:
            candidates = due.with_only_columns(c.id)
            if dialect.name == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True)
            self._claim = (
                update(table)
                .where(c.id.in_(candidates.scalar_subquery()), free)
                .values(leased)
                .returning(c.id, c.next_run_time, c.job_state)
            )
        self._due = due
        self._claim_all = (
            update(table)
            .where(c.id.in_(bindparam("job_ids", expanding=True)), free)
            .values(leased)
        )
        self._claim_one = update(table).where(c.id == bindparam("job_id"), free).values(leased)

        # Starting a claimed job's runs moves it on (or, with no next run time, removes it) and
        # gives its lease up, if the lease is still the starter's: see SQLRuns
        self.move_on = self.announced(
            update(table)
            .where(*ours)
            .values(next_run_time=bindparam("run_time"), job_state=bindparam("state"), **unleased)
        )
        self.finish = delete(table).where(*ours)
        self.release = self.announced(
            update(table)
            .where(c.id.in_(bindparam("job_ids", expanding=True)))
            .where(c.lease_owner == bindparam("owner"))
            .values(unleased)
        )
        self.insert = self.announced(insert(table))
        # a change made by the user ends any claim on the job: the claimer's stale copy must
        # not overwrite it, and the job is claimed afresh with its new settings
        self.replace = self.announced(
            update(table)
            .where(c.id == bindparam("job_id"))
            .values(next_run_time=bindparam("run_time"), job_state=bindparam("state"), **unleased)
        )
        self.remove = self.announced(delete(table).where(c.id == bindparam("job_id")), False)
        self.remove_all = self.announced(delete(table), False)
        self.lease_end = select(func.min(c.lease_expires), self.clock).where(
            c.lease_expires >= self.clock
        )
        self.rows_of = select(c.id, c.next_run_time, c.job_state, c.lease_owner).where(
            c.id.in_(bindparam("job_ids", expanding=True))
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

    def claim(self, connection: Connection, params: dict[str, Any]) -> Sequence[Any]:
        """Lease the due jobs that are free to ``params['owner']``; return their rows."""
        if self.claims_in_one_statement:
            return connection.execute(self._claim, params).all()

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
            # the row may have been leased since it was read, where no lock held it
            if connection.execute(self._claim_one, {**params, "job_id": row[0]}).rowcount:
                claimed.append(row)
        return claimed
