"""
The claim and the outlook on SQLite, written out in SQLite's own SQL.

They are the two statements of every pass of a scheduler on SQLite. Built with SQLAlchemy's
expression language, each new store built them (1.2 ms) and compiled them (2 ms) again, since
SQLAlchemy keeps compiled statements per engine: that was half of a SQLite store's start, taken
by the scheduler's first pass while ``start()`` waited for the interpreter. SQLAlchemy also
worked out both statements' cache keys on every pass (0.3 ms). Here the text is put together
once per store, with the dialect's quoting; only the lists of job ids to leave out vary, and a
placeholder per id is added for them.

They are the statements that :class:`~apscheduler.jobstores.sqlalchemy.jobs_sql.JobTableSQL`
describes: SQLite runs one writing statement at a time, so one ``UPDATE … RETURNING`` claims the
due jobs that are free, and a ``SELECT`` in the same transaction reads the outlook without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Dialect


def sqlite_clock() -> str:
    """SQLite's time as a UTC timestamp, in seconds with their fraction."""
    # here, not at the top: a Python built without SQLite may still use other databases
    import sqlite3

    if sqlite3.sqlite_version_info >= (3, 42, 0):
        return "unixepoch('subsec')"
    # days since the Julian epoch, whose day 2440587.5 began at the Unix epoch
    return "((julianday('now') - 2440587.5) * 86400.0)"


class SQLiteClaimSQL:
    """
    The claim and the outlook of one job table on SQLite, with ``?`` placeholders.

    :param runs_table: the table of the runs in progress, which the outlook says whether it
        holds any (``None``: the outlook says there may be some)
    """

    def __init__(self, table: Table, runs_table: Table | None, dialect: Dialect) -> None:
        quoting = dialect.identifier_preparer
        jobs = quoting.format_table(table)
        job_id, run_time, state, requests, owner, expires = (
            quoting.quote(name)
            for name in (
                "id",
                "next_run_time",
                "job_state",
                "run_requests",
                "lease_owner",
                "lease_expires",
            )
        )
        clock = sqlite_clock()
        free = f"({owner} IS NULL OR {expires} < {clock})"
        runs = "1"
        if runs_table is not None:
            runs = f"EXISTS (SELECT 1 FROM {quoting.format_table(runs_table)})"
        self._id = job_id
        # parameters: owner, lease, now, the ids to skip, batch
        self._claim = (
            f"UPDATE {jobs} SET {owner} = ?, {expires} = {clock} + ? "
            f"WHERE {job_id} IN (SELECT {job_id} FROM {jobs} "
            f"WHERE {run_time} <= ? AND {free}",
            f" ORDER BY {run_time} LIMIT ?) AND {free} "
            f"RETURNING {job_id}, {run_time}, {state}, {requests}",
        )
        # parameters: the ids to leave out, the ids to leave out again, looked_at
        self._outlook = (
            f"SELECT waiting.{job_id}, waiting.{run_time}, lease.lease_expires, "
            f"lease.store_now, lease.runs_in_progress "
            f"FROM (SELECT min({expires}) AS lease_expires, {clock} AS store_now, "
            f"{runs} AS runs_in_progress FROM {jobs} WHERE {expires} >= {clock}",
            f") AS lease LEFT OUTER JOIN (SELECT {job_id}, {run_time} FROM {jobs} "
            f"WHERE {run_time} IS NOT NULL AND {free}",
            f" ORDER BY {run_time} LIMIT ?) AS waiting ON 1 = 1",
        )

    def claim(self, connection: Connection, params: dict[str, Any]) -> Sequence[Any]:
        """
        Lease the due jobs that are free to ``params['owner']`` (those in ``params['skip']``
        left out); return their rows ``(id, next_run_time, job_state, run_requests)``.
        """
        skip = params["skip"]
        head, tail = self._claim
        sql = head + self._not_in(len(skip)) + tail
        values = (params["owner"], params["lease"], params["now"], *skip, params["batch"])
        return connection.exec_driver_sql(sql, values).all()

    def look_out(
        self, connection: Connection, looked_at: int, claimed: Sequence[str] = ()
    ) -> Sequence[Any]:
        """
        The rows of the outlook without the jobs of ``claimed``: ``(id, next run time, lease
        end, database time, runs in progress)``, one per waiting job (the ``looked_at`` first
        to run), or one whose job is ``NULL`` if none waits.
        """
        not_in = self._not_in(len(claimed))
        lease, waiting, tail = self._outlook
        sql = lease + not_in + waiting + not_in + tail
        return connection.exec_driver_sql(sql, (*claimed, *claimed, looked_at)).all()

    def _not_in(self, count: int) -> str:
        """The condition that leaves out ``count`` job ids (none: no condition)."""
        if not count:
            return ""
        return f" AND {self._id} NOT IN ({', '.join('?' * count)})"
