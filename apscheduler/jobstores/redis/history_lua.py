"""
The run history of a :class:`~apscheduler.jobstores.redis.RedisJobStore`: its keys, and the
server-side (Lua) scripts that record, read and prune :class:`~apscheduler.runs.JobRun`
records.

The keys sit next to the store's own, named from ``jobs_key``; APScheduler 3 knew none of them,
and :meth:`~apscheduler.jobstores.redis.RedisJobStore.remove_all_jobs` leaves them alone, since
the history tells what ran, also of jobs removed since:

``<jobs_key>.history``
    a hash: run id → the record, a JSON object of the run's fields (times as UTC timestamps)
``<jobs_key>.history_all``
    a sorted set: every run id, scored by its scheduled run time, for the runs of all jobs
``<jobs_key>.history:<job id>``
    a sorted set per job: the job's run ids, scored the same way. Runs of one scheduled time
    sort by their ids, so a reverse range gives the order of
    :meth:`~apscheduler.runs.RunHistory.get_job_runs` as it is
``<jobs_key>.history_jobs``
    a set: the ids of the jobs that have runs, so that pruning visits each job's set
``<jobs_key>.history_ended``
    a sorted set: the run ids of finished runs, scored by the moment they ended, so that
    pruning by age reads only the runs old enough to go

The per-job keys are made by the scripts from a prefix, which a single Redis server allows (the
store talks to one server, not to a cluster). Every script runs atomically in one round trip,
and running one again with the same arguments changes nothing more.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from apscheduler.runs import PENDING, RUNNING, JobRun, RetentionPolicy
from apscheduler.util import datetime_to_utc_timestamp

#: what follows ``<jobs_key>`` in the names of the fixed history keys, in the order the scripts
#: take them
HISTORY_KEY_SUFFIXES = (".history", ".history_all", ".history_jobs", ".history_ended")
#: the Redis type of each fixed history key, in the same order
HISTORY_KEY_TYPES = ("hash", "zset", "set", "zset")
#: what follows ``<jobs_key>`` in the name of a job's sorted set, before the job id
JOB_KEY_INFIX = ".history:"

#: the most run ids a query reads per step (a query filtered by state may read many)
QUERY_PAGE = 256

_HISTORY_PRELUDE = f"""
local RECORDS, ALL, JOB_IDS, ENDED = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local UNFINISHED = {{['{RUNNING}'] = true, ['{PENDING}'] = true}}

local function job_key(prefix, job_id)
    return prefix .. job_id
end

local function forget(run_id, key)
    redis.call('HDEL', RECORDS, run_id)
    redis.call('ZREM', ALL, run_id)
    redis.call('ZREM', key, run_id)
    redis.call('ZREM', ENDED, run_id)
end
"""

# A run recorded again may name another job than before (a record is replaced whole): its id
# leaves the old job's set.
#: KEYS: the four fixed history keys
#: ARGV: the prefix of the job keys, then per run: run id, job id, scheduled timestamp, end
#:       timestamp ('' unless the run is finished and has one), the JSON record
RECORD_RUNS = (
    _HISTORY_PRELUDE
    + """
local prefix = ARGV[1]
for first = 2, #ARGV, 5 do
    local run_id, job_id, score = ARGV[first], ARGV[first + 1], ARGV[first + 2]
    local ended, record = ARGV[first + 3], ARGV[first + 4]
    local old = redis.call('HGET', RECORDS, run_id)
    if old then
        local old_job_id = cjson.decode(old)['job_id']
        if old_job_id ~= job_id then
            local old_key = job_key(prefix, old_job_id)
            redis.call('ZREM', old_key, run_id)
            if redis.call('ZCARD', old_key) == 0 then
                redis.call('SREM', JOB_IDS, old_job_id)
            end
        end
    end
    redis.call('HSET', RECORDS, run_id, record)
    redis.call('ZADD', ALL, score, run_id)
    redis.call('ZADD', job_key(prefix, job_id), score, run_id)
    redis.call('SADD', JOB_IDS, job_id)
    if ended == '' then
        redis.call('ZREM', ENDED, run_id)
    else
        redis.call('ZADD', ENDED, ended, run_id)
    end
end
return 0
"""
)

#: KEYS: the hash of records, then the sorted set to read (all runs, or one job's)
#: ARGV: the earliest scheduled timestamp ('-inf' for any), the most records, run ids to read
#:       per step, then the states wanted (none: any state)
#: returns the records, newest scheduled run time first (ties: the later run id)
QUERY_RUNS = """
local RECORDS, INDEX = KEYS[1], KEYS[2]
local since, limit, page = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local any_state = #ARGV == 3
local wanted = {}
for i = 4, #ARGV do
    wanted[ARGV[i]] = true
end

local found, offset = {}, 0
while #found < limit do
    local run_ids = redis.call('ZREVRANGEBYSCORE', INDEX, '+inf', since, 'LIMIT', offset, page)
    for _, run_id in ipairs(run_ids) do
        local record = redis.call('HGET', RECORDS, run_id)
        if record and (any_state or wanted[cjson.decode(record)['state']]) then
            found[#found + 1] = record
            if #found == limit then
                break
            end
        end
    end
    if #run_ids < page then
        break
    end
    offset = offset + page
end
return found
"""

# Each job's runs beyond the newest ``max runs`` go first, then those that ended before the
# cutoff: a run's place among its job's runs counts the runs too old to keep, as
# apscheduler.runs.policy_keeps counts them. A run still running, or asked for and not made
# yet (pending), is never dropped.
#: KEYS: the four fixed history keys
#: ARGV: the prefix of the job keys, the most runs kept per job, the cutoff timestamp ('' for
#:       none: runs are kept whatever their age)
PRUNE_RUNS = (
    _HISTORY_PRELUDE
    + """
local prefix, max_runs, cutoff = ARGV[1], tonumber(ARGV[2]), ARGV[3]

local function unfinished(record)
    return UNFINISHED[cjson.decode(record)['state']] == true
end

for _, job_id in ipairs(redis.call('SMEMBERS', JOB_IDS)) do
    local key = job_key(prefix, job_id)
    if redis.call('ZCARD', key) > max_runs then
        for _, run_id in ipairs(redis.call('ZREVRANGE', key, max_runs, -1)) do
            local record = redis.call('HGET', RECORDS, run_id)
            if not record then
                redis.call('ZREM', key, run_id)
            elseif not unfinished(record) then
                forget(run_id, key)
            end
        end
    end
    if redis.call('ZCARD', key) == 0 then
        redis.call('SREM', JOB_IDS, job_id)
    end
end

if cutoff ~= '' then
    for _, run_id in ipairs(redis.call('ZRANGEBYSCORE', ENDED, '-inf', '(' .. cutoff)) do
        local record = redis.call('HGET', RECORDS, run_id)
        if not record then
            redis.call('ZREM', ENDED, run_id)
        elseif unfinished(record) then
            redis.call('ZREM', ENDED, run_id)
        else
            local job_id = cjson.decode(record)['job_id']
            local key = job_key(prefix, job_id)
            forget(run_id, key)
            if redis.call('ZCARD', key) == 0 then
                redis.call('SREM', JOB_IDS, job_id)
            end
        end
    end
end
return 0
"""
)


def encode_run(run: JobRun) -> str:
    """A run as its record: JSON, times as UTC timestamps (``repr`` of a float loses nothing)."""
    # UTF-8 as it is, so that the scripts compare job ids byte for byte with those they are given
    return json.dumps(run.to_fields(), ensure_ascii=False, separators=(",", ":"))


def decode_run(record: bytes | str) -> JobRun:
    """The run a record holds, its times in UTC."""
    return JobRun.from_fields(json.loads(record))


def _score(moment: datetime | None) -> str:
    timestamp = datetime_to_utc_timestamp(moment)
    return "" if timestamp is None else repr(timestamp)


class HistoryKeys:
    """The history keys of one store, and every script on them; it knows nothing of jobs."""

    def __init__(self, redis: Any, jobs_key: str) -> None:
        self.keys = [f"{jobs_key}{suffix}" for suffix in HISTORY_KEY_SUFFIXES]
        self.job_key_prefix = f"{jobs_key}{JOB_KEY_INFIX}"
        self._record = redis.register_script(RECORD_RUNS)
        self._query = redis.register_script(QUERY_RUNS)
        self._prune = redis.register_script(PRUNE_RUNS)

    def job_key(self, job_id: str) -> str:
        """The sorted set of the runs of ``job_id``."""
        return f"{self.job_key_prefix}{job_id}"

    def record(self, runs: Sequence[JobRun]) -> None:
        """Store ``runs`` in one script call; a later record of a run id replaces an earlier."""
        latest = {run.run_id: run for run in runs}
        if not latest:
            return
        args: list[str] = [self.job_key_prefix]
        for run in latest.values():
            ended = _score(run.finished_at) if run.finished else ""
            args += [run.run_id, run.job_id, _score(run.scheduled_run_time), ended]
            args.append(encode_run(run))
        self._record(keys=self.keys, args=args)

    def runs(
        self,
        job_id: str | None,
        states: Collection[str] | None,
        since: datetime | None,
        limit: int,
    ) -> list[JobRun]:
        """The runs asked for, newest scheduled run time first (ties: the later run id)."""
        if limit <= 0 or (states is not None and not states):
            return []
        index = self.keys[1] if job_id is None else self.job_key(job_id)
        # a query by state reads runs it skips: in full pages; else just the ones it returns
        page = QUERY_PAGE if states is not None else min(limit, QUERY_PAGE)
        args: list[Any] = [_score(since) or "-inf", limit, page]
        if states is not None:
            args += sorted(set(states))
        records = self._query(keys=[self.keys[0], index], args=args)
        return [decode_run(record) for record in records]

    def prune(self, policy: RetentionPolicy, now: datetime) -> None:
        """Drop the finished runs ``policy`` no longer keeps, in one script call."""
        cutoff = "" if policy.max_age is None else _score(now - policy.max_age)
        self._prune(keys=self.keys, args=[self.job_key_prefix, policy.max_runs, cutoff])
