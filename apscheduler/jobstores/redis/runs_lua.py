"""
The runs in progress of a :class:`~apscheduler.jobstores.redis.RedisJobStore`: their keys, and
the server-side (Lua) scripts that start, renew, finish and take them.

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
import math
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, NamedTuple
from uuid import uuid4

from apscheduler.job import Job
from apscheduler.jobstores.redis.jobs_lua import (
    CLOCK,
    PRELUDE,
    RUNS_EXPIRY_SUFFIX,
    JobKeys,
    score_text,
)
from apscheduler.jobstores.shared import AbandonedRun, RunStart, RunStartOutcome
from apscheduler.util import datetime_to_utc_timestamp

#: what follows ``<jobs_key>`` in the names of the run keys, in the order the scripts take them
RUN_KEY_SUFFIXES = (".runs", RUNS_EXPIRY_SUFFIX, ".runs_by_job", ".runs_by_owner")
#: the Redis type of each run key, in the same order
RUN_KEY_TYPES = ("hash", "zset", "zset", "zset")

#: the most abandoned runs one call takes: a crash that left very many does not block the
#: server for long, and the rest are taken by the next calls
ABANDONED_BATCH = 1000

# the outcome codes of START_RUNS, by position
OUTCOMES = (RunStartOutcome.LOST, RunStartOutcome.STARTED, RunStartOutcome.MAX_INSTANCES)
LOST, STARTED, MAX_INSTANCES = OUTCOMES

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
# a job whose lease is no longer the owner's is lost, and nothing changes (a user who changed or
# removed the job, or asked it to run, since the claim ended the lease). Otherwise the job is
# stored as given (or removed, when its schedule is over), the run requests the start makes are
# forgotten (any others keep the job due), and its lease is given up; the runs are recorded
# unless max_instances runs of the job are in progress already (their leases unexpired,
# whoever the owner). A lease that expired but was not taken over is still honoured: nobody
# else started the job meanwhile. One change message announces the earliest next run time of
# the batch.
#: KEYS: jobs, run times, leases, requests, then the four run keys
#: ARGV: channel, token, owner, lease time, then per start: job id, run id, pickled job ('' to
#:       remove the finished job), score ('' for none), max instances, run times, the run ids
#:       of the requests it makes (a JSON array, '' for none)
#: returns one outcome code per start (see OUTCOMES)
START_RUNS = (
    PRELUDE
    + _RUNS_PRELUDE
    + """
local LOST, STARTED, MAX_INSTANCES = 0, 1, 2
local now = clock()
local owner = ARGV[3]
local expires = now + tonumber(ARGV[4])
local outcomes = {}
local earliest, earliest_text = nil, nil

-- The runs this call records are written at its end, one command per key for all of them
-- (a command per run and key cost most of the script's time); until then they are counted
-- from here: a run recorded now is live.
local new_runs, new_expiry, new_by_job, new_by_owner = {}, {}, {}, {}
local recorded, recorded_of = {}, {}

local function record_run(id, run_id, run_times)
    local n = #new_runs
    new_runs[n + 1], new_runs[n + 2] = run_id, cjson.encode({id, owner, run_times})
    new_expiry[n + 1], new_expiry[n + 2] = expires, run_id
    new_by_job[n + 1], new_by_job[n + 2] = 0, index_prefix(id) .. run_id
    new_by_owner[n + 1], new_by_owner[n + 2] = 0, index_prefix(owner) .. run_id
    recorded[run_id] = true
    recorded_of[id] = (recorded_of[id] or 0) + 1
end

-- one command for many pairs of arguments, in slices that unpack() can take
local function write_all(command, key, pairs)
    for first = 1, #pairs, 1000 do
        redis.call(command, key, unpack(pairs, first, math.min(first + 999, #pairs)))
    end
end

local function live_runs_of(id)
    local live = recorded_of[id] or 0
    for _, run_id in ipairs(indexed_runs(BY_JOB, id)) do
        local run_expires = redis.call('ZSCORE', EXPIRY, run_id)
        if run_expires and tonumber(run_expires) >= now then
            live = live + 1
        end
    end
    return live
end

-- the requests of a job still pending once those made are forgotten (nil for none)
local function still_pending(id, made)
    local pending = requests_of(id)
    if not pending or made == '' then
        return pending
    end
    local forgotten, left = {}, {}
    for _, run_id in ipairs(cjson.decode(made)) do
        forgotten[run_id] = true
    end
    for _, request in ipairs(pending.runs) do
        if not forgotten[request[1]] then
            left[#left + 1] = request
        end
    end
    if #left == 0 then
        redis.call('HDEL', REQUESTS, id)
        return nil
    end
    pending.runs = left
    return pending
end

local function store(id, data, score, made)
    redis.call('HDEL', LEASES, id)
    if data == '' then
        redis.call('HDEL', JOBS, id)
        redis.call('ZREM', RUN_TIMES, id)
        redis.call('HDEL', REQUESTS, id)
        return
    end
    redis.call('HSET', JOBS, id, data)
    score = schedule(id, score, still_pending(id, made))
    if score ~= '' and (earliest == nil or tonumber(score) < earliest) then
        earliest, earliest_text = tonumber(score), score
    end
end

local function start(id, run_id, data, score, max_instances, run_times, made)
    if recorded[run_id] or redis.call('HEXISTS', RUNS, run_id) == 1 then
        return STARTED
    end
    if lease_of(id) ~= owner or redis.call('HEXISTS', JOBS, id) == 0 then
        return LOST
    end
    local full = live_runs_of(id) >= max_instances
    store(id, data, score, made)
    if full then
        return MAX_INSTANCES
    end
    record_run(id, run_id, run_times)
    return STARTED
end

for first = 5, #ARGV, 7 do
    outcomes[#outcomes + 1] = start(ARGV[first], ARGV[first + 1], ARGV[first + 2],
                                    ARGV[first + 3], tonumber(ARGV[first + 4]), ARGV[first + 5],
                                    ARGV[first + 6])
end
write_all('HSET', RUNS, new_runs)
write_all('ZADD', EXPIRY, new_expiry)
write_all('ZADD', BY_JOB, new_by_job)
write_all('ZADD', BY_OWNER, new_by_owner)
if earliest_text then
    redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' ' .. earliest_text)
end
return outcomes
"""
)

#: KEYS: the four run keys
#: ARGV: owner, run ids...
FINISH_RUNS = (
    _RUNS_PRELUDE
    + """
for i = 2, #ARGV do
    local record = redis.call('HGET', RUNS, ARGV[i])
    if record then
        local fields = cjson.decode(record)
        if fields[2] == ARGV[1] then
            forget_run(ARGV[i], fields[1], fields[2])
        end
    end
end
return 0
"""
)

# Runs whose lease expired without being taken yet are renewed too: their owner is alive.
#: KEYS: the four run keys
#: ARGV: owner, lease time
#: returns the run ids of the owner still in progress
RENEW_RUNS = (
    CLOCK
    + _RUNS_PRELUDE
    + """
local expires = clock() + tonumber(ARGV[2])
local run_ids = indexed_runs(BY_OWNER, ARGV[1])
for _, run_id in ipairs(run_ids) do
    redis.call('ZADD', EXPIRY, 'XX', expires, run_id)
end
return run_ids
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


class StartEntry(NamedTuple):
    """One start as the script takes it: the job already moved on and pickled."""

    job_id: str
    run_id: str
    #: the pickled job, or ``b""`` to remove a job whose schedule is over
    data: bytes
    score: str
    max_instances: int
    #: the run times as UTC timestamps, space separated
    run_times: str
    #: the run ids of the run requests the start makes, as a JSON array (``""`` for none)
    requests: str


def start_entries(
    starts: Sequence[RunStart], serialize: Callable[[Job], bytes]
) -> list[StartEntry]:
    """The script's view of ``starts``: each job stored as given, or removed when it is over."""
    return [
        StartEntry(
            start.job.id,
            start.run_id,
            b"" if start.removes_job else serialize(start.job),
            score_text(start.job.next_run_time),
            start.job.max_instances,
            " ".join(repr(datetime_to_utc_timestamp(t)) for t in start.run_times),
            _request_ids(start),
        )
        for start in starts
    ]


def _request_ids(start: RunStart) -> str:
    if not start.requests:
        return ""
    # UTF-8 as it is, so that the script compares the ids byte for byte with those it keeps
    return json.dumps([request.run_id for request in start.requests], ensure_ascii=False)


class RunKeys:
    """
    The keys of the runs in progress of one store, and every script on them.

    Starting runs also moves their jobs on, so it takes the keys of the jobs too.
    """

    def __init__(self, redis: Any, jobs: JobKeys) -> None:
        self._jobs = jobs
        self.keys = [f"{jobs.jobs_key}{suffix}" for suffix in RUN_KEY_SUFFIXES]
        self._receipt_prefix = f"{jobs.jobs_key}.runs_taken:"
        self._start = redis.register_script(START_RUNS)
        self._finish = redis.register_script(FINISH_RUNS)
        self._renew = redis.register_script(RENEW_RUNS)
        self._take_abandoned = redis.register_script(TAKE_ABANDONED_RUNS)

    def start(
        self, owner: str, lease_time: float, entries: Sequence[StartEntry]
    ) -> list[RunStartOutcome]:
        """Start the whole batch in one script call; one outcome per entry, in order."""
        args: list[Any] = [*self._jobs.announce, owner, repr(lease_time)]
        for entry in entries:
            args.extend(entry)
        codes = self._start(keys=[*self._jobs.keys, *self.keys], args=args)
        return [OUTCOMES[code] for code in codes]

    def recognise_moves(
        self, entries: Sequence[StartEntry], outcomes: list[RunStartOutcome]
    ) -> list[RunStartOutcome]:
        """
        On a retry, tell the starts that an earlier attempt applied from those really lost.

        The runs an earlier attempt recorded are found by their run ids (``STARTED``); but a
        job it moved on without recording runs (``MAX_INSTANCES``) has no lease any more, so
        the retry calls it lost. A job stored just as this start stores it, unleased, is one of
        those. A removed job cannot be told from one a user removed, so it stays lost.
        """
        lost = [i for i, outcome in enumerate(outcomes) if outcome is LOST and entries[i].data]
        if not lost:
            return outcomes
        stored = self._jobs.stored([entries[i].job_id for i in lost])
        recognised = list(outcomes)
        for i, (data, lease) in zip(lost, stored, strict=True):
            if lease is None and data == entries[i].data:
                recognised[i] = MAX_INSTANCES
        return recognised

    def finish(self, owner: str, run_ids: Sequence[str]) -> None:
        """Forget the runs ``run_ids`` of ``owner``."""
        self._finish(keys=self.keys, args=[owner, *run_ids])

    def renew(self, owner: str, lease_time: float) -> set[str]:
        """Extend the leases of every run of ``owner``; return the ids of those runs."""
        run_ids = self._renew(keys=self.keys, args=[owner, repr(lease_time)])
        return {run_id.decode() for run_id in run_ids}

    def take_abandoned(self, retry_timeout: float) -> Callable[[], list[AbandonedRun]]:
        """
        Return the operation that takes the runs whose lease ran out, to run with retries.

        Every attempt of it uses the same receipt, so that a retry after a lost reply gets the
        runs the lost attempt took; the receipt outlives the retries (``retry_timeout``).
        """
        keys = [f"{self._receipt_prefix}{uuid4().hex}", *self.keys]
        args = [ABANDONED_BATCH, 60 + math.ceil(retry_timeout)]
        return lambda: _abandoned(self._take_abandoned(keys=keys, args=args))


def _abandoned(records: Sequence[bytes]) -> list[AbandonedRun]:
    abandoned = []
    for record in records:
        job_id, owner, run_times = json.loads(record)
        when = [datetime.fromtimestamp(float(text), timezone.utc) for text in run_times.split()]
        abandoned.append(AbandonedRun(job_id, when, owner))
    return abandoned
