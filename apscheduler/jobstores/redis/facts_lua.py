"""
The facts of a :class:`~apscheduler.jobstores.redis.RedisJobStore`
(:class:`~apscheduler.runs.SchedulerFact`): their keys, and the server-side (Lua) scripts that
record, read and prune them.

Two keys beside the history of runs, named from ``jobs_key`` as the history's are (and, like
them, left alone by :meth:`~apscheduler.jobstores.redis.RedisJobStore.remove_all_jobs`):

``<jobs_key>.history_facts``
    a hash: fact id → the record, a JSON object of the fact's fields (its time as a UTC
    timestamp)
``<jobs_key>.history_fact_times``
    a sorted set: every fact id, scored by the moment it happened. Facts of one moment sort by
    their ids, so a reverse range gives the order of
    :meth:`~apscheduler.runs.RunHistory.get_facts` as it is, and the front of the set holds the
    facts old enough to go

Every script runs atomically in one round trip, and running one again with the same arguments
changes nothing more.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from apscheduler.runs import RetentionPolicy, SchedulerFact
from apscheduler.util import datetime_to_utc_timestamp

#: what follows ``<jobs_key>`` in the names of the fact keys, in the order the scripts take them
FACT_KEY_SUFFIXES = (".history_facts", ".history_fact_times")
#: the Redis type of each fact key, in the same order
FACT_KEY_TYPES = ("hash", "zset")

_FACTS_PRELUDE = """
local RECORDS, TIMES = KEYS[1], KEYS[2]

local function forget(fact_ids)
    for _, fact_id in ipairs(fact_ids) do
        redis.call('HDEL', RECORDS, fact_id)
        redis.call('ZREM', TIMES, fact_id)
    end
end
"""

# A fact recorded again replaces its record and its score: a retry leaves one of it.
#: KEYS: the two fact keys
#: ARGV: per fact: fact id, timestamp, the JSON record
RECORD_FACTS = (
    _FACTS_PRELUDE
    + """
for first = 1, #ARGV, 3 do
    redis.call('HSET', RECORDS, ARGV[first], ARGV[first + 2])
    redis.call('ZADD', TIMES, ARGV[first + 1], ARGV[first])
end
return 0
"""
)

#: KEYS: the two fact keys
#: ARGV: the latest timestamp ('+inf' for any), the most records
#: returns the records, newest first (ties: the later fact id)
QUERY_FACTS = (
    _FACTS_PRELUDE
    + """
local fact_ids = redis.call('ZREVRANGEBYSCORE', TIMES, ARGV[1], '-inf', 'LIMIT', 0, ARGV[2])
local found = {}
for _, fact_id in ipairs(fact_ids) do
    local record = redis.call('HGET', RECORDS, fact_id)
    if record then
        found[#found + 1] = record
    end
end
return found
"""
)

# The facts beyond the newest ``max facts`` go, then those that happened before the cutoff, as
# apscheduler.runs.policy_keeps_fact judges them.
#: KEYS: the two fact keys
#: ARGV: the most facts kept, the cutoff timestamp ('' for none: facts are kept whatever their
#:       age)
PRUNE_FACTS = (
    _FACTS_PRELUDE
    + """
forget(redis.call('ZREVRANGE', TIMES, tonumber(ARGV[1]), -1))
if ARGV[2] ~= '' then
    forget(redis.call('ZRANGEBYSCORE', TIMES, '-inf', '(' .. ARGV[2]))
end
return 0
"""
)


def encode_fact(fact: SchedulerFact) -> str:
    """A fact as its record: JSON, its time as a UTC timestamp (``repr`` of a float)."""
    # UTF-8 as it is, as the records of runs are
    return json.dumps(fact.to_fields(), ensure_ascii=False, separators=(",", ":"))


def decode_fact(record: bytes | str) -> SchedulerFact:
    """The fact a record holds, its time in UTC."""
    return SchedulerFact.from_fields(json.loads(record))


def _score(moment: datetime) -> str:
    return repr(datetime_to_utc_timestamp(moment))


class FactKeys:
    """The fact keys of one store, and every script on them."""

    def __init__(self, redis: Any, jobs_key: str) -> None:
        self.keys = [f"{jobs_key}{suffix}" for suffix in FACT_KEY_SUFFIXES]
        self._record = redis.register_script(RECORD_FACTS)
        self._query = redis.register_script(QUERY_FACTS)
        self._prune = redis.register_script(PRUNE_FACTS)

    def record(self, facts: Sequence[SchedulerFact]) -> None:
        """Store ``facts`` in one script call; a later fact of an id replaces an earlier one."""
        latest = {fact.fact_id: fact for fact in facts}
        args: list[str] = []
        for fact in latest.values():
            args += [fact.fact_id, _score(fact.at), encode_fact(fact)]
        if args:
            self._record(keys=self.keys, args=args)

    def facts(self, until: datetime | None, limit: int) -> list[SchedulerFact]:
        """The facts up to ``until``, newest first (ties: the later fact id)."""
        if limit <= 0:
            return []
        latest = "+inf" if until is None else _score(until)
        return [
            decode_fact(record) for record in self._query(keys=self.keys, args=[latest, limit])
        ]

    def prune(self, policy: RetentionPolicy, now: datetime) -> None:
        """Drop the facts ``policy`` no longer keeps, in one script call."""
        cutoff = "" if policy.max_age is None else _score(now - policy.max_age)
        self._prune(keys=self.keys, args=[policy.max_facts, cutoff])
