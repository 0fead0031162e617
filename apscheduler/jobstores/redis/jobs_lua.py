"""
The keys that hold the jobs of a :class:`~apscheduler.jobstores.redis.RedisJobStore`, and the
server-side (Lua) scripts that keep them and their leases.

Four keys: the hash of pickled jobs and the sorted set of run times (both as APScheduler 3
kept them), the hash of leases (job id → ``"owner|expiry"``, the expiry in seconds by the
Redis server's clock) and the hash of pending run requests, ``<jobs_key>.requests``. A job
without an entry in the lease hash is free, and one without an entry in the request hash has
no requests, so keys written by APScheduler 3 need no conversion. A write by a user (add,
update, remove, a run request) ends any lease on the job: that is how a scheduler that claimed
the job learns, when it starts the job's runs, that the job changed meanwhile. Each script runs
atomically on the server in one round trip.

A job's score in the sorted set is the moment it is due: its own next run time, or its oldest
pending run request if that is earlier (a paused job with requests is in the set too), so that
claiming and looking for the next run time need nothing but the set. The job's own run time is
then kept in its request record, a JSON object ``{"own": "<run time or ''>", "runs": [[run id,
"requested at"], ...]}`` (the times as UTC timestamps in text, so that no digit is lost); the
pickled job holds it too, unchanged by requests.

The scripts that give a job a run time publish a change message on the change channel (the
writing store's token, a space, and the run time as a UTC timestamp), so the other schedulers
sharing the keys wake up if the job is due before they planned to. Removals and pauses are not
published: nobody has to wake up for them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, cast

from apscheduler.jobstores.shared import RunRequest
from apscheduler.util import datetime_to_utc_timestamp

#: a row for the loading helpers of the store: job id, run time, pickled job
Row = tuple[str, float | None, bytes]

#: what follows ``<jobs_key>`` in the name of the hash of pending run requests
REQUESTS_SUFFIX = ".requests"
#: what follows ``<jobs_key>`` in the name of the sorted set of the runs in progress by lease end
#: (see ``runs_lua``), which a claim looks at to tell whether any run is in progress
RUNS_EXPIRY_SUFFIX = ".runs_expiry"


class RunTimeNotRead(float):
    """
    The run time of a row read without it (a NaN, if it were ever taken for a number).

    A job that loads has its own run time in its pickle; only the jobs that fail to load need
    their stored one, for the books on them, and it is read for those alone.
    """

    #: whether it stands for the job's own run time (or else for its score: when it is due)
    own: bool

    def __new__(cls, own: bool) -> RunTimeNotRead:
        not_read = super().__new__(cls, "nan")
        not_read.own = own
        return not_read


#: stands in for the own run times a listing does not read
OWN_RUN_TIME_NOT_READ = RunTimeNotRead(own=True)
#: stands in for the scores a look for due jobs does not read
SCORE_NOT_READ = RunTimeNotRead(own=False)

# The server's clock, for every script that reads it. Lua returns integers for numbers, so
# times leave the scripts as text.
CLOCK = """
-- lets writes follow TIME on servers older than Redis 5 (a no-op later)
if redis.replicate_commands then redis.replicate_commands() end

local function clock()
    local t = redis.call('TIME')
    return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""

# What every script of jobs starts with; KEYS are jobs, run times, leases and requests.
PRELUDE = (
    CLOCK
    + """
local JOBS, RUN_TIMES, LEASES, REQUESTS = KEYS[1], KEYS[2], KEYS[3], KEYS[4]

-- the owner of a job's lease and its expiry (server time), or nil for a free job
local function lease_of(id)
    local lease = redis.call('HGET', LEASES, id)
    if not lease then
        return nil, nil
    end
    local owner, expiry = string.match(lease, '^(.*)|([^|]*)$')
    return owner, tonumber(expiry)
end

local function id_set(first, last)
    local set = {}
    for i = first, last do
        set[ARGV[i]] = true
    end
    return set
end

-- the request record of a job (see the module's docstring), or nil when it has none
local function requests_of(id)
    local record = redis.call('HGET', REQUESTS, id)
    if not record then
        return nil
    end
    return cjson.decode(record)
end

-- the score at which a job is due, as text: the earlier of its own run time and its oldest
-- pending request ('' for neither)
local function due_score(own, pending)
    local best, best_text = tonumber(own), own
    if pending then
        for _, request in ipairs(pending.runs) do
            local at = tonumber(request[2])
            if best == nil or at < best then
                best, best_text = at, request[2]
            end
        end
    end
    return best_text
end

-- set a job's score from its own run time ('' for none) and its pending requests (nil for
-- none), keeping its own run time in the request record; returns the score ('' for none)
local function schedule(id, own, pending)
    if pending then
        pending.own = own
        redis.call('HSET', REQUESTS, id, cjson.encode(pending))
    end
    local score = due_score(own, pending)
    if score == '' then
        redis.call('ZREM', RUN_TIMES, id)
    else
        redis.call('ZADD', RUN_TIMES, score, id)
    end
    return score
end
"""
)

# The earliest moment worth a look: the run time of the first job nobody holds or, for a job
# held by a live lease before it, the moment that lease ends, told by the caller's clock (its
# now + the time left on the server's clock). Jobs after the first free one cannot matter: they
# are due no earlier than it. ``skipped`` is how many ids ``left_out`` holds: the first page
# reads that many more rows. Returns the time as text, '' when no job counts.
_NEXT_LOOK = """
local function next_look(left_out, skipped, now, caller_now)
    local best = nil
    -- the first job not left out is nearly always free: a short first page, longer ones after
    local offset, page = 0, 8 + skipped
    while true do
        local rows = redis.call('ZRANGE', RUN_TIMES, offset, offset + page - 1, 'WITHSCORES')
        if #rows == 0 then
            break
        end
        for i = 1, #rows, 2 do
            local id, score = rows[i], tonumber(rows[i + 1])
            if best ~= nil and score >= best then
                return string.format('%.6f', best)
            end
            if not left_out[id] then
                local _, expiry = lease_of(id)
                if expiry == nil or expiry <= now then
                    return rows[i + 1]
                end
                local free_at = math.max(score, caller_now + expiry - now)
                if best == nil or free_at < best then
                    best = free_at
                end
            end
        end
        offset = offset + page
        page = 64
    end
    return best == nil and '' or string.format('%.6f', best)
end
"""

#: ARGV: channel, token, job id, pickled job, score ('' for a paused job)
ADD = (
    PRELUDE
    + """
if redis.call('HSETNX', JOBS, ARGV[3], ARGV[4]) == 0 then
    return 0
end
-- a lease or requests left over from an earlier job of the same id belong to nobody now
redis.call('HDEL', LEASES, ARGV[3])
redis.call('HDEL', REQUESTS, ARGV[3])
if ARGV[5] ~= '' then
    redis.call('ZADD', RUN_TIMES, ARGV[5], ARGV[3])
    redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' ' .. ARGV[5])
end
return 1
"""
)

#: ARGV: channel, token, job id, pickled job, score ('' for a paused job)
UPDATE = (
    PRELUDE
    + """
if redis.call('HEXISTS', JOBS, ARGV[3]) == 0 then
    return 0
end
redis.call('HSET', JOBS, ARGV[3], ARGV[4])
-- a scheduler that claimed the job before this change must not store its own version over it
redis.call('HDEL', LEASES, ARGV[3])
-- the job stays due for its pending requests
local score = schedule(ARGV[3], ARGV[5], requests_of(ARGV[3]))
if score ~= '' then
    redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' ' .. score)
end
return 1
"""
)

#: ARGV: job id
REMOVE = (
    PRELUDE
    + """
local removed = redis.call('HDEL', JOBS, ARGV[1])
redis.call('ZREM', RUN_TIMES, ARGV[1])
redis.call('HDEL', LEASES, ARGV[1])
redis.call('HDEL', REQUESTS, ARGV[1])
return removed
"""
)

# A request asked again (a retry after a lost reply) is recorded once. The job's own run time
# is its score until it has requests.
#: ARGV: channel, token, job id, run id, requested at (UTC timestamp), attempt
#: returns 1, or 0 when there is no such job
REQUEST = (
    PRELUDE
    + """
local id, run_id = ARGV[3], ARGV[4]
if redis.call('HEXISTS', JOBS, id) == 0 then
    return 0
end
local pending = requests_of(id)
if not pending then
    pending = {own = redis.call('ZSCORE', RUN_TIMES, id) or '', runs = {}}
end
local known = false
for _, request in ipairs(pending.runs) do
    known = known or request[1] == run_id
end
if not known then
    pending.runs[#pending.runs + 1] = {run_id, ARGV[5], ARGV[6]}
end
-- as a user's write: a claimer that has not started the job yet must claim it again
redis.call('HDEL', LEASES, id)
redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' ' .. schedule(id, pending.own, pending))
return 1
"""
)

# Walks the due jobs page by page, so jobs leased to others at the front cannot hide free ones
# behind them. A live lease of any owner is skipped, this scheduler's own included: such a job
# is already on its way to an executor here. Then it looks for the next moment worth a look,
# leaving out what it claimed: the scheduler needs both after every claim.
#: ARGV: now (UTC timestamp), owner, lease time, most jobs to claim, the caller's now, how many
#:       ids follow that must not be claimed, those ids, then other ids to leave out of the
#:       next moment (known broken jobs)
#: KEYS: the jobs' four keys, then the runs in progress by lease end
#: returns the next moment as text ('' for none), how many runs are in progress, then id,
#: score, pickled job and request record ('' for none) for each claimed job, in run time order
CLAIM = (
    PRELUDE
    + _NEXT_LOOK
    + """
local now = clock()
local lease = ARGV[2] .. '|' .. string.format('%.6f', now + tonumber(ARGV[3]))
local wanted = tonumber(ARGV[4])
local unclaimable = id_set(7, 6 + tonumber(ARGV[6]))
local left_out = id_set(7, #ARGV)

local claimed = {''}
local count = 0
local offset = 0
while count < wanted do
    local due = redis.call('ZRANGEBYSCORE', RUN_TIMES, '-inf', ARGV[1], 'WITHSCORES',
                           'LIMIT', offset, wanted)
    if #due == 0 then
        break
    end
    for i = 1, #due, 2 do
        local id = due[i]
        local _, expiry = lease_of(id)
        if not unclaimable[id] and (expiry == nil or expiry <= now) then
            local state = redis.call('HGET', JOBS, id)
            if state then
                redis.call('HSET', LEASES, id, lease)
                left_out[id] = true
                count = count + 1
                claimed[#claimed + 1] = id
                claimed[#claimed + 1] = due[i + 1]
                claimed[#claimed + 1] = state
                claimed[#claimed + 1] = redis.call('HGET', REQUESTS, id) or ''
                if count >= wanted then
                    break
                end
            end
        end
    end
    offset = offset + wanted
end
claimed[1] = next_look(left_out, count + #ARGV - 6, now, tonumber(ARGV[5]))
-- whether any run is in progress (KEYS[5]: the runs by lease end, expired ones included)
table.insert(claimed, 2, redis.call('ZCARD', KEYS[5]))
return claimed
"""
)

#: ARGV: owner, job ids...
RELEASE = (
    PRELUDE
    + """
for i = 2, #ARGV do
    if lease_of(ARGV[i]) == ARGV[1] then
        redis.call('HDEL', LEASES, ARGV[i])
    end
end
return 0
"""
)

#: ARGV: the caller's now (UTC timestamp), ids to leave out...
#: returns the next moment worth a look as text, '' for none
NEXT_RUN_TIME = (
    PRELUDE
    + _NEXT_LOOK
    + "return next_look(id_set(2, #ARGV), #ARGV - 1, clock(), tonumber(ARGV[1]))"
)


def score_text(run_time: datetime | None) -> str:
    """A run time as the scripts take it: ``''`` for none."""
    # repr() gives the shortest text that reads back as the same float
    return "" if run_time is None else repr(datetime_to_utc_timestamp(run_time))


def _time(text: bytes | str) -> float | None:
    return float(text) if text else None


def decode_requests(record: bytes | str) -> tuple[RunRequest, ...]:
    """The pending run requests a request record holds, oldest first (ties: by run id)."""
    requests = [
        RunRequest(
            entry[0],
            datetime.fromtimestamp(float(entry[1]), timezone.utc),
            int(entry[2]) if len(entry) > 2 else 1,
        )
        for entry in json.loads(record)["runs"]
    ]
    requests.sort(key=lambda request: (request.requested_at, request.run_id))
    return tuple(requests)


def own_run_time(record: bytes | str) -> float | None:
    """The job's own next run time that a request record keeps (its score is a request's)."""
    return _time(json.loads(record)["own"])


class JobKeys:
    """
    The keys of the jobs of one store, and every read and write of them.

    Knows nothing of schedulers: it takes and returns pickles, timestamps and ids.

    :param channel: where the writes that bring a run time are announced
    :param token: names the writing store in its announcements
    """

    def __init__(
        self, redis: Any, jobs_key: str, run_times_key: str, channel: str, token: str
    ) -> None:
        self.redis = redis
        self.jobs_key = jobs_key
        self.run_times_key = run_times_key
        self.leases_key = f"{jobs_key}.leases"
        self.requests_key = f"{jobs_key}{REQUESTS_SUFFIX}"
        #: the keys every script of jobs takes, in order
        self.keys = [jobs_key, run_times_key, self.leases_key, self.requests_key]
        self._claim_keys = [*self.keys, f"{jobs_key}{RUNS_EXPIRY_SUFFIX}"]
        #: the arguments by which a script announces a run time it writes
        self.announce = [channel, token]
        self._add = redis.register_script(ADD)
        self._update = redis.register_script(UPDATE)
        self._remove = redis.register_script(REMOVE)
        self._request = redis.register_script(REQUEST)
        self._claim = redis.register_script(CLAIM)
        self._release = redis.register_script(RELEASE)
        self._next_run_time = redis.register_script(NEXT_RUN_TIME)

    # --- reading ---------------------------------------------------------------------------

    def lookup(self, job_id: str) -> bytes | None:
        """The pickle of one job (``None``: no such job); its run time is left unread."""
        return cast("bytes | None", self.redis.hget(self.jobs_key, job_id))

    def due(self, timestamp: float) -> list[Row]:
        """
        The jobs due by ``timestamp``, in run time order (two round trips, as in 3.x), their
        scores left unread (:data:`SCORE_NOT_READ`).

        A job with pending run requests is due from the oldest one on.
        """
        # as bytes: the client does not decode (jobs are pickles)
        job_ids = cast(
            "list[bytes]", self.redis.zrangebyscore(self.run_times_key, "-inf", timestamp)
        )
        if not job_ids:
            return []
        states = cast("list[bytes | None]", self.redis.hmget(self.jobs_key, job_ids))
        return [
            (job_id.decode(), SCORE_NOT_READ, state)
            for job_id, state in zip(job_ids, states, strict=True)
            if state is not None  # removed between the two calls
        ]

    def everything(self, broken: Sequence[str] = ()) -> list[Row]:
        """
        Every stored job, its own run time left unread (:data:`OWN_RUN_TIME_NOT_READ`) unless
        it is among the ``broken`` jobs. One round trip, as in 3.x.

        A listing reads the run times of the jobs that load from their pickles; the jobs that
        fail to load again are mostly the known broken ones.
        """
        if not broken:
            states = cast("dict[bytes, bytes]", self.redis.hgetall(self.jobs_key))
            return [
                (job_id.decode(), OWN_RUN_TIME_NOT_READ, state) for job_id, state in states.items()
            ]

        pipe = self.redis.pipeline(transaction=True)
        pipe.hgetall(self.jobs_key)
        self._queue_run_times(pipe, broken, own=True)
        states, *found = pipe.execute()
        own = self._collect_run_times(broken, found, own=True)
        rows: list[Row] = []
        for job_id, state in states.items():
            text = job_id.decode()
            rows.append((text, own.get(text, OWN_RUN_TIME_NOT_READ), state))
        return rows

    def run_times(self, job_ids: Sequence[str], own: bool) -> dict[str, float | None]:
        """
        The stored run times of jobs by id: their own (``None``: paused) or their scores
        (``None``: not due ever); missing jobs are left out.
        """
        pipe = self.redis.pipeline(transaction=True)
        self._queue_run_times(pipe, job_ids, own)
        return self._collect_run_times(job_ids, pipe.execute(), own)

    def _queue_run_times(self, pipe: Any, job_ids: Sequence[str], own: bool) -> None:
        for job_id in job_ids:
            pipe.hexists(self.jobs_key, job_id)
            pipe.zscore(self.run_times_key, job_id)
            if own:
                pipe.hget(self.requests_key, job_id)

    def _collect_run_times(
        self, job_ids: Sequence[str], found: Sequence[Any], own: bool
    ) -> dict[str, float | None]:
        step = 3 if own else 2
        run_times: dict[str, float | None] = {}
        for job_id, first in zip(job_ids, range(0, len(found), step), strict=True):
            exists, score = found[first : first + 2]
            if exists:
                requests = found[first + 2] if own else None
                run_times[job_id] = score if requests is None else own_run_time(requests)
        return run_times

    def next_run_time(self, caller_now: float, left_out: Sequence[str]) -> float | None:
        """The next moment worth a look, on the caller's clock; ``left_out`` do not count."""
        return _time(self._next_run_time(keys=self.keys, args=[repr(caller_now), *left_out]))

    # --- writing ---------------------------------------------------------------------------

    def add(self, job_id: str, data: bytes, score: str) -> bool:
        """Store a new job; ``False`` if one of that id is stored already."""
        return bool(self._add(keys=self.keys, args=[*self.announce, job_id, data, score]))

    def update(self, job_id: str, data: bytes, score: str) -> bool:
        """Replace a stored job, ending any lease on it; ``False`` if there is none."""
        return bool(self._update(keys=self.keys, args=[*self.announce, job_id, data, score]))

    def remove(self, job_id: str) -> bool:
        """Remove a job and its lease; ``False`` if there was none."""
        return bool(self._remove(keys=self.keys, args=[job_id]))

    def remove_all(self) -> None:
        """
        Remove every job, lease and run request (the runs in progress stay: they still count).
        """
        self.redis.delete(*self.keys)

    def request(self, job_id: str, run_id: str, requested_at: str, attempt: int = 1) -> bool:
        """Record a run request with a job and make it due; ``False`` if there is no such job."""
        args = [*self.announce, job_id, run_id, requested_at, str(attempt)]
        return bool(self._request(keys=self.keys, args=args))

    def stored(self, job_ids: Sequence[str]) -> list[tuple[bytes | None, bytes | None]]:
        """The pickle and the lease of each of ``job_ids`` (``None`` for what is missing)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hmget(self.jobs_key, list(job_ids))
        pipe.hmget(self.leases_key, list(job_ids))
        states, leases = pipe.execute()
        return list(zip(states, leases, strict=True))

    # --- leases ----------------------------------------------------------------------------

    def claim(
        self,
        now: float,
        owner: str,
        lease_time: float,
        batch: int,
        caller_now: float,
        unclaimable: Sequence[str],
        left_out: Sequence[str],
    ) -> tuple[list[Row], dict[str, tuple[RunRequest, ...]], float | None, bool]:
        """
        Lease up to ``batch`` due jobs nobody holds to ``owner``, in one round trip.

        :param unclaimable: ids not to claim, nor count for the next moment worth a look
        :param left_out: more ids not to count for the next moment
        :return: the claimed rows, the pending run requests of those that have some, the
            next moment worth a look besides them, on the caller's clock (``None``: no job
            counts), and whether any run is in progress
        """
        args: list[str | int] = [repr(now), owner, repr(lease_time), batch, repr(caller_now)]
        args += [len(unclaimable), *unclaimable, *left_out]
        found = self._claim(keys=self._claim_keys, args=args)
        rows: list[Row] = []
        requests: dict[str, tuple[RunRequest, ...]] = {}
        for i in range(2, len(found), 4):
            job_id = found[i].decode()
            rows.append((job_id, float(found[i + 1]), found[i + 2]))
            if found[i + 3]:
                requests[job_id] = decode_requests(found[i + 3])
        return rows, requests, _time(found[0]), bool(found[1])

    def release(self, owner: str, job_ids: Sequence[str]) -> None:
        """End the leases ``owner`` holds on ``job_ids``, changing nothing else."""
        self._release(keys=self.keys, args=[owner, *job_ids])
