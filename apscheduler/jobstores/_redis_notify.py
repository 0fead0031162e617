"""Waking the scheduler when another process changes the jobs of a shared Redis store."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

#: seconds the listener waits before it subscribes again after losing its connection, at most
MAX_BACKOFF = 5.0
#: seconds of silence after which the listener checks its connection with a PING; a PING
#: unanswered for as long again means the connection is dead even if the socket is still open
HEARTBEAT = 5.0


class SilentConnection(Exception):
    """The server stopped answering on the subscribed connection."""


class ChangeListener:
    """
    Listens on a Redis pub/sub channel in a thread of its own and calls ``on_change`` for each
    message that another store published.

    Messages are the publishing store's token, so a store ignores its own writes (its scheduler
    already knows about them). Pub/sub delivers every message to a connected subscriber, so
    changes can only go unheard while the connection is down; the listener therefore calls
    ``on_change`` each time it (re)subscribes, and checks with a PING that a quiet connection
    is still alive. While it is not subscribed, :attr:`live` is false, and the store has the
    scheduler poll instead.

    :param redis: the client whose connection pool the listener borrows its connection from
    :param channel: the channel to listen on
    :param token: the token of the listening store, whose messages are ignored
    :param on_change: called from the listener thread for each change made elsewhere
    :param is_temporary: tells the errors of an outage, which the store already reports, from
        those the user has to fix (such as a user not allowed to subscribe)
    """

    def __init__(
        self,
        redis: Any,
        channel: str,
        token: str,
        on_change: Callable[[], None],
        is_temporary: Callable[[BaseException], bool],
        logger: logging.Logger,
    ) -> None:
        self._redis = redis
        self._channel = channel
        self._token = token.encode()
        self._on_change = on_change
        self._is_temporary = is_temporary
        self._logger = logger
        self._stopping = threading.Event()
        self._subscribed = threading.Event()
        self._first_attempt = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def live(self) -> bool:
        """Whether changes made elsewhere reach the scheduler right now."""
        return self._subscribed.is_set()

    def start(self, wait: float) -> None:
        """
        Start listening; wait up to ``wait`` seconds for the first attempt to subscribe, so
        that a scheduler starting now knows at once whether it has to poll.
        """
        self._thread = threading.Thread(
            target=self._listen, name=f"apscheduler: changes on {self._channel}", daemon=True
        )
        self._thread.start()
        self._first_attempt.wait(wait)

    def stop(self) -> None:
        """
        Ask the thread to end. It ends as soon as its connection closes (the store closes the
        pool at shutdown), or else within a second.
        """
        self._stopping.set()

    def join(self, timeout: float) -> None:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _listen(self) -> None:
        backoff = 0.0
        lost = False
        while not self._stopping.is_set():
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self._channel)
                # the client may reconnect by itself inside a read; changes may be missed then
                pubsub.connection.register_connect_callback(self._reconnected)
                self._subscribed.set()
                self._first_attempt.set()
                if lost:
                    self._logger.debug("Listening for job changes on %r again", self._channel)
                backoff = 0.0
                lost = False
                self._notify()
                self._receive(pubsub)
            except Exception as exc:
                self._first_attempt.set()
                if self._stopping.is_set():
                    break
                if not lost:
                    # an outage is reported by the store's own operations already
                    level = logging.DEBUG if self._is_temporary(exc) else logging.WARNING
                    self._logger.log(
                        level,
                        "Cannot listen for job changes on %r (%s: %s); polling the store more "
                        "often until it can",
                        self._channel,
                        type(exc).__name__,
                        exc,
                    )
                lost = True
            finally:
                self._subscribed.clear()
                self._close(pubsub)

            # doubling up to a cap; one listener per store, so no jitter is needed
            backoff = min(max(backoff * 2, 0.1), MAX_BACKOFF)
            self._stopping.wait(backoff)

    def _receive(self, pubsub: Any) -> None:
        """Hand on messages until the store stops; raise when the connection is lost."""
        last_heard = time.monotonic()
        pinged_at: float | None = None
        while not self._stopping.is_set():
            message = pubsub.get_message(timeout=1.0)
            now = time.monotonic()
            if message is not None:
                last_heard, pinged_at = now, None
                if message.get("type") == "message" and message.get("data") != self._token:
                    self._notify()
            elif pinged_at is not None and now - pinged_at > HEARTBEAT:
                raise SilentConnection(f"no answer to a PING in {HEARTBEAT} seconds")
            elif pinged_at is None and now - last_heard > HEARTBEAT:
                pubsub.ping()
                pinged_at = now

    def _close(self, pubsub: Any) -> None:
        # the connection goes back to the pool, where a reconnect must not wake the scheduler
        connection = pubsub.connection
        deregister = getattr(connection, "deregister_connect_callback", None)
        try:
            if deregister is not None:
                deregister(self._reconnected)
            pubsub.close()
        except Exception:
            pass

    def _reconnected(self, connection: Any) -> None:
        self._notify()

    def _notify(self) -> None:
        try:
            self._on_change()
        except Exception:
            self._logger.exception("Error waking the scheduler after a change to its jobs")
