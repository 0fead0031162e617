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
import socket
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Engine

from apscheduler.jobstores._listener import ChangeListener

#: drivers whose connections can wait for notifications
LISTENING_DRIVERS = ("psycopg", "psycopg2")
#: seconds the listener sleeps on its socket before it looks whether it should stop; the
#: :class:`Waker` stops it sooner, so this only bounds a wait that nothing else would end
RECEIVE_TIMEOUT = 60.0


def notification_channel(table: Table) -> str:
    """The PostgreSQL notification channel of a table (at most 63 bytes, as PostgreSQL needs)."""
    channel = f"apscheduler:{table.fullname}"
    if len(channel.encode()) > 63:
        digest = hashlib.sha1(table.fullname.encode()).hexdigest()[:20]
        channel = f"apscheduler:{digest}"
    return channel


class Waker:
    """
    A socket pair that ends a listener's wait in ``select()`` at once, from any thread.

    Stopping a listener this way needs no round trip to the server (a ``NOTIFY`` of its own
    would), so the listener can sleep on its connection's socket until a notification comes.
    """

    def __init__(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)

    def fileno(self) -> int:
        return self._reader.fileno()

    def wake(self) -> None:
        try:
            self._writer.send(b"\0")
        except OSError:  # full (a wake-up is pending anyway) or closed
            pass

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


def can_listen(engine: Engine) -> bool:
    """Whether the engine's driver can wait for PostgreSQL notifications."""
    return engine.dialect.name == "postgresql" and engine.dialect.driver in LISTENING_DRIVERS


def postgres_listener(
    engine: Engine,
    channel: str,
    on_message: Callable[[str], None],
    on_reconnect: Callable[[], None],
    logger: logging.Logger,
    waker: Waker,
) -> ChangeListener[Any] | None:
    """
    Return a (not yet started) listener on ``channel``, or ``None`` for other drivers.

    It sleeps in ``select()`` on its connection's socket and on ``waker``, which stops it.
    """
    if not can_listen(engine):
        return None
    driver = engine.dialect.driver

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

    drain = _drain_psycopg if driver == "psycopg" else _drain_psycopg2

    def receive(connection: Any, timeout: float) -> Iterator[str]:
        readable, _, _ = select.select([connection, waker], [], [], timeout)
        if connection in readable:
            yield from drain(connection)

    return ChangeListener(
        f"APScheduler notifications ({channel})",
        connect,
        receive,
        lambda connection: connection.close(),
        on_message,
        on_reconnect,
        logger,
        receive_timeout=RECEIVE_TIMEOUT,
    )


def _drain_psycopg(connection: Any) -> Iterator[str]:
    # the socket is readable: a timeout of 0 reads what came and waits for nothing more
    for notification in connection.notifies(timeout=0):
        yield notification.payload


def _drain_psycopg2(connection: Any) -> Iterator[str]:
    # raises when the server has closed the connection
    connection.poll()
    while connection.notifies:
        yield connection.notifies.pop(0).payload
