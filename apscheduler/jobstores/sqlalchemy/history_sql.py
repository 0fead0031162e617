"""
The SQL with which :class:`~apscheduler.jobstores.sqlalchemy.SQLAlchemyJobStore` keeps the
history of runs (:class:`~apscheduler.runs.JobRun` records) in ``<tablename>_history``.

Recording is an upsert by ``run_id`` (a run is recorded when it is submitted and again when it
ends), in the dialect's own words where it has them and as a delete and an insert in one
transaction elsewhere; either way a retry of a batch whose reply was lost writes the same rows
again. Pruning ranks each job's runs with ``row_number()`` where the database has window
functions, and in this process where it has not; it never drops a run still running or pending.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import (
    Integer,
    Table,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.engine import Connection, Dialect

from apscheduler.jobstores.sqlalchemy.driver_sql import driver_statement
from apscheduler.runs import PENDING, RUNNING, JobRun, RetentionPolicy
from apscheduler.util import datetime_to_utc_timestamp

#: run ids a pruning without window functions deletes per statement
DELETE_CHUNK = 500
#: the states of the runs that pruning keeps whatever their age or number: not over yet
UNFINISHED_STATES = (RUNNING, PENDING)


def has_window_functions(dialect: Dialect) -> bool:
    """Whether ``row_number() OVER (…)`` works on this database (known once connected)."""
    version = dialect.server_version_info or ()
    if dialect.name == "sqlite":
        return sqlite3.sqlite_version_info >= (3, 25, 0)
    if dialect.name in ("mysql", "mariadb"):
        if getattr(dialect, "is_mariadb", False):
            return version >= (10, 2)
        return version >= (8, 0)
    return dialect.name in ("postgresql", "mssql", "oracle")


def row_of(run: JobRun) -> dict[str, Any]:
    """A run as the history table keeps it (its columns are the record's fields)."""
    return run.to_fields()


def run_of(row: Any) -> JobRun:
    """A row of the history table (all its columns, by name) as the run it records."""
    return JobRun.from_fields(row._mapping)


def latest_by_run_id(runs: Iterable[JobRun]) -> list[JobRun]:
    """
    One record per run id, the last given: an upsert of one statement may touch a row once.
    """
    return list({run.run_id: run for run in runs}.values())


class HistoryTableSQL:
    """The statements on the history table ``history``."""

    def __init__(self, history: Table, dialect: Dialect) -> None:
        self.history = history
        self.dialect = dialect
        #: whether the dialect has its own upsert (else: delete then insert, one transaction)
        self.upserts_in_one_statement = has_upsert(dialect)
        #: whether pruning ranks runs in the database (window functions), known once connected
        self.prunes_with_window: bool | None = None

    # Each statement is built on first use: most stores never prune, many never read their
    # history, and building them all made a store's construction several times slower.

    @cached_property
    def _upsert(self) -> Any:
        return upsert_statement(self.history, self.dialect)

    @cached_property
    def _insert(self) -> Any:
        return insert(self.history)

    @cached_property
    def _delete_ids(self) -> Any:
        return delete(self.history).where(
            self.history.c.run_id.in_(bindparam("run_ids", expanding=True))
        )

    @cached_property
    def _newest_first(self) -> Any:
        h = self.history.c
        return select(self.history).order_by(h.scheduled_run_time.desc(), h.run_id.desc())

    @cached_property
    def _ranked(self) -> Any:
        h = self.history.c
        return select(
            h.run_id,
            h.state,
            h.finished_at,
            func.row_number()
            .over(
                partition_by=h.job_id,
                order_by=(h.scheduled_run_time.desc(), h.run_id.desc()),
            )
            .label("position"),
        ).subquery("ranked")

    def _delete_ranked(self, too_old: bool) -> Any:
        """
        Every condition is on the ranked rows, none on the rows being deleted: SQLite and
        MySQL may evaluate a condition on the table itself while deleting from it, and would
        rank what is left. The derived table also keeps MySQL from refusing a subquery on the
        table a DELETE deletes from.
        """
        r = self._ranked.c
        finished = r.state.not_in(UNFINISHED_STATES)
        doomed = r.position > bindparam("max_runs", type_=Integer)
        if too_old:
            doomed = or_(doomed, r.finished_at < bindparam("cutoff"))
        return delete(self.history).where(
            self.history.c.run_id.in_(select(r.run_id).where(finished, doomed))
        )

    @cached_property
    def _delete_beyond_count(self) -> Any:
        return self._delete_ranked(too_old=False)

    @cached_property
    def _delete_beyond_count_or_age(self) -> Any:
        return self._delete_ranked(too_old=True)

    @cached_property
    def _ranking_rows(self) -> Any:
        h = self.history.c
        return select(h.job_id, h.run_id, h.state, h.finished_at).order_by(
            h.job_id, h.scheduled_run_time.desc(), h.run_id.desc()
        )

    # --- writing ---------------------------------------------------------------------------

    def record(self, connection: Connection, runs: Sequence[JobRun]) -> None:
        """Store ``runs`` (distinct run ids), replacing the rows of the same run ids."""
        rows = [row_of(run) for run in runs]
        if self.upserts_in_one_statement:
            upsert_rows(connection, self.history, lambda: self._upsert, rows)
            return
        connection.execute(self._delete_ids, {"run_ids": [row["run_id"] for row in rows]})
        connection.execute(self._insert, rows)

    def prune(self, connection: Connection, policy: RetentionPolicy, now: datetime) -> None:
        """Delete the finished runs that ``policy`` no longer keeps, in one transaction."""
        cutoff = None
        if policy.max_age is not None:
            cutoff = datetime_to_utc_timestamp(now - policy.max_age)
        if self.prunes_with_window is None:
            self.prunes_with_window = has_window_functions(connection.dialect)

        if not self.prunes_with_window:
            self._prune_here(connection, policy.max_runs, cutoff)
        elif cutoff is None:
            connection.execute(self._delete_beyond_count, {"max_runs": policy.max_runs})
        else:
            params = {"cutoff": cutoff, "max_runs": policy.max_runs}
            connection.execute(self._delete_beyond_count_or_age, params)

    def _prune_here(self, connection: Connection, max_runs: int, cutoff: float | None) -> None:
        """Rank each job's runs in this process: for databases without window functions."""
        doomed: list[str] = []
        job_id, position = None, 0
        for row_job_id, run_id, state, finished_at in connection.execute(self._ranking_rows):
            if row_job_id != job_id:
                job_id, position = row_job_id, 0
            too_old = cutoff is not None and finished_at is not None and finished_at < cutoff
            if state not in UNFINISHED_STATES and (position >= max_runs or too_old):
                doomed.append(run_id)
            position += 1
        for start in range(0, len(doomed), DELETE_CHUNK):
            chunk = doomed[start : start + DELETE_CHUNK]
            connection.execute(self._delete_ids, {"run_ids": chunk})

    # --- reading ---------------------------------------------------------------------------

    def runs(
        self,
        connection: Connection,
        job_id: str | None,
        states: Collection[str] | None,
        since: datetime | None,
        limit: int,
    ) -> list[JobRun]:
        """The runs asked for, newest scheduled run time first (ties: the later run id)."""
        h = self.history.c
        statement = self._newest_first
        params: dict[str, Any] = {"limit": limit}
        if job_id is not None:
            statement = statement.where(h.job_id == bindparam("job_id"))
            params["job_id"] = job_id
        if states is not None:
            statement = statement.where(h.state.in_(bindparam("states", expanding=True)))
            params["states"] = list(states)
        if since is not None:
            statement = statement.where(h.scheduled_run_time >= bindparam("since"))
            params["since"] = datetime_to_utc_timestamp(since)
        statement = statement.limit(bindparam("limit", type_=Integer))
        return [run_of(row) for row in connection.execute(statement, params)]


def has_upsert(dialect: Dialect) -> bool:
    """Whether :func:`upsert_statement` has an upsert for this dialect."""
    if dialect.name == "sqlite":
        return sqlite3.sqlite_version_info >= (3, 24, 0)
    return dialect.name in ("postgresql", "mysql", "mariadb")


def upsert_statement(table: Table, dialect: Dialect) -> Any:
    """
    ``INSERT … ON CONFLICT DO UPDATE`` on the primary key of ``table`` (of one column) in the
    dialect's words, or ``None`` if it has none.
    """
    [key] = table.primary_key.columns
    replaced = [column.name for column in table.columns if column.name != key.name]
    if dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg_statement = pg_insert(table)
        return pg_statement.on_conflict_do_update(
            index_elements=[key],
            set_={name: pg_statement.excluded[name] for name in replaced},
        )
    if dialect.name == "sqlite" and sqlite3.sqlite_version_info >= (3, 24, 0):
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        sqlite_statement = sqlite_insert(table)
        return sqlite_statement.on_conflict_do_update(
            index_elements=[key],
            set_={name: sqlite_statement.excluded[name] for name in replaced},
        )
    if dialect.name in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        mysql_statement = mysql_insert(table)
        return mysql_statement.on_duplicate_key_update(
            {name: mysql_statement.inserted[name] for name in replaced}
        )
    return None


def upsert_rows(
    connection: Connection,
    table: Table,
    build_statement: Callable[[], Any],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """
    Run the upsert of :func:`upsert_statement` on ``table`` for ``rows`` (values for every
    column, by name), as driver SQL compiled once per process where it can be. Building the
    statement costs as much as compiling it, so ``build_statement`` is called only when it is
    needed (it may keep what it built).
    """
    columns = tuple(table.columns)
    key = ("upsert", table.schema, table.name, tuple((c.key, type(c.type)) for c in columns))
    as_text = driver_statement(connection.dialect, key, build_statement, columns)
    if as_text is None:
        connection.execute(build_statement(), list(rows))
    else:
        as_text.execute_many(connection, rows)
