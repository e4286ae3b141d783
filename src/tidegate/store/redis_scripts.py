"""The Lua scripts behind every multi-step operation of the Redis StateStore (``store/redis.py``).

A script runs atomically on the Redis server, so each operation is atomic across every instance sharing
the server. Layout, under ``{prefix}:state:``:

- ``k:{key}``  one hash per key: ``d`` value bytes, ``v`` version, ``e`` expiry (app-clock µs, absent = none)
- ``version``  the global version counter (INCR): versions are never reused, even after delete or expiry
- ``keys``     a sorted set of every stored key at score 0, read with ZRANGEBYLEX so ``scan`` is in key order
- ``ttl``      a sorted set of keys with a native deadline (Redis-clock ms): finds ``keys`` members to prune
- ``due:{index}`` one sorted set per time index (score = due µs; ties in member order)

Expiry is decided by ``e`` against the caller's ``now``, exactly as the memory and SQLite backends decide it
with the injected Clock; the native PEXPIRE (set a grace period later) only reclaims memory. Members of
``keys`` whose hash expired natively are removed a few at a time by every TTL write, as met by ``scan``,
and in bulk by ``sweep``. Scripts reach hash keys by name from ``ARGV``, so Redis Cluster is not supported
(one server, or a primary behind Sentinel or a managed failover).

Write scripts get ``KEYS = [hash, version, keys, ttl]`` and ``ARGV = [key, now_us, hash_prefix, ...]``.
Numbers that may exceed 2^53 never pass through Lua: expiries travel as strings, compared with ``tonumber``
(exact below 2^53 µs, i.e. until the year 2255)."""

from __future__ import annotations

__all__ = [
    "COMPARE_AND_SET",
    "DELETE",
    "DELETE_IF_EQUALS",
    "INCR",
    "NOT_INTEGER",
    "OUT_OF_RANGE",
    "PRUNE",
    "PUT",
    "PUT_IF_ABSENT",
    "SCAN",
]

#: Error markers a script returns with ``redis.error_reply``; the store turns them into TidegateError.
NOT_INTEGER = "TIDEGATE_NOT_INTEGER"
OUT_OF_RANGE = "TIDEGATE_OUT_OF_RANGE"

_PRUNE_FUNCTION = """
local function clock_ms()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Forget up to n keys whose native deadline has passed (their hash is gone).
local function prune(n)
    local gone = redis.call('ZRANGEBYSCORE', ttlz, '-inf', clock_ms(), 'LIMIT', 0, n)
    for _, m in ipairs(gone) do
        if redis.call('EXISTS', hprefix .. m) == 0 then
            redis.call('ZREM', idx, m)
        end
        redis.call('ZREM', ttlz, m)
    end
    return #gone
end
"""

_WRITE_PRELUDE = (
    """
local hkey, vkey, idx, ttlz = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local member, now, hprefix = ARGV[1], tonumber(ARGV[2]), ARGV[3]
"""
    + _PRUNE_FUNCTION
    + """
-- The hash fields {value, version, expiry} unless the key is absent or expired at `now`.
local function live()
    local f = redis.call('HMGET', hkey, 'd', 'v', 'e')
    if not f[2] or (f[3] and tonumber(f[3]) <= now) then
        return nil
    end
    return f
end

-- Replace the key with a new version; `expires` is '' (no expiry) or app-clock µs, `pttl` native ms.
local function write(value, expires, pttl)
    local version = redis.call('INCR', vkey)
    if expires == '' then
        redis.call('HSET', hkey, 'd', value, 'v', version)
        redis.call('HDEL', hkey, 'e')
        redis.call('PERSIST', hkey)
        redis.call('ZREM', ttlz, member)
    else
        redis.call('HSET', hkey, 'd', value, 'v', version, 'e', expires)
        redis.call('PEXPIRE', hkey, pttl)
        redis.call('ZADD', ttlz, clock_ms() + tonumber(pttl), member)
        prune(2)
    end
    redis.call('ZADD', idx, 0, member)
    return version
end

local function remove()
    redis.call('DEL', hkey)
    redis.call('ZREM', idx, member)
    redis.call('ZREM', ttlz, member)
end
"""
)

# ARGV[4..6] = value, expires, pttl
PUT = (
    _WRITE_PRELUDE
    + """
write(ARGV[4], ARGV[5], ARGV[6])
return 1
"""
)

# ARGV[4..6] = value, expires, pttl
PUT_IF_ABSENT = (
    _WRITE_PRELUDE
    + """
if live() then
    return 0
end
write(ARGV[4], ARGV[5], ARGV[6])
return 1
"""
)

# ARGV[4..7] = version, value, expires, pttl
COMPARE_AND_SET = (
    _WRITE_PRELUDE
    + """
local f = live()
if not f or tonumber(f[2]) ~= tonumber(ARGV[4]) then
    return 0
end
write(ARGV[5], ARGV[6], ARGV[7])
return 1
"""
)

# Returns 1 if the key was live; an expired remnant is removed too.
DELETE = (
    _WRITE_PRELUDE
    + """
local f = live()
remove()
if f then
    return 1
end
return 0
"""
)

# ARGV[4] = value
DELETE_IF_EQUALS = (
    _WRITE_PRELUDE
    + """
local f = live()
if f and f[1] == ARGV[4] then
    remove()
    return 1
end
return 0
"""
)

# ARGV[4..6] = amount (canonical decimal), expires, pttl. Returns the new value as decimal text.
# Only canonical decimal text counts (the rule of the other backends); Lua numbers are doubles, so
# counters stay within ±2^53.
INCR = (
    _WRITE_PRELUDE
    + f"""
local f = live()
if not f then
    write(ARGV[4], ARGV[5], ARGV[6])
    return ARGV[4]
end
local text = f[1]
if not (text == '0' or string.match(text, '^-?[1-9]%d*$')) then
    return redis.error_reply('{NOT_INTEGER}')
end
local total = tonumber(text) + tonumber(ARGV[4])
if math.abs(tonumber(text)) >= 9007199254740992 or math.abs(total) >= 9007199254740992 then
    return redis.error_reply('{OUT_OF_RANGE}')
end
local out = string.format('%d', total)
redis.call('HSET', hkey, 'd', out, 'v', redis.call('INCR', vkey))
return out
"""
)

# KEYS = [keys, ttl]; ARGV = [hash_prefix, now_us, lex_start, lex_stop, want, budget].
# Reads up to `budget` index members in key order and returns {exhausted, last_member, k1, v1, ...}
# with at most `want` live keys; members whose hash is gone are pruned on the way.
SCAN = """
local idx, ttlz = KEYS[1], KEYS[2]
local hprefix, now, want, budget = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[5]), tonumber(ARGV[6])
local batch = redis.call('ZRANGEBYLEX', idx, ARGV[3], ARGV[4], 'LIMIT', 0, budget)
local out = {0, ''}
if #batch < budget then
    out[1] = 1
end
local found = 0
for _, m in ipairs(batch) do
    out[2] = m
    local f = redis.call('HMGET', hprefix .. m, 'd', 'v', 'e')
    if not f[2] then
        redis.call('ZREM', idx, m)
        redis.call('ZREM', ttlz, m)
    elseif not (f[3] and tonumber(f[3]) <= now) then
        out[#out + 1] = m
        out[#out + 1] = f[1]
        found = found + 1
        if found >= want then
            break
        end
    end
end
return out
"""

# KEYS = [keys, ttl]; ARGV = [hash_prefix, n]. Returns how many deadlines were looked at (<= n).
PRUNE = (
    """
local idx, ttlz = KEYS[1], KEYS[2]
local hprefix = ARGV[1]
"""
    + _PRUNE_FUNCTION
    + """
return prune(tonumber(ARGV[2]))
"""
)
