"""
The server-side (Lua) scripts of :class:`~apscheduler.jobstores.redis.RedisJobStore` that keep
its jobs and their leases (those of the runs in progress are in
:mod:`apscheduler.jobstores._redis_runs`).

Every script here gets the same three keys: the hash of pickled jobs, the sorted set of run
times (both as APScheduler 3 kept them) and the hash of leases (job id → ``"owner|expiry"``, the
expiry in seconds by the Redis server's clock). A job without an entry in the lease hash is
free, so keys written by APScheduler 3 need no conversion. Each script runs atomically on the
server and costs one round trip.

The scripts that give a job a run time publish a change message on the change channel (the
writing store's token, a space, and the run time as a UTC timestamp), so the other schedulers
sharing the keys wake up if the job is due before they planned to. Removals and pauses are not
published: nobody has to wake up for them.
"""

from __future__ import annotations

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

# The Lua functions every script of jobs starts with.
PRELUDE = (
    CLOCK
    + """

-- the owner of a job's lease and its expiry (server time), or nil for a free job
local function lease_of(id)
    local lease = redis.call('HGET', KEYS[3], id)
    if not lease then
        return nil, nil
    end
    local owner, expiry = string.match(lease, '^(.*)|([^|]*)$')
    return owner, tonumber(expiry)
end
"""
)

#: ARGV: channel, token, job id, pickled job, score ('' for a paused job)
ADD = (
    PRELUDE
    + """
if redis.call('HSETNX', KEYS[1], ARGV[3], ARGV[4]) == 0 then
    return 0
end
if ARGV[5] ~= '' then
    redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
end
-- a lease left over from an earlier job of the same id belongs to nobody now
redis.call('HDEL', KEYS[3], ARGV[3])
if ARGV[5] ~= '' then
    redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' ' .. ARGV[5])
end
return 1
"""
)

#: ARGV: channel, token, job id, pickled job, score ('' for a paused job)
UPDATE = (
    PRELUDE
    + """
if redis.call('HEXISTS', KEYS[1], ARGV[3]) == 0 then
    return 0
end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
if ARGV[5] == '' then
    redis.call('ZREM', KEYS[2], ARGV[3])
else
    redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
    redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' ' .. ARGV[5])
end
return 1
"""
)

#: ARGV: job id
REMOVE = (
    PRELUDE
    + """
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return removed
"""
)

# Walks the due jobs page by page, so jobs leased to others at the front cannot hide free ones
# behind them. A live lease of any owner is skipped, this scheduler's own included: such a job
# is already on its way to an executor here.
#: ARGV: now (UTC timestamp), owner, lease time, most jobs to claim, ids to skip...
#: returns id, score, pickled job for each claimed job, in run time order
ACQUIRE = (
    PRELUDE
    + """
local now = clock()
local lease = ARGV[2] .. '|' .. string.format('%.6f', now + tonumber(ARGV[3]))
local wanted = tonumber(ARGV[4]) * 3
local skip = {}
for i = 5, #ARGV do
    skip[ARGV[i]] = true
end

local claimed = {}
local offset = 0
local page = tonumber(ARGV[4])
while #claimed < wanted do
    local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'WITHSCORES',
                           'LIMIT', offset, page)
    if #due == 0 then
        break
    end
    for i = 1, #due, 2 do
        local id = due[i]
        local _, expiry = lease_of(id)
        if not skip[id] and (expiry == nil or expiry <= now) then
            local state = redis.call('HGET', KEYS[1], id)
            if state then
                redis.call('HSET', KEYS[3], id, lease)
                claimed[#claimed + 1] = id
                claimed[#claimed + 1] = due[i + 1]
                claimed[#claimed + 1] = state
                if #claimed >= wanted then
                    break
                end
            end
        end
    end
    offset = offset + page
end
return claimed
"""
)

#: ARGV: owner, job ids...
RELEASE = (
    PRELUDE
    + """
local released = 0
for i = 2, #ARGV do
    if lease_of(ARGV[i]) == ARGV[1] then
        redis.call('HDEL', KEYS[3], ARGV[i])
        released = released + 1
    end
end
return released
"""
)

# The earliest moment worth a look: the run time of the first job nobody holds, or, for a job
# held by a live lease before it, the moment that lease expires, told by the caller's clock
# (local now + time left on the server's clock). Jobs after the first free one cannot matter:
# they are due no earlier than it.
#: ARGV: local now (UTC timestamp), ids to leave out...
#: returns the time as text, or false when no job has a run time
NEXT_RUN_TIME = (
    PRELUDE
    + """
local now = clock()
local local_now = tonumber(ARGV[1])
local skip = {}
for i = 2, #ARGV do
    skip[ARGV[i]] = true
end

local best = nil
local offset = 0
local page = 64
while true do
    local rows = redis.call('ZRANGE', KEYS[2], offset, offset + page - 1, 'WITHSCORES')
    if #rows == 0 then
        break
    end
    for i = 1, #rows, 2 do
        local id = rows[i]
        local score = tonumber(rows[i + 1])
        if best ~= nil and score >= best then
            return string.format('%.6f', best)
        end
        if not skip[id] then
            local _, expiry = lease_of(id)
            if expiry == nil or expiry <= now then
                return rows[i + 1]
            end
            local free_at = math.max(score, local_now + expiry - now)
            if best == nil or free_at < best then
                best = free_at
            end
        end
    end
    offset = offset + page
end
if best == nil then
    return false
end
return string.format('%.6f', best)
"""
)
