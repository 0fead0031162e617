"""
A thread that receives change messages from other processes on a connection of its own.

Shared stores use it to hear about jobs that other processes add or change (PostgreSQL
``LISTEN``, Redis pub/sub, MongoDB change streams), so that their scheduler wakes at once
instead of at its next poll.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

C = TypeVar("C")


class ChangeListener(Generic[C]):
    """
    A daemon thread that receives change messages on a connection of its own.

    The connection is made with ``connect()``; ``receive(connection, timeout)`` yields the
    messages that arrive within about ``timeout`` seconds (it may yield none) and raises when
    the connection is lost; ``close(connection)`` closes it. A lost connection is made again
    with exponential backoff (0.1 s doubling to 5 s, with jitter); once it is back,
    ``on_reconnect()`` runs, because messages sent meanwhile are lost.

    :param name: name of the thread
    :param on_message: called with each message, in the listener's thread
    :param logger: where connection problems are reported
    :param receive_timeout: seconds ``receive`` may wait for a message before the thread
        checks whether it should stop; a listener whose ``interrupt`` always ends the wait
        (by closing the connection) can wait longer and wake up less often
    """

    #: seconds ``receive`` waits before the thread checks whether it should stop
    receive_timeout = 1.0
    first_delay = 0.1
    max_delay = 5.0

    def __init__(
        self,
        name: str,
        connect: Callable[[], C],
        receive: Callable[[C, float], Iterable[str]],
        close: Callable[[C], None],
        on_message: Callable[[str], None],
        on_reconnect: Callable[[], None],
        logger: logging.Logger,
        *,
        receive_timeout: float | None = None,
    ) -> None:
        if receive_timeout is not None:
            self.receive_timeout = receive_timeout
        self._connect = connect
        self._receive = receive
        self._close = close
        self._on_message = on_message
        self._on_reconnect = on_reconnect
        self._logger = logger
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        #: whether the connection is up, so that messages arrive
        self.live = False

    def start(self) -> None:
        self._thread.start()

    def stop(self, interrupt: Callable[[], None] | None = None, timeout: float = 2.0) -> None:
        """
        Stop the thread and wait (up to ``timeout`` seconds) until it has closed its connection.

        :param interrupt: sends a message that ends the wait in ``receive`` at once (any
            message does); without it, stopping takes up to :attr:`receive_timeout`
        """
        self._stopping.set()
        if interrupt is not None and self.live:
            try:
                interrupt()
            except Exception as exc:
                self._logger.debug("Could not interrupt the change listener: %r", exc)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        delay = self.first_delay
        reported = False
        while not self._stopping.is_set():
            try:
                connection = self._connect()
            except Exception as exc:
                # one warning per outage; the store itself reports its own retries
                log = self._logger.debug if reported else self._logger.warning
                log("Change notifications unavailable (%s: %s); retrying", type(exc).__name__, exc)
                reported = True
                self._stopping.wait(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.max_delay)
                continue

            delay = self.first_delay
            if reported:
                self._logger.info("Change notifications are back")
                reported = False
            self._listen(connection)

    def _listen(self, connection: C) -> None:
        self.live = True
        try:
            self._on_reconnect()
            while not self._stopping.is_set():
                for message in self._receive(connection, self.receive_timeout):
                    if self._stopping.is_set():
                        break
                    try:
                        self._on_message(message)
                    except Exception:
                        self._logger.exception("Error handling change message %r", message)
        except Exception as exc:
            if not self._stopping.is_set():
                self._logger.warning(
                    "Lost the change notification connection (%s: %s); reconnecting",
                    type(exc).__name__,
                    exc,
                )
        finally:
            self.live = False
            try:
                self._close(connection)
            except Exception:
                pass


__all__ = ["ChangeListener"]
