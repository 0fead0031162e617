"""
The tables of :class:`~apscheduler.jobstores.sqlalchemy.SQLAlchemyJobStore`: their columns, and
making them (or upgrading an APScheduler 3 table in place) at start.

Next to the job table lives ``<tablename>_runs``: the runs that schedulers sharing the table have
started and not yet finished, so that ``max_instances`` holds across processes and the runs of a
process that died are reported. Beside them lives ``<tablename>_history``: a record of every run,
kept for a while (see :mod:`apscheduler.runs`), and ``<tablename>_facts``: what happened besides
runs (:class:`~apscheduler.runs.SchedulerFact`). Nothing of the job table's layout depends on
them, so a job table of APScheduler 3, or of an earlier release of this store, only gains the
new tables at start, and the columns it lacks (the lease and run request columns, empty).

A connection that may only read (a SQLite file opened with ``mode=ro``, a database role with
nothing but ``SELECT``) cannot make those changes; when it can read the job table all the same,
the store works read-only rather than failing.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    Unicode,
    inspect,
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from apscheduler.jobstores.sqlalchemy.engine import is_read_only_error
from apscheduler.jobstores.sqlalchemy.schema_look import tables_are_complete

#: the columns APScheduler 3 made; a table without them is not a job table
BASE_COLUMNS = ("id", "next_run_time", "job_state")
#: the columns that hold a scheduler's lease on a job, added to APScheduler 3 tables at start
LEASE_COLUMNS = ("lease_owner", "lease_expires")
#: the columns that hold the run requests pending for a job, added to older tables at start
REQUEST_COLUMNS = ("run_requests", "requested_at")

_logger = logging.getLogger("apscheduler.jobstores")


class TableProblem(Exception):
    """The table exists but is not a job table; the message says what to do."""


class ReadOnlyTable(Exception):
    """The job table can be read, but this connection may not write to it: the message says why."""


def make_table(tablename: str, metadata: MetaData, schema: str | None) -> Table:
    # 191 = max key length in MySQL for InnoDB/utf8mb4 tables,
    # 25 = precision that translates to an 8-byte float
    table = Table(
        tablename,
        metadata,
        Column("id", Unicode(191), primary_key=True),
        Column("next_run_time", Float(25), index=True),
        Column("job_state", LargeBinary, nullable=False),
        # which scheduler has claimed the job, and until when (on the database's clock)
        Column("lease_owner", Unicode(191), nullable=True),
        Column("lease_expires", Float(25), nullable=True),
        # the runs asked for (run_job_now) and not made yet: one "<UTC timestamp> <run id>"
        # line each, and the earliest of their times (NULL, both, while none is pending)
        Column("run_requests", Text, nullable=True),
        Column("requested_at", Float(25), nullable=True),
        schema=schema,
    )
    # Finds the next lease to expire without a scan. Only leased jobs are indexed where the
    # database can (most jobs hold no lease), so adding an idle job costs no extra index entry.
    held = table.c.lease_expires.is_not(None)
    # named by the metadata's naming convention ("ix_<tablename>_lease_expires" by default),
    # which SQLAlchemy shortens for databases whose names have to be shorter
    Index(
        None,
        table.c.lease_expires,
        postgresql_where=held,
        sqlite_where=held,
    )
    return table


def make_runs_table(jobs: Table) -> Table:
    """
    The table of runs in progress that goes with the job table ``jobs``.

    Each row is one batch of run times of a job that a scheduler submitted, leased to that
    scheduler (``owner``) until ``expires`` (on the database's clock); ``run_times`` holds their
    UTC timestamps, separated by spaces. There is no foreign key to the job table: a removed
    job's runs go on and still count against ``max_instances`` of a job added again with its id.
    """
    return Table(
        f"{jobs.name}_runs",
        jobs.metadata,
        Column("run_id", Unicode(191), primary_key=True),
        # counting one job's runs and renewing one scheduler's runs must not scan the table
        Column("job_id", Unicode(191), nullable=False, index=True),
        Column("owner", Unicode(191), nullable=False, index=True),
        Column("run_times", Text, nullable=False),
        Column("expires", Float(25), nullable=False),
        schema=jobs.schema,
    )


def history_table_name(jobs_name: str, max_length: int) -> str:
    """
    ``<jobs_name>_history``, or where that is longer than the database allows, the start of
    ``jobs_name`` and a hash of all of it, so that two long job table names keep two histories.

    It cannot be the name of the table of runs in progress of any job table (``…_runs``).
    """
    return companion_table_name(jobs_name, "history", max_length)


def facts_table_name(jobs_name: str, max_length: int) -> str:
    """``<jobs_name>_facts``, shortened as :func:`history_table_name` shortens its name."""
    return companion_table_name(jobs_name, "facts", max_length)


def companion_table_name(jobs_name: str, suffix: str, max_length: int) -> str:
    """
    ``<jobs_name>_<suffix>``, or where that is too long, the start of ``jobs_name``, a hash of
    all of it and the suffix.
    """
    name = f"{jobs_name}_{suffix}"
    # not an int: the engine is a stand-in (a test suite's mock), which has no length limit
    if not isinstance(max_length, int) or len(name) <= max_length:
        return name
    digest = hashlib.md5(jobs_name.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{jobs_name[: max_length - len(digest) - len(suffix) - 2]}_{digest}_{suffix}"


def make_history_table(jobs: Table, max_length: int) -> Table:
    """
    The table of run records (:class:`~apscheduler.runs.JobRun`) that goes with ``jobs``.

    Times are UTC timestamps, as ``next_run_time`` is in the job table.

    :param max_length: the longest table name the database takes
    """
    history = Table(
        history_table_name(jobs.name, max_length),
        jobs.metadata,
        Column("run_id", Unicode(191), primary_key=True),
        Column("job_id", Unicode(191), nullable=False),
        Column("jobstore", Unicode(191), nullable=True),
        Column("scheduled_run_time", Float(25), nullable=False),
        Column("state", Unicode(32), nullable=False),
        Column("submitted_at", Float(25), nullable=True),
        Column("started_at", Float(25), nullable=True),
        Column("finished_at", Float(25), nullable=True),
        Column("reason", Text, nullable=True),
        Column("exception_type", Text, nullable=True),
        Column("exception", Text, nullable=True),
        Column("traceback", Text, nullable=True),
        Column("host", Unicode(255), nullable=True),
        Column("pid", Integer, nullable=True),
        Column("attempt", Integer, nullable=True),
        schema=jobs.schema,
    )
    c = history.c
    # one job's newest runs, and everyone's, are read from an index in the order asked for,
    # with no sort (names from the metadata's naming convention, shortened where needed)
    Index(None, c.job_id, c.scheduled_run_time, c.run_id)
    Index(None, c.scheduled_run_time, c.run_id)
    return history


def make_facts_table(jobs: Table, max_length: int) -> Table:
    """
    The table of facts (:class:`~apscheduler.runs.SchedulerFact` records) that goes with ``jobs``.

    ``at`` is a UTC timestamp, as the times of the history are.

    :param max_length: the longest table name the database takes
    """
    facts = Table(
        facts_table_name(jobs.name, max_length),
        jobs.metadata,
        Column("fact_id", Unicode(191), primary_key=True),
        Column("kind", Unicode(64), nullable=False),
        Column("at", Float(25), nullable=False),
        Column("owner", Unicode(255), nullable=False),
        Column("jobstore", Unicode(191), nullable=True),
        Column("job_id", Unicode(191), nullable=True),
        Column("detail", Text, nullable=True),
        schema=jobs.schema,
    )
    # the newest facts are read, and the oldest pruned, from this index with no sort
    Index(None, facts.c.at, facts.c.fact_id)
    return facts


def set_up_tables(engine: Engine, table: Table, runs: Table, history: Table, facts: Table) -> None:
    """
    Make the job table, its table of runs, its history and its facts, or complete what exists.

    Tables that a start made before are found whole with one look at the catalog (SQLite and
    PostgreSQL, see :mod:`~apscheduler.jobstores.sqlalchemy.schema_look`), then only probed for
    writes. Otherwise an existing job table is checked and gets the lease and request columns it
    lacks; the other tables are made if missing, and an existing history gets the columns it
    lacks. Several
    processes may do this at once: whatever one of them fails at because another got there
    first is checked again, not reported.

    :raises TableProblem: if the job table exists but was not made by APScheduler
    :raises ReadOnlyTable: if the database refuses the changes, but lets this connection read
        the job table's APScheduler 3 columns
    """
    tables = [table, runs, history, facts]
    try:
        with engine.connect() as connection:
            # the usual case, tables made by an earlier start: one look, and the write probe
            if tables_are_complete(connection, tables):
                _probe_writes(connection, tables)
                return
        _create(engine, table)
        _upgrade_job_table(engine, table)
        if not inspect(engine).has_table(runs.name, schema=runs.schema):
            _create(engine, runs)
            _logger.info("Made the table %r for the runs in progress", runs.fullname)
        # a process stopped between making the table and its indexes (SQLite makes them one by
        # one, outside any transaction) leaves them to the next one
        _create_missing_indexes(engine, runs, [column.name for column in runs.columns])
        _set_up_history(engine, history)
        if not inspect(engine).has_table(facts.name, schema=facts.schema):
            _create(engine, facts)
            _logger.info("Made the table %r for the facts of the history", facts.fullname)
        _create_missing_indexes(engine, facts, [column.name for column in facts.columns])
        # the steps above write nothing when the tables are complete: writes that change
        # nothing tell whether this connection may write to them at all
        with engine.begin() as connection:
            _probe_writes(connection, tables)
    except DBAPIError as exc:
        if not is_read_only_error(exc) or not _can_read_jobs(engine, table):
            raise
        raise ReadOnlyTable(str(exc.orig).strip()) from exc


def _set_up_history(engine: Engine, history: Table) -> None:
    if not inspect(engine).has_table(history.name, schema=history.schema):
        _create(engine, history)
        _logger.info("Made the table %r for the history of runs", history.fullname)
    else:
        # a history made by an earlier release gains the columns added since, empty
        missing = sorted(_missing_columns(engine, history))
        if missing:
            _add_columns(engine, history, missing)
            _logger.info(
                "Added the column(s) %s to the history table %r",
                ", ".join(missing),
                history.fullname,
            )
    _create_missing_indexes(engine, history, [column.name for column in history.columns])


def _probe_writes(connection: Connection, tables: list[Table]) -> None:
    """
    Update no row of each table: the database refuses even that when it refuses writes.

    The statements are written out with the dialect's quoting rather than compiled: compiling
    them for a new engine cost more than the rest of a SQLite store's start. PostgreSQL takes
    all four in one statement (data-modifying ``WITH`` parts run even when nothing reads them).
    SQLite grants writes per database file, which holds all the tables (they share a schema):
    probing one of them answers for all.
    """
    dialect_name = connection.dialect.name
    if dialect_name == "sqlite":
        tables = tables[:1]
    quoting = connection.dialect.identifier_preparer
    probes = []
    for table in tables:
        key = quoting.quote(table.primary_key.columns[0].name)
        probes.append(f"UPDATE {quoting.format_table(table)} SET {key} = {key} WHERE 1 = 0")
    if dialect_name == "postgresql":
        parts = ", ".join(f"p{n} AS ({probe} RETURNING 1)" for n, probe in enumerate(probes))
        probes = [f"WITH {parts} SELECT 1"]
    for probe in probes:
        connection.exec_driver_sql(probe)


def _can_read_jobs(engine: Engine, table: Table) -> bool:
    """Tell whether the job table is there and its APScheduler 3 columns can be read."""
    columns = [table.c[name] for name in BASE_COLUMNS]
    try:
        with engine.connect() as connection:
            connection.execute(select(*columns).limit(1)).all()
    except DBAPIError:
        return False
    return True


def _create(engine: Engine, table: Table) -> None:
    try:
        table.create(engine, checkfirst=True)
    except DBAPIError:
        if not inspect(engine).has_table(table.name, schema=table.schema):
            raise


def _upgrade_job_table(engine: Engine, table: Table) -> None:
    missing = _missing_columns(engine, table)
    base_missing = sorted(set(BASE_COLUMNS) & missing)
    if base_missing:
        raise TableProblem(
            f"the table {table.fullname!r} exists but has no {', '.join(base_missing)} "
            f"column; it was not made by APScheduler. Pass another tablename= or move that "
            f"table out of the way"
        )

    added = [name for name in (*LEASE_COLUMNS, *REQUEST_COLUMNS) if name in missing]
    if added:
        _add_columns(engine, table, added)
        _logger.info(
            "Added the column(s) %s to the job table %r (a table of an earlier release)",
            ", ".join(added),
            table.fullname,
        )
        _create_missing_indexes(engine, table, added)


def _create_missing_indexes(engine: Engine, table: Table, columns: list[str]) -> None:
    """Make the indexes of ``table`` on any of ``columns`` that the database lacks."""
    wanted = [
        index for index in table.indexes if any(column.name in columns for column in index.columns)
    ]
    if not wanted:
        return
    for index in wanted:
        if _has_index(engine, table, index):
            continue
        try:
            index.create(engine)
        except DBAPIError:
            if not _has_index(engine, table, index):
                raise


def _missing_columns(engine: Engine, table: Table) -> set[str]:
    found = inspect(engine).get_columns(table.name, schema=table.schema)
    return {column.name for column in table.columns} - {c["name"].lower() for c in found}


def _has_index(engine: Engine, table: Table, index: Index) -> bool:
    # the name the database knows, which SQLAlchemy may have shortened from index.name
    name = engine.dialect.identifier_preparer.format_index(index).strip('"`[]').lower()
    indexes = inspect(engine).get_indexes(table.name, schema=table.schema)
    return any((found["name"] or "").lower() == name for found in indexes)


def _add_columns(engine: Engine, table: Table, names: list[str]) -> None:
    """ALTER TABLE … ADD each column: existing rows keep their data and get NULL leases."""
    dialect = engine.dialect
    preparer = dialect.identifier_preparer
    # SQL Server and Oracle say ADD, the others (and the SQL standard) ADD COLUMN
    keyword = "ADD" if dialect.name in ("mssql", "oracle") else "ADD COLUMN"
    for name in names:
        column = table.columns[name]
        statement = (
            f"ALTER TABLE {preparer.format_table(table)} {keyword} "
            f"{preparer.format_column(column)} {column.type.compile(dialect=dialect)}"
        )
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql(statement)
        except DBAPIError:
            # another process starting at the same time may have added it first
            if name in _missing_columns(engine, table):
                raise
