"""
The runs in progress of :class:`~apscheduler.jobstores.redis.RedisJobStore`: their keys, the
server-side (Lua) scripts that keep them, and the decoding of what those scripts return.

A run in progress is what a scheduler sharing the store records when it starts the due runs of
a claimed job; it finishes, renews or abandons them later. Four keys next to those of APScheduler
3 hold them, so that every operation touches only the runs it concerns:

``<jobs_key>.runs``
    a hash: run id → the record, a JSON array ``[job id, owner, "run times"]`` (the run times
    as UTC timestamps separated by spaces, as text so that no digit is lost)
``<jobs_key>.runs_expiry``
    a sorted set: run id, scored by the moment its lease ends (seconds, by the Redis server's
    clock); the abandoned runs are its front
``<jobs_key>.runs_by_job`` and ``<jobs_key>.runs_by_owner``
    sorted sets used as indexes, every score 0, so that members sort by their bytes: each member
    is ``<length of the id>:<id>:<run id>`` for the job (or the owner) of a run, and all the
    runs of one job (or owner) form one range of ``ZRANGEBYLEX``. The length in front makes
    the range exact whatever characters the ids hold
``<jobs_key>.runs_taken:<random>``
    what one call that took abandoned runs returned, kept a minute or so for a retry of that
    call after a lost reply

Every script gets those four keys last, after any others, and runs atomically in one round trip.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from apscheduler.jobstores._redis_scripts import CLOCK, PRELUDE
from apscheduler.jobstores.base import AbandonedRun, RunStartOutcome
from apscheduler.util import datetime_to_utc_timestamp

#: what follows ``<jobs_key>`` in the names of the run keys, in the order the scripts take them
RUN_KEY_SUFFIXES = (".runs", ".runs_expiry", ".runs_by_job", ".runs_by_owner")
#: the Redis type of each run key, in the same order
RUN_KEY_TYPES = ("hash", "zset", "zset", "zset")

#: the most abandoned runs one call takes: a crash that left very many does not block the
#: server for long, and the rest are taken by the next calls
ABANDONED_BATCH = 1000

#: how many arguments each start takes in :data:`START_RUNS`
START_FIELDS = 7

# the outcome codes of START_RUNS; a change since the claim is a lost lease too, but the
# scheduler must take a fresh look at the job
_STARTED, _LOST, _CHANGED, _MAX_INSTANCES = 1, 0, 2, 3
OUTCOMES = {
    _STARTED: RunStartOutcome.STARTED,
    _LOST: RunStartOutcome.LOST,
    _CHANGED: RunStartOutcome.LOST,
    _MAX_INSTANCES: RunStartOutcome.MAX_INSTANCES,
}
CHANGED = _CHANGED

_RUNS_PRELUDE = """
local RUNS, EXPIRY = KEYS[#KEYS - 3], KEYS[#KEYS - 2]
local BY_JOB, BY_OWNER = KEYS[#KEYS - 1], KEYS[#KEYS]

local function index_prefix(id)
    return #id .. ':' .. id .. ':'
end

-- the run ids an index lists for one job or owner (no valid UTF-8 text holds byte 255, so
-- it closes the range of every member that starts with the prefix)
local function indexed_runs(index, id)
    local prefix = index_prefix(id)
    local entries = redis.call('ZRANGEBYLEX', index, '[' .. prefix,
                               '(' .. prefix .. string.char(255))
    local run_ids = {}
    for i, entry in ipairs(entries) do
        run_ids[i] = string.sub(entry, #prefix + 1)
    end
    return run_ids
end

local function forget_run(run_id, job_id, owner)
    redis.call('HDEL', RUNS, run_id)
    redis.call('ZREM', EXPIRY, run_id)
    redis.call('ZREM', BY_JOB, index_prefix(job_id) .. run_id)
    redis.call('ZREM', BY_OWNER, index_prefix(owner) .. run_id)
end
"""

# For each start, in order: a run id already recorded is a retry after a lost reply (started);
# a lease no longer the owner's, a removed job or a job changed since the claim is lost, and
# nothing changes (but a lease on a vanished or changed job is given up). Otherwise the job
# moves on to its next run time (or is removed, when it has none) and its lease is given up;
# the runs are recorded unless max_instances runs of the job are in progress already (their
# leases unexpired, whoever the owner). A lease that expired but was not taken over is still
# honoured: nobody else started the job meanwhile. One change message announces the earliest
# next run time of the batch.
#: KEYS: jobs, run times, leases, then the four run keys
#: ARGV: channel, token, owner, lease time, then per start: job id, run id, pickled job ('' to
#:       remove the finished job), score ('' for none), SHA-1 of the claimed pickle ('' not
#:       to check), max instances, run times
#: returns one outcome code per start
START_RUNS = (
    PRELUDE
    + _RUNS_PRELUDE
    + f"""
local FIELDS = {START_FIELDS}
local STARTED, LOST, CHANGED, MAX_INSTANCES = {_STARTED}, {_LOST}, {_CHANGED}, {_MAX_INSTANCES}
"""
    + """
local now = clock()
local owner = ARGV[3]
local expires = now + tonumber(ARGV[4])
local outcomes = {}
local earliest, earliest_text = nil, nil

local function live_runs_of(id)
    local live = 0
    for _, run_id in ipairs(indexed_runs(BY_JOB, id)) do
        local run_expires = redis.call('ZSCORE', EXPIRY, run_id)
        if run_expires and tonumber(run_expires) >= now then
            live = live + 1
        end
    end
    return live
end

local function move_on(id, data, score)
    if data == '' then
        redis.call('HDEL', KEYS[1], id)
        redis.call('ZREM', KEYS[2], id)
    else
        redis.call('HSET', KEYS[1], id, data)
        if score == '' then
            redis.call('ZREM', KEYS[2], id)
        else
            redis.call('ZADD', KEYS[2], score, id)
            if earliest == nil or tonumber(score) < earliest then
                earliest, earliest_text = tonumber(score), score
            end
        end
    end
    redis.call('HDEL', KEYS[3], id)
end

local function start(id, run_id, data, score, claim, max_instances, run_times)
    if redis.call('HEXISTS', RUNS, run_id) == 1 then
        return STARTED
    end
    if lease_of(id) ~= owner then
        return LOST
    end
    local state = redis.call('HGET', KEYS[1], id)
    if not state then
        redis.call('HDEL', KEYS[3], id)
        return LOST
    end
    if claim ~= '' and redis.sha1hex(state) ~= claim then
        redis.call('HDEL', KEYS[3], id)
        return CHANGED
    end

    local full = live_runs_of(id) >= max_instances
    move_on(id, data, score)
    if full then
        return MAX_INSTANCES
    end
    redis.call('HSET', RUNS, run_id, cjson.encode({id, owner, run_times}))
    redis.call('ZADD', EXPIRY, expires, run_id)
    redis.call('ZADD', BY_JOB, 0, index_prefix(id) .. run_id)
    redis.call('ZADD', BY_OWNER, 0, index_prefix(owner) .. run_id)
    return STARTED
end

for first = 5, #ARGV, FIELDS do
    outcomes[#outcomes + 1] = start(ARGV[first], ARGV[first + 1], ARGV[first + 2],
                                    ARGV[first + 3], ARGV[first + 4],
                                    tonumber(ARGV[first + 5]), ARGV[first + 6])
end
if earliest_text then
    redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' ' .. earliest_text)
end
return outcomes
"""
)

#: KEYS: the four run keys
#: ARGV: owner, run ids...
#: returns how many runs were forgotten
FINISH_RUNS = (
    _RUNS_PRELUDE
    + """
local finished = 0
for i = 2, #ARGV do
    local record = redis.call('HGET', RUNS, ARGV[i])
    if record then
        local fields = cjson.decode(record)
        if fields[2] == ARGV[1] then
            forget_run(ARGV[i], fields[1], fields[2])
            finished = finished + 1
        end
    end
end
return finished
"""
)

# Runs whose lease expired without being taken yet are renewed too: their owner is alive.
#: KEYS: the four run keys
#: ARGV: owner, lease time
#: returns how many runs were renewed
RENEW_RUNS = (
    CLOCK
    + _RUNS_PRELUDE
    + """
local expires = clock() + tonumber(ARGV[2])
local run_ids = indexed_runs(BY_OWNER, ARGV[1])
for _, run_id in ipairs(run_ids) do
    redis.call('ZADD', EXPIRY, 'XX', expires, run_id)
end
return #run_ids
"""
)

# A reply lost on the way back would lose the runs taken (nobody would report them), so the
# records taken are kept for a while under a receipt key named by the caller, and a retry of
# the same call gets them again instead of taking more.
#: KEYS: the receipt of this call, then the four run keys
#: ARGV: the most runs to take, seconds to keep the receipt
#: returns the records of the runs taken, oldest lease first
TAKE_ABANDONED_RUNS = (
    CLOCK
    + _RUNS_PRELUDE
    + """
local kept = redis.call('GET', KEYS[1])
if kept then
    return cjson.decode(kept)
end

local now = string.format('%.6f', clock())
local expired = redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', '(' .. now, 'LIMIT', 0, ARGV[1])
local taken = {}
for _, run_id in ipairs(expired) do
    local record = redis.call('HGET', RUNS, run_id)
    if record then
        local fields = cjson.decode(record)
        forget_run(run_id, fields[1], fields[2])
        taken[#taken + 1] = record
    else
        redis.call('ZREM', EXPIRY, run_id)
    end
end
if #taken > 0 then
    redis.call('SET', KEYS[1], cjson.encode(taken), 'EX', ARGV[2])
end
return taken
"""
)


def run_times_text(run_times: Sequence[Any]) -> str:
    """The run times of a start as the scripts keep them: UTC timestamps, space separated."""
    return " ".join(repr(datetime_to_utc_timestamp(run_time)) for run_time in run_times)


def decode_abandoned(records: Sequence[bytes]) -> list[AbandonedRun]:
    """Turn the records :data:`TAKE_ABANDONED_RUNS` returned into abandoned runs."""
    abandoned = []
    for record in records:
        job_id, owner, run_times = json.loads(record)
        abandoned.append(
            AbandonedRun(
                job_id,
                [datetime.fromtimestamp(float(text), timezone.utc) for text in run_times.split()],
                owner,
            )
        )
    return abandoned
