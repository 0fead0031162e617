"""
PostgreSQL ``LISTEN`` for :class:`~apscheduler.jobstores.sqlalchemy.SQLAlchemyJobStore`.

Every change a store makes to its table sends a notification on the table's channel, from the
statement that makes the change (see
:meth:`~apscheduler.jobstores.sqlalchemy.jobs_sql.JobTableSQL.announced`); the listener holds a
connection of its own, taken from the store's engine (so it has the same URL and connection
arguments) and detached from its pool, and hands each notification's payload to the store. Both psycopg drivers are supported:
psycopg 3 (``postgresql+psycopg://``) and psycopg2 (``postgresql://``, SQLAlchemy's default).
"""

from __future__ import annotations

import hashlib
import logging
import select
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Engine

from apscheduler.jobstores._listener import ChangeListener

#: drivers whose connections can wait for notifications
LISTENING_DRIVERS = ("psycopg", "psycopg2")


def notification_channel(table: Table) -> str:
    """The PostgreSQL notification channel of a table (at most 63 bytes, as PostgreSQL needs)."""
    channel = f"apscheduler:{table.fullname}"
    if len(channel.encode()) > 63:
        digest = hashlib.sha1(table.fullname.encode()).hexdigest()[:20]
        channel = f"apscheduler:{digest}"
    return channel


def postgres_listener(
    engine: Engine,
    channel: str,
    on_message: Callable[[str], None],
    on_reconnect: Callable[[], None],
    logger: logging.Logger,
) -> ChangeListener[Any] | None:
    """Return a (not yet started) listener on ``channel``, or ``None`` for other drivers."""
    driver = engine.dialect.driver
    if engine.dialect.name != "postgresql" or driver not in LISTENING_DRIVERS:
        return None

    listen = f"LISTEN {engine.dialect.identifier_preparer.quote_identifier(channel)}"

    def connect() -> Any:
        pooled = engine.raw_connection()
        # the connection stays busy listening for as long as the store runs: it is not the
        # pool's to hand out any more
        pooled.detach()
        connection = pooled.dbapi_connection
        # a connection fresh from the pool, detached but not closed, still has its driver's one
        assert connection is not None
        try:
            connection.autocommit = True
            cursor = connection.cursor()
            cursor.execute(listen)
            cursor.close()
        except BaseException:
            connection.close()
            raise
        return connection

    receive = _receive_psycopg if driver == "psycopg" else _receive_psycopg2
    return ChangeListener(
        f"APScheduler notifications ({channel})",
        connect,
        receive,
        lambda connection: connection.close(),
        on_message,
        on_reconnect,
        logger,
    )


def _receive_psycopg(connection: Any, timeout: float) -> Iterator[str]:
    for notification in connection.notifies(timeout=timeout):
        yield notification.payload


def _receive_psycopg2(connection: Any, timeout: float) -> Iterator[str]:
    readable, _, _ = select.select([connection], [], [], timeout)
    if readable:
        # raises when the server has closed the connection
        connection.poll()
    while connection.notifies:
        yield connection.notifies.pop(0).payload
