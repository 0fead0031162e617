"""
Redis pub/sub for :class:`~apscheduler.jobstores.redis.RedisJobStore`.

Every script that changes jobs publishes a change message on the store's channel (see
:mod:`apscheduler.jobstores.redis.jobs_lua`); the listener holds a connection of its own (made
with the store's connection settings), subscribed to that channel, and hands each message to
the store.

Pub/sub delivers every message to a connected subscriber, so messages can only be lost while
the connection is down. The listener makes sure it notices: the client must not reconnect
silently inside a read (the listener reconnects itself, and the store then takes a fresh look),
and a quiet connection is checked with a PING, since a dead peer may leave the socket open.

An idle listener wakes up only for that PING and its answer: the store ends the wait for
messages by closing the connection when it stops, so the wait need not be cut short to check.
A burst of messages (many jobs added at once, or this store's own messages, which every
subscriber gets too) is read a few at a time, a moment after the first, rather than with one
wake-up each.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from redis.backoff import NoBackoff
from redis.client import PubSub
from redis.connection import BlockingConnectionPool, ConnectionPool
from redis.retry import Retry

from apscheduler.jobstores._listener import ChangeListener

#: seconds of silence after which the listener checks its connection with a PING; a PING
#: unanswered for as long again means the connection is dead
HEARTBEAT = 5.0
#: seconds the listener lets further messages gather after one arrives, before it reads them
#: all at once
GATHER_TIME = 0.005
#: the longest the listener's first connection waits for the scheduler's first look at the
#: store (a store used without a scheduler never gets one)
FIRST_LOOK_WAIT = 0.05


class SilentConnection(ConnectionError):
    """The server stopped answering on the subscribed connection."""


class Subscription:
    """A pub/sub object subscribed to one channel, and when the server was last heard."""

    def __init__(self, pubsub: Any, own_pool: Any) -> None:
        self.pubsub = pubsub
        #: the pool of the listener's own connection (``None``: it came from the store's pool)
        self.own_pool = own_pool
        self.connection = pubsub.connection
        # the pool's own retry policy, given back with the connection
        self.saved_retry = getattr(self.connection, "retry", None)
        self.last_heard = time.monotonic()
        self.pinged_at: float | None = None
        #: set when the store stops the listener: no more waiting for messages
        self.interrupted = False

    def check_at(self) -> float:
        """When a silence becomes worth a PING, or an unanswered PING means a dead server."""
        return (self.last_heard if self.pinged_at is None else self.pinged_at) + HEARTBEAT


def redis_listener(
    redis: Any,
    channel: str,
    on_message: Callable[[str], None],
    on_reconnect: Callable[[], None],
    logger: logging.Logger,
    first_look: threading.Event | None = None,
) -> tuple[ChangeListener[Subscription], Callable[[], None]]:
    """
    Return a (not yet started) listener on ``channel``, and the function that interrupts its
    wait for messages (for a quick stop).

    :param first_look: set once the scheduler has had its first look at the store: the first
        connection waits for it (up to :data:`FIRST_LOOK_WAIT` seconds)
    """
    current: list[Subscription] = []

    def connect() -> Subscription:
        # Making the connection holds the GIL for a while: the start of the scheduler and its
        # first look at the jobs go first (they matter more than hearing other processes a
        # moment sooner), and the fresh look after subscribing makes up for what was missed
        # meanwhile.
        if first_look is None:
            time.sleep(0)
        elif not current:
            first_look.wait(FIRST_LOOK_WAIT)
        own_pool = _own_pool(redis)
        pubsub = (
            redis.pubsub(ignore_subscribe_messages=True)
            if own_pool is None
            else PubSub(own_pool, ignore_subscribe_messages=True)
        )
        try:
            pubsub.subscribe(channel)
            _await_confirmation(pubsub)
            subscription = Subscription(pubsub, own_pool)
            # a failed read must end the subscription rather than quietly reconnect
            subscription.connection.retry = Retry(NoBackoff(), 0)
        except BaseException:
            pubsub.close()
            if own_pool is not None:
                own_pool.disconnect()
            raise
        current[:] = [subscription]
        return subscription

    def interrupt() -> None:
        for subscription in current:
            subscription.interrupted = True
            subscription.connection.disconnect()

    return (
        ChangeListener(
            f"APScheduler notifications ({channel})",
            connect,
            _receive,
            _close,
            on_message,
            on_reconnect,
            logger,
            # the heartbeat decides when to wake up: stopping closes the connection anyway
            receive_timeout=HEARTBEAT,
        ),
        interrupt,
    )


def listens_apart(redis: Any) -> bool:
    """
    Whether the listener of a store with this client makes its connection in a pool of its
    own: for the plain pools it can copy, not for others (such as Sentinel's), which it shares.
    """
    return type(getattr(redis, "connection_pool", None)) in (
        ConnectionPool,
        BlockingConnectionPool,
    )


def _own_pool(redis: Any) -> Any:
    """
    A pool for the listener's connection alone, like the store's (``None``: see
    :func:`listens_apart`).

    From the store's pool, the subscription would take the connection the store's thread has
    just handed back (the pool lends out the last one returned), and that thread would have to
    open another one for its next operation: a start would wait for two connections, not one.
    """
    if not listens_apart(redis):
        return None
    pool = redis.connection_pool
    return ConnectionPool(connection_class=pool.connection_class, **pool.connection_kwargs)


def _await_confirmation(pubsub: Any) -> None:
    """
    Wait until the server confirms the subscription: only from then on are messages heard,
    and the store's fresh look after (re)connecting must not come before that.
    """
    deadline = time.monotonic() + HEARTBEAT
    while not pubsub.subscribed:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SilentConnection(f"no answer to SUBSCRIBE in {HEARTBEAT} seconds")
        # a message read here is dropped: the fresh look covers it
        pubsub.get_message(timeout=min(left, 0.5))


def _receive(subscription: Subscription, timeout: float) -> Iterator[str]:
    if subscription.interrupted:
        # a read now would reconnect the closed connection and wait on it
        raise SilentConnection("the listener was stopped")
    # wake up for the next heartbeat check at the latest, not at every timeout
    wait = min(timeout, subscription.check_at() - time.monotonic())
    message = subscription.pubsub.get_message(timeout=max(wait, 0.0))
    now = time.monotonic()
    if message is not None:
        subscription.last_heard, subscription.pinged_at = now, None
        if message.get("type") == "message":
            yield _text_of(message)
            yield from _gathered(subscription)
    elif now >= subscription.check_at():
        if subscription.pinged_at is not None:
            raise SilentConnection(f"no answer to a PING in {HEARTBEAT} seconds")
        subscription.pubsub.ping()
        subscription.pinged_at = now


def _gathered(subscription: Subscription) -> Iterator[str]:
    """The messages that arrive shortly after one did, read without waiting for each."""
    time.sleep(GATHER_TIME)
    while not subscription.interrupted:
        # a timeout of 0 reads what the socket holds, without waiting
        message = subscription.pubsub.get_message(timeout=0)
        if message is None:
            return
        if message.get("type") == "message":
            yield _text_of(message)


def _text_of(message: dict[str, Any]) -> str:
    data = message["data"]
    return data.decode(errors="replace") if isinstance(data, bytes) else str(data)


def _close(subscription: Subscription) -> None:
    # the connection goes back to the pool with the pool's retry policy
    if subscription.saved_retry is not None:
        subscription.connection.retry = subscription.saved_retry
    subscription.pubsub.close()
    if subscription.own_pool is not None:
        subscription.own_pool.disconnect()
