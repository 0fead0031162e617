"""
Counting the round trips a job store makes to its database.

A round trip is one request sent to the database server and its reply awaited; the time it
takes is spent whatever the request does, so fewer of them means less waiting on a busy
burst. What counts as one, per kind of store:

* SQL (SQLAlchemy): a statement (an ``executemany`` counts once), a ``BEGIN`` where the
  driver sends it as a message of its own (PostgreSQL outside autocommit mode), and a
  ``COMMIT`` or ``ROLLBACK`` of a transaction the driver has open. SQLite runs in the
  process: there it is a statement or a commit handed to the library (the ``BEGIN`` Python's
  driver puts before a write runs with that write).
* Redis: a command; a pipeline or ``MULTI``/``EXEC`` transaction sent at once, however many
  commands it holds; a command a pipeline sends on its own (``WATCH``, the reads after it,
  ``SCRIPT EXISTS`` before a pipelined script, the ``UNWATCH`` of a reset). A script call
  (``EVALSHA``) is one.
* MongoDB: a command as pymongo's command monitoring reports it (``find``, ``update``,
  ``getMore``, ``commitTransaction``...).

Not counted: opening connections (handshakes, SQLite's pragmas), and what a change listener
receives without asking (PostgreSQL notifications, Redis messages). The requests a listener
does make (a MongoDB change stream's ``getMore``) are counted, tagged as made outside any
store method.

The counters hook into the client libraries, not the store, so the same code counts for
either library the benchmark compares; each round trip is tagged with the store method
(outermost, per thread) that made it. Only the public 3.x API of the store is touched.
"""

from __future__ import annotations

import functools
import threading
import time
import types
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

#: the tag of round trips made outside any store method (a store's own threads)
OUTSIDE = "(outside store methods)"
#: store methods that mean the scheduler is looking for due jobs
CLAIM_METHODS = ("acquire_due_jobs", "get_due_jobs")


@dataclass(frozen=True)
class RoundTrip:
    at: float
    method: str
    kind: str


@dataclass(frozen=True)
class Claim:
    """One call that looked for due jobs: when it started, and how many jobs it returned."""

    at: float
    method: str
    jobs: int


class RoundTripCounter:
    """Records round trips while :attr:`counting` is true, tagged by store method."""

    def __init__(self) -> None:
        self.counting = False
        self.round_trips: list[RoundTrip] = []
        self.claims: list[Claim] = []
        #: (when, store method) of every outermost store method call
        self.calls: list[tuple[float, str]] = []
        self._current = threading.local()

    def record(self, kind: str) -> None:
        if self.counting:
            method = getattr(self._current, "method", None) or OUTSIDE
            # list.append is atomic: the store's threads may record at the same time
            self.round_trips.append(RoundTrip(time.time(), method, kind))

    def watch_store(self, store: Any) -> None:
        """Tag what the store's public methods send, and note what each claim returned."""
        for name in dir(type(store)):
            if not name.startswith("_") and isinstance(
                getattr(type(store), name, None), types.FunctionType
            ):
                setattr(store, name, self._tagged(name, getattr(store, name)))

    def _tagged(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def tagged(*args: Any, **kwargs: Any) -> Any:
            outer = getattr(self._current, "method", None)
            if outer is not None:  # a store method calling another: the outer one counts
                return method(*args, **kwargs)

            self._current.method = name
            started = time.time()
            try:
                result = method(*args, **kwargs)
            finally:
                self._current.method = None
            if self.counting:
                self.calls.append((started, name))
                if name in CLAIM_METHODS:
                    # acquire_due_jobs returns the jobs, or an object holding them in .jobs
                    jobs = getattr(result, "jobs", result)
                    self.claims.append(Claim(started, name, len(jobs)))
            return result

        return tagged


# --- SQLAlchemy ------------------------------------------------------------------------------


def _in_transaction(dbapi_connection: Any) -> bool:
    """Tell whether the driver has a transaction open (so COMMIT or ROLLBACK goes out)."""
    if hasattr(dbapi_connection, "in_transaction"):  # sqlite3
        return bool(dbapi_connection.in_transaction)
    status = getattr(getattr(dbapi_connection, "info", None), "transaction_status", None)
    if status is not None:  # psycopg 3: 0 is IDLE
        return int(status) != 0
    get_status = getattr(dbapi_connection, "get_transaction_status", None)
    if get_status is not None:  # psycopg2: 0 is TRANSACTION_STATUS_IDLE
        return bool(get_status() != 0)
    return False


def _dbapi_connection(connection: Any) -> Any:
    proxied = connection.connection
    return getattr(proxied, "dbapi_connection", None) or getattr(proxied, "connection", None)


def count_sqlalchemy(counter: RoundTripCounter) -> None:
    """Count the statements and transaction ends of every engine in this process."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    def before_statement(
        connection: Any, cursor: Any, statement: str, *args: Any, **kwargs: Any
    ) -> None:
        dbapi_connection = cursor.connection
        if (
            connection.dialect.name != "sqlite"
            and getattr(dbapi_connection, "autocommit", False) is not True
            and not _in_transaction(dbapi_connection)
        ):
            counter.record("BEGIN")  # the driver opens the transaction before this statement
        counter.record(statement.split(None, 1)[0].upper() if statement.strip() else "?")

    def ending(kind: str) -> Callable[..., None]:
        def on_end(connection: Any, *args: Any) -> None:
            if _in_transaction(_dbapi_connection(connection)):
                counter.record(kind)

        return on_end

    def on_reset(dbapi_connection: Any, *args: Any) -> None:
        # the pool rolls back what a returned connection left open
        if _in_transaction(dbapi_connection):
            counter.record("ROLLBACK")

    event.listen(Engine, "before_cursor_execute", before_statement)
    event.listen(Engine, "commit", ending("COMMIT"))
    event.listen(Engine, "rollback", ending("ROLLBACK"))
    event.listen(Pool, "reset", on_reset)


# --- Redis -----------------------------------------------------------------------------------


def count_redis(counter: RoundTripCounter) -> None:
    """Count the commands and pipelines every Redis client in this process sends."""
    from redis.client import Pipeline, Redis

    execute_command = Redis.execute_command
    pipeline_execute = Pipeline.execute
    immediate = Pipeline.immediate_execute_command
    reset = Pipeline.reset

    def counted_command(self: Any, *args: Any, **options: Any) -> Any:
        counter.record(str(args[0]).upper() if args else "?")
        return execute_command(self, *args, **options)

    def counted_pipeline(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.command_stack or self.watching:  # an empty pipeline sends nothing
            counter.record("MULTI/EXEC" if self.transaction else "PIPELINE")
        return pipeline_execute(self, *args, **kwargs)

    def counted_immediate(self: Any, *args: Any, **options: Any) -> Any:
        counter.record(str(args[0]).upper() if args else "?")
        return immediate(self, *args, **options)

    def counted_reset(self: Any) -> Any:
        if self.watching and self.connection:
            counter.record("UNWATCH")
        return reset(self)

    Redis.execute_command = counted_command  # type: ignore[method-assign]
    Pipeline.execute = counted_pipeline  # type: ignore[method-assign]
    Pipeline.immediate_execute_command = counted_immediate  # type: ignore[method-assign]
    Pipeline.reset = counted_reset  # type: ignore[method-assign]


# --- MongoDB ---------------------------------------------------------------------------------


def count_pymongo(counter: RoundTripCounter) -> None:
    """Count the commands of every MongoClient created from now on."""
    from pymongo import monitoring

    class Commands(monitoring.CommandListener):
        def started(self, event: Any) -> None:
            counter.record(event.command_name)

        def succeeded(self, event: Any) -> None:
            pass

        def failed(self, event: Any) -> None:
            pass

    monitoring.register(Commands())


def by_method(round_trips: Iterable[RoundTrip]) -> dict[str, int]:
    return dict(Counter(trip.method for trip in round_trips).most_common())


def by_kind(round_trips: Iterable[RoundTrip]) -> dict[str, int]:
    return dict(Counter(trip.kind for trip in round_trips).most_common())
