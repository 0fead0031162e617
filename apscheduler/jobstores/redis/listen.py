"""
Redis pub/sub for :class:`~apscheduler.jobstores.redis.RedisJobStore`.

Every script that changes jobs publishes a change message on the store's channel (see
:mod:`apscheduler.jobstores.redis.jobs_lua`); the listener holds one connection of the store's
pool, subscribed to that channel, and hands each message to the store.

Pub/sub delivers every message to a connected subscriber, so messages can only be lost while
the connection is down. The listener makes sure it notices: the client must not reconnect
silently inside a read (the listener reconnects itself, and the store then takes a fresh look),
and a quiet connection is checked with a PING, since a dead peer may leave the socket open.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from redis.backoff import NoBackoff
from redis.retry import Retry

from apscheduler.jobstores._listener import ChangeListener

#: seconds of silence after which the listener checks its connection with a PING; a PING
#: unanswered for as long again means the connection is dead
HEARTBEAT = 5.0


class SilentConnection(ConnectionError):
    """The server stopped answering on the subscribed connection."""


class Subscription:
    """A pub/sub object subscribed to one channel, and when the server was last heard."""

    def __init__(self, pubsub: Any) -> None:
        self.pubsub = pubsub
        self.connection = pubsub.connection
        # the pool's own retry policy, given back with the connection
        self.saved_retry = getattr(self.connection, "retry", None)
        self.last_heard = time.monotonic()
        self.pinged_at: float | None = None


def redis_listener(
    redis: Any,
    channel: str,
    on_message: Callable[[str], None],
    on_reconnect: Callable[[], None],
    logger: logging.Logger,
) -> tuple[ChangeListener[Subscription], Callable[[], None]]:
    """
    Return a (not yet started) listener on ``channel``, and the function that interrupts its
    wait for messages (for a quick stop).
    """
    current: list[Subscription] = []

    def connect() -> Subscription:
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(channel)
            _await_confirmation(pubsub)
            subscription = Subscription(pubsub)
            # a failed read must end the subscription rather than quietly reconnect
            subscription.connection.retry = Retry(NoBackoff(), 0)
        except BaseException:
            pubsub.close()
            raise
        current[:] = [subscription]
        return subscription

    def interrupt() -> None:
        for subscription in current:
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
        ),
        interrupt,
    )


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
    message = subscription.pubsub.get_message(timeout=timeout)
    now = time.monotonic()
    if message is not None:
        subscription.last_heard, subscription.pinged_at = now, None
        if message.get("type") == "message":
            data = message["data"]
            yield data.decode(errors="replace") if isinstance(data, bytes) else str(data)
    elif subscription.pinged_at is not None:
        if now - subscription.pinged_at > HEARTBEAT:
            raise SilentConnection(f"no answer to a PING in {HEARTBEAT} seconds")
    elif now - subscription.last_heard > HEARTBEAT:
        subscription.pubsub.ping()
        subscription.pinged_at = now


def _close(subscription: Subscription) -> None:
    # the connection goes back to the pool with the pool's retry policy
    if subscription.saved_retry is not None:
        subscription.connection.retry = subscription.saved_retry
    subscription.pubsub.close()
