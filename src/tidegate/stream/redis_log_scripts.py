"""Lua scripts of the Redis event log (``redis_log.py``); each one runs atomically in Redis.

KEYS, always in this order: ``log`` (the stream), ``ids`` (sorted set: event id, scored by the
millisecond part of its entry id), ``last`` (the newest entry id ever assigned). Entry ids are
``ms-seq`` with ``seq`` < 2^20, so ``ms << 20 | seq`` is a faithful integer position. Each entry holds
``i`` (event id), ``p`` (the previous entry's id: continuity can be checked) and ``e`` (the event JSON).
Lua numbers are doubles: the millisecond part (< 2^53) is exact, and ``%d`` formats it without exponent."""

from __future__ import annotations

__all__ = ["APPEND", "READ", "SEQ_LIMIT", "TRIM"]

#: Entries one millisecond can hold; the script moves to the next millisecond when it is full.
SEQ_LIMIT = 1 << 20

_DROP_EVICTED_IDS = """
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
if first then
  local id = first[1]
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. string.sub(id, 1, string.find(id, '-', 1, true) - 1))
else
  redis.call('DEL', KEYS[2])
end
"""

#: ARGV: now (ms, the appender's clock), max entries ('' = no bound), then (event id, JSON) pairs.
#: Ids never go below ``last``, so they increase whatever the appenders' clock skew. An event id
#: still indexed is skipped: appending the same event twice (a replayed spool) stores it once.
#: Returns one string, the entry id before the first one added (the newest before this call), then
#: the entry id of each event in ARGV order ('' for a skipped one), space-separated: the appender can
#: deliver its own entries (one bulk reply is cheaper to read than an array).
APPEND = (
    """
local last = redis.call('GET', KEYS[3])
local prev, ms, seq = '0-0', 0, 0
local assigned = {}
if last then
  prev = last
  local dash = string.find(last, '-', 1, true)
  ms = tonumber(string.sub(last, 1, dash - 1))
  seq = tonumber(string.sub(last, dash + 1))
end
local now = tonumber(ARGV[1])
local before = prev
local added = 0
for i = 3, #ARGV, 2 do
  local id = ''
  if not redis.call('ZSCORE', KEYS[2], ARGV[i]) then
    if now > ms then
      ms, seq = now, 0
    else
      seq = seq + 1
      if seq >= """
    + str(SEQ_LIMIT)
    + """ then ms, seq = ms + 1, 0 end
    end
    id = string.format('%d-%d', ms, seq)
    redis.call('XADD', KEYS[1], id, 'i', ARGV[i], 'p', prev, 'e', ARGV[i + 1])
    redis.call('ZADD', KEYS[2], ms, ARGV[i])
    prev = id
    added = added + 1
  end
  assigned[#assigned + 1] = id
end
if added > 0 then
  redis.call('SET', KEYS[3], prev)
  if ARGV[2] ~= '' then redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', ARGV[2]) end
"""
    + _DROP_EVICTED_IDS
    + """
end
table.insert(assigned, 1, before)
return table.concat(assigned, ' ')
"""
)

#: ARGV: mode, argument, count. Modes: 'id' reads after the entry of event id ARGV[2] (from the
#: oldest when it is not retained), 'after' reads after entry id ARGV[2], 'oldest' from the oldest.
#: Returns {last ('' when none), 1 when the event was found else 0, the exclusive start id used ('' =
#: the oldest), entries}; every entry is {id, {field, value, ...}}.
READ = """
local last = redis.call('GET', KEYS[3]) or ''
local mode, start, found = ARGV[1], '', 1
if mode == 'id' then
  found = 0
  local ms = redis.call('ZSCORE', KEYS[2], ARGV[2])
  if ms then
    local hits = redis.call('XRANGE', KEYS[1], ms .. '-0', ms .. '-SEQ_MAX')
    for _, hit in ipairs(hits) do
      local fields = hit[2]
      for j = 1, #fields, 2 do
        if fields[j] == 'i' then
          if fields[j + 1] == ARGV[2] then start, found = hit[1], 1 end
          break
        end
      end
      if found == 1 then break end
    end
  end
elseif mode == 'after' then
  start = ARGV[2]
end
local entries
if start ~= '' then
  entries = redis.call('XRANGE', KEYS[1], '(' .. start, '+', 'COUNT', ARGV[3])
else
  entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[3])
end
return {last, found, start, entries}
""".replace("SEQ_MAX", str(SEQ_LIMIT - 1))

#: ARGV: max entries ('' = no bound), oldest id to keep ('' = no bound). Exact, unlike the XADD trim.
#: Returns the number of entries removed.
TRIM = (
    """
local before = redis.call('XLEN', KEYS[1])
if ARGV[1] ~= '' then redis.call('XTRIM', KEYS[1], 'MAXLEN', ARGV[1]) end
if ARGV[2] ~= '' then redis.call('XTRIM', KEYS[1], 'MINID', ARGV[2]) end
local removed = before - redis.call('XLEN', KEYS[1])
if removed > 0 then
"""
    + _DROP_EVICTED_IDS
    + """
end
return removed
"""
)
