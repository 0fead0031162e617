"""
End leases now, on any shared store, as if their holder had died a lease ago.

Leases end by the server's clock. A test that waits one out is slow, and on a busy machine it
is unsure too: the steps it means to take while the lease still holds may take longer than the
lease. So tests keep the default lease (seconds) and end leases with :func:`expire_leases` at
the point where, in real life, time would have run out: it rewrites the expiry that the store
keeps, and the store then judges the lease by its own clock as it always does.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import update

#: an expiry before any clock's now: the Unix epoch
LONG_AGO = 0.0


def expire_leases(store: Any, owner: str | None = None) -> None:
    """
    End the leases of ``owner`` (of everybody if ``None``) on claimed jobs and on runs in
    progress, in the table, keys or collections that ``store`` shares with the other stores of
    its namespace.
    """
    kind = type(store).__name__
    if kind == "SQLAlchemyJobStore":
        _expire_sql(store, owner)
    elif kind == "RedisJobStore":
        _expire_redis(store, owner)
    elif kind == "MongoDBJobStore":
        _expire_mongodb(store, owner)
    else:
        raise TypeError(f"{kind} keeps no leases")


def _expire_sql(store: Any, owner: str | None) -> None:
    jobs, runs = store.jobs_t.c, store.runs_t.c
    held = jobs.lease_owner.is_not(None) if owner is None else jobs.lease_owner == owner
    running = runs.owner.is_not(None) if owner is None else runs.owner == owner
    with store.engine.begin() as connection:
        connection.execute(update(store.jobs_t).where(held).values(lease_expires=LONG_AGO))
        connection.execute(update(store.runs_t).where(running).values(expires=LONG_AGO))


def _expire_redis(store: Any, owner: str | None) -> None:
    redis = store.redis
    for job_id, lease in redis.hgetall(store.leases_key).items():
        holder = lease.decode().rsplit("|", 1)[0]
        if owner is None or holder == owner:
            redis.hset(store.leases_key, job_id, f"{holder}|{LONG_AGO:.6f}")
    for run_id, record in redis.hgetall(f"{store.jobs_key}.runs").items():
        _job_id, holder, _run_times = json.loads(record)
        if owner is None or holder == owner:
            redis.zadd(f"{store.jobs_key}.runs_expiry", {run_id: LONG_AGO})


def _expire_mongodb(store: Any, owner: str | None) -> None:
    holder = {"$ne": None} if owner is None else owner
    store.collection.update_many({"lease_owner": holder}, {"$set": {"lease_expires": LONG_AGO}})
    store.runs_collection.update_many({"owner": holder}, {"$set": {"expires": LONG_AGO}})
