"""
The engine of :class:`~apscheduler.jobstores.sqlalchemy.SQLAlchemyJobStore`: how it is made,
and which of its errors are worth retrying.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    OperationalError,
    TimeoutError as PoolTimeoutError,
)
from sqlalchemy.pool import QueuePool

#: idle connections the engines this store creates keep: the default thread pool's size
POOL_SIZE = 10
#: dialects whose single statements run in autocommit mode: one round trip each instead of
#: three (BEGIN, the statement, COMMIT); SQLite is left out, its isolation switch costs more,
#: and so are MySQL and MariaDB, whose switch on and back off takes statements of its own:
#: six in all for one write, against the statement, COMMIT and the pool's ROLLBACK without it
AUTOCOMMIT_DIALECTS = frozenset({"postgresql", "mssql", "oracle"})

# words in driver messages of errors that retrying cannot fix
_PERMANENT_MARKERS = (
    "authentication",
    "password",
    "does not exist",
    "access denied",
    "unknown database",
    "unknown column",
    "permission denied",
    "no such table",
    "no such column",
    "unable to open database",
)
# SQLSTATE classes of errors that go away by themselves: connection exception, insufficient
# resources, transaction rollback (serialisation failure, deadlock), operator intervention
_TEMPORARY_SQLSTATE_CLASSES = frozenset({"08", "53", "40", "57"})


def _tune_sqlite_connection(dbapi_connection: Any, connection_record: Any) -> None:
    # Write-ahead logging makes a commit one append to the log instead of a rewrite of the
    # rollback journal, and lets readers work while the scheduler writes. NORMAL sync is
    # the documented safe pairing with WAL: a power cut can lose the last commits, not corrupt.
    import sqlite3

    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.OperationalError as exc:
        # a read-only connection (mode=ro, a write-protected file) cannot switch the journal;
        # it reads in either mode, and the store finds out at start that it cannot write
        if not _says_read_only(exc):
            raise
    finally:
        cursor.close()


def make_engine(
    url: str, options: dict[str, Any], create: Callable[..., Engine] = create_engine
) -> Engine:
    """
    Create the engine for ``url``, keeping up to :data:`POOL_SIZE` idle connections unless
    ``options`` say otherwise, and a SQLite file in write-ahead log mode.

    Each thread of the executor records the start of its runs in the store, so a pool smaller
    than the executor's thread pool would close and open connections all the time when many
    jobs are due at once. ``create`` is the store module's ``create_engine``, which tests patch.
    """
    from sqlalchemy import event

    if not {"pool_size", "poolclass", "pool"} & options.keys() and _pools_in_queue(url):
        # told at once: an engine made and thrown away to find out cost a third of a start
        options = {**options, "pool_size": POOL_SIZE}
    engine = create(url, **options)
    if "pool_size" not in options and isinstance(engine.pool, QueuePool):
        engine.dispose()
        engine = create(url, pool_size=POOL_SIZE, **options)

    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        event.listen(engine, "connect", _tune_sqlite_connection)
    return engine


def _pools_in_queue(url: str) -> bool:
    """Whether an engine for ``url`` would keep its connections in a :class:`QueuePool`."""
    try:
        parsed = make_url(url)
        # a class method of every SQLAlchemy 2 dialect, which the Dialect interface leaves out
        dialect: Any = parsed.get_dialect()
        pool_class = dialect.get_pool_class(parsed)
    except Exception:  # an unknown dialect: create_engine says what is wrong
        return False
    return isinstance(pool_class, type) and issubclass(pool_class, QueuePool)


def explain_setup_error(exc: DBAPIError, engine: Engine) -> str:
    """Say what the user has to fix when the database refuses the store at start."""
    message = str(exc.orig).strip()
    lowered = message.lower()
    if "password" in lowered or "authentication" in lowered or "role" in lowered:
        advice = "check the user name and password in the URL"
    elif "database" in lowered and ("does not exist" in lowered or "unknown" in lowered):
        advice = "create the database, or fix its name in the URL"
    else:
        advice = "check the URL, the database and the rights of its user"
    return f"{message} ({advice}; URL: {engine.url})"


# SQLSTATEs of a refused write: insufficient_privilege (PostgreSQL and the standard),
# read_only_sql_transaction (a hot standby, default_transaction_read_only)
_READ_ONLY_SQLSTATES = frozenset({"42501", "25006"})
# MySQL and MariaDB error codes of the same: command denied to user, access denied for user
# to database, server running with --read-only (or --super-read-only), read-only transaction
_READ_ONLY_MYSQL_CODES = frozenset({1142, 1044, 1290, 1792, 1836})


def _says_read_only(error: BaseException) -> bool:
    """Tell whether a DB-API error (unwrapped by SQLAlchemy) refuses a write for want of rights."""
    if getattr(error, "sqlite_errorname", "").startswith("SQLITE_READONLY"):
        return True
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if sqlstate in _READ_ONLY_SQLSTATES:
        return True
    args = getattr(error, "args", ())
    if args and isinstance(args[0], int) and args[0] in _READ_ONLY_MYSQL_CODES:
        return True
    message = str(error).lower()
    return any(
        marker in message
        for marker in ("readonly database", "read-only", "permission denied", "must be owner")
    )


def is_read_only_error(exc: BaseException) -> bool:
    """Tell whether ``exc`` is the database refusing a write: this connection may only read."""
    return isinstance(exc, DBAPIError) and exc.orig is not None and _says_read_only(exc.orig)


def is_temporary_error(exc: BaseException, engine: Engine) -> bool:
    """Tell whether ``exc`` may go away by itself (lost connection, restart, lock, timeout)."""
    if isinstance(exc, (DisconnectionError, PoolTimeoutError)):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False

    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if sqlstate:
        return sqlstate[:2] in _TEMPORARY_SQLSTATE_CLASSES

    message = str(exc.orig).lower()
    if engine.dialect.name == "sqlite":
        return "locked" in message or "busy" in message

    # a connection attempt that failed without a server verdict: refused, reset, timed out
    return not any(marker in message for marker in _PERMANENT_MARKERS)
