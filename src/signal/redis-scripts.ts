/**
 * Lua scripts of the Redis matchmaker. Each runs atomically inside Redis, so two nodes can
 * never hand the same waiting client to two partners. Every key shares the `{chz}` hash tag:
 * on Redis Cluster they land in one slot, so the scripts stay legal there too.
 *
 * Keys (P = prefix, default "{chz}:"):
 *   P c:<id>     hash  client: node, st (q|p|m|""), hub, int (JSON tags), since, mid, partner, code
 *   P q:<hub>    list  waiting client ids, oldest first
 *   P m:<mid>    hash  match: a (offerer), b (answerer), hub ("" if private), code
 *   P p:<code>   hash  private call: owner, since, exp, mid
 *   P pexp       zset  private codes by expiry
 *   P cd:<x|y>   string with PX: rematch cooldown of a pair
 *   P incall     hash  hub -> clients in a call
 *   P nc:<node>  set   client ids connected to a node
 *   P nodes      set   node ids;  P hb:<node>  heartbeat key with PX
 *   P s:<node>   stream  cross-node messages for a node's clients (see redis-streams.ts)
 *   P sq:<node>  hash  sender node -> "incarnation:seq" of the last message it wrote to s:<node>
 *   P cur:<node> string  the last stream entry id the node has handled (its read cursor)
 */

const PRELUDE = `
local P = ARGV[1]
local function ckey(id) return P .. 'c:' .. id end
local function pairkey(x, y) if x < y then return x .. '|' .. y end return y .. '|' .. x end
local function decode(s) if not s or s == '' then return {} end local ok, v = pcall(cjson.decode, s) if ok and type(v) == 'table' then return v end return {} end
local function shared(a, b)
  local set = {}
  for _, t in ipairs(b) do set[t] = true end
  local out = {}
  for _, t in ipairs(a) do if set[t] then out[#out + 1] = t end end
  return out
end
local function cooling(x, y) return redis.call('EXISTS', P .. 'cd:' .. pairkey(x, y)) == 1 end
local function endmatch(id, cooldownMs)
  local mid = redis.call('HGET', ckey(id), 'mid')
  redis.call('HSET', ckey(id), 'st', '', 'mid', '', 'partner', '')
  if not mid or mid == '' then return nil end
  local m = redis.call('HMGET', P .. 'm:' .. mid, 'a', 'b', 'hub', 'code')
  if not m[1] then return nil end
  local partner = m[2]
  if m[1] ~= id then partner = m[1] end
  redis.call('DEL', P .. 'm:' .. mid)
  if m[4] and m[4] ~= '' then redis.call('DEL', P .. 'p:' .. m[4]) end
  if m[3] and m[3] ~= '' then redis.call('HINCRBY', P .. 'incall', m[3], -2) end
  local pnode = redis.call('HGET', ckey(partner), 'node') or ''
  if redis.call('EXISTS', ckey(partner)) == 1 then redis.call('HSET', ckey(partner), 'st', '', 'mid', '', 'partner', '') end
  if tonumber(cooldownMs) > 0 then redis.call('SET', P .. 'cd:' .. pairkey(id, partner), '1', 'PX', cooldownMs) end
  return { mid = mid, partner = partner, node = pnode }
end
local function detach(id, cooldownMs)
  local c = redis.call('HMGET', ckey(id), 'st', 'hub', 'code')
  if c[1] == 'q' then
    redis.call('LREM', P .. 'q:' .. c[2], 0, id)
  elseif c[1] == 'p' then
    redis.call('DEL', P .. 'p:' .. c[3])
    redis.call('ZREM', P .. 'pexp', c[3])
  elseif c[1] == 'm' then
    return endmatch(id, cooldownMs)
  end
  if c[1] then redis.call('HSET', ckey(id), 'st', '') end
  return nil
end
local function newmatch(mid, a, b, hub, code)
  redis.call('HSET', P .. 'm:' .. mid, 'a', a, 'b', b, 'hub', hub, 'code', code)
  redis.call('HSET', ckey(a), 'st', 'm', 'mid', mid, 'partner', b)
  redis.call('HSET', ckey(b), 'st', 'm', 'mid', mid, 'partner', a)
  if hub ~= '' then redis.call('HINCRBY', P .. 'incall', hub, 2) end
end
-- First the longest-waiting stranger sharing a tag, then anyone when both are "open"
-- (no tags, or waited past the fallback). Cooling pairs only when allowed (last resort).
local function findpartner(me, meInt, meSince, ids, now, fallback, allowCooldown, skip)
  local function usable(cid, cSince)
    if cid == me or skip[cid] then return false end
    if not cooling(me, cid) then return true end
    return allowCooldown and now - cSince >= fallback and now - meSince >= fallback
  end
  if #meInt > 0 then
    for _, cid in ipairs(ids) do
      local c = redis.call('HMGET', ckey(cid), 'int', 'since')
      local since = tonumber(c[2]) or now
      if usable(cid, since) then
        local s = shared(meInt, decode(c[1]))
        if #s > 0 then return cid, s, since end
      end
    end
  end
  if #meInt > 0 and now - meSince < fallback then return nil end
  for _, cid in ipairs(ids) do
    local c = redis.call('HMGET', ckey(cid), 'int', 'since')
    local since = tonumber(c[2]) or now
    if usable(cid, since) then
      local ci = decode(c[1])
      if #ci == 0 or now - since >= fallback then return cid, {}, since end
    end
  end
  return nil
end
`;

/** ARGV: P, id, node, hub, interestsJson, now, fallbackMs, cooldownMs, mid, maxScan */
export const ENQUEUE = PRELUDE + `
local id, node, hub, intJson = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now, fallback, cooldown, mid, maxScan = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8], ARGV[9], tonumber(ARGV[10])
local ended = detach(id, cooldown)
redis.call('HSET', ckey(id), 'node', node, 'hub', hub, 'int', intJson, 'since', now, 'st', '')
redis.call('SADD', P .. 'nc:' .. node, id)
local q = P .. 'q:' .. hub
local ids = redis.call('LRANGE', q, 0, maxScan - 1)
local cid, common, csince = findpartner(id, decode(intJson), now, ids, now, fallback, false, {})
if cid then
  redis.call('LREM', q, 1, cid)
  newmatch(mid, cid, id, hub, '')
  local cnode = redis.call('HGET', ckey(cid), 'node') or ''
  return cjson.encode({ r = 'm', mid = mid, partner = cid, node = cnode, waited = now - csince, common = common, ended = ended })
end
redis.call('RPUSH', q, id)
redis.call('HSET', ckey(id), 'st', 'q')
return cjson.encode({ r = 'q', position = redis.call('LLEN', q), ended = ended })
`;

/** ARGV: P, id, cooldownMs, deleteClient ("1" removes the client record) */
export const REMOVE = PRELUDE + `
local id = ARGV[2]
local ended = detach(id, ARGV[3])
if ARGV[4] == '1' then
  local node = redis.call('HGET', ckey(id), 'node')
  if node then redis.call('SREM', P .. 'nc:' .. node, id) end
  redis.call('DEL', ckey(id))
end
return cjson.encode({ ended = ended })
`;

/** ARGV: P, id, cooldownMs */
export const END_MATCH = PRELUDE + `
local id = ARGV[2]
local st = redis.call('HGET', ckey(id), 'st')
if st ~= 'm' then return cjson.encode({}) end
return cjson.encode({ ended = endmatch(id, ARGV[3]) })
`;

/** ARGV: P, id, node, code, now, exp, cooldownMs */
export const CREATE_PRIVATE = PRELUDE + `
local id, node, code, now, exp = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local ended = detach(id, ARGV[7])
redis.call('HSET', P .. 'p:' .. code, 'owner', id, 'since', now, 'exp', exp, 'mid', '')
redis.call('ZADD', P .. 'pexp', exp, code)
redis.call('HSET', ckey(id), 'node', node, 'st', 'p', 'code', code, 'hub', '', 'since', now)
redis.call('SADD', P .. 'nc:' .. node, id)
return cjson.encode({ ended = ended })
`;

/** ARGV: P, id, node, code, now, mid, cooldownMs */
export const JOIN_PRIVATE = PRELUDE + `
local id, node, code, now, mid = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local p = redis.call('HMGET', P .. 'p:' .. code, 'owner', 'exp', 'mid', 'since')
if not p[1] then return cjson.encode({ r = 'not-found' }) end
local used = p[3] and p[3] ~= ''
if not used and tonumber(p[2]) <= now then return cjson.encode({ r = 'not-found' }) end
if p[1] == id then return cjson.encode({ r = 'own-code' }) end
if used then return cjson.encode({ r = 'full' }) end
local ended = detach(id, ARGV[7])
redis.call('HSET', ckey(id), 'node', node, 'hub', '', 'since', now)
redis.call('SADD', P .. 'nc:' .. node, id)
newmatch(mid, p[1], id, '', code)
redis.call('HSET', P .. 'p:' .. code, 'mid', mid)
redis.call('ZREM', P .. 'pexp', code)
local onode = redis.call('HGET', ckey(p[1]), 'node') or ''
return cjson.encode({ r = 'matched', owner = p[1], node = onode, waited = now - tonumber(p[4]), ended = ended })
`;

/**
 * Interest fallback, cooldown last resort and private-code expiry for every hub.
 * ARGV: P, hubsJson, now, fallbackMs, maxScan, midsJson (fresh match ids to use)
 */
export const TICK = PRELUDE + `
local hubs, now, fallback, maxScan, mids = cjson.decode(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), cjson.decode(ARGV[6])
local used, matches, expired = 0, {}, {}
for _, hub in ipairs(hubs) do
  local q = P .. 'q:' .. hub
  if redis.call('LLEN', q) >= 2 then
    for _, allow in ipairs({ false, true }) do
      local ids = redis.call('LRANGE', q, 0, maxScan - 1)
      local taken = {}
      for i, me in ipairs(ids) do
        if used >= #mids then break end
        if not taken[me] then
          local c = redis.call('HMGET', ckey(me), 'int', 'since')
          local rest = {}
          for j = i + 1, #ids do rest[#rest + 1] = ids[j] end
          local cid, common, csince = findpartner(me, decode(c[1]), tonumber(c[2]) or now, rest, now, fallback, allow, taken)
          if cid then
            used = used + 1
            local mid = mids[used]
            taken[me] = true
            taken[cid] = true
            redis.call('LREM', q, 1, me)
            redis.call('LREM', q, 1, cid)
            newmatch(mid, me, cid, hub, '')
            matches[#matches + 1] = { mid = mid, hub = hub, a = me, anode = redis.call('HGET', ckey(me), 'node') or '', awaited = now - (tonumber(c[2]) or now),
              b = cid, bnode = redis.call('HGET', ckey(cid), 'node') or '', bwaited = now - csince, common = common }
          end
        end
      end
    end
  end
end
for _, code in ipairs(redis.call('ZRANGEBYSCORE', P .. 'pexp', '-inf', now)) do
  redis.call('ZREM', P .. 'pexp', code)
  local p = redis.call('HMGET', P .. 'p:' .. code, 'owner', 'mid')
  if p[1] and (not p[2] or p[2] == '') then
    redis.call('DEL', P .. 'p:' .. code)
    if redis.call('HGET', ckey(p[1]), 'code') == code and redis.call('HGET', ckey(p[1]), 'st') == 'p' then
      redis.call('HSET', ckey(p[1]), 'st', '', 'code', '')
      expired[#expired + 1] = { owner = p[1], node = redis.call('HGET', ckey(p[1]), 'node') or '', code = code }
    end
  end
end
return cjson.encode({ matches = matches, expired = expired })
`;

/** ARGV: P, hubsJson -> [[hub, waiting, inCall], ...] */
export const COUNTS = `
local P = ARGV[1]
local out = {}
for _, hub in ipairs(cjson.decode(ARGV[2])) do
  out[#out + 1] = { hub, redis.call('LLEN', P .. 'q:' .. hub), tonumber(redis.call('HGET', P .. 'incall', hub) or '0') }
end
return cjson.encode(out)
`;

/** Consistency check used by tests: returns "" or a description of the first broken invariant. ARGV: P, hubsJson */
export const CHECK = `
local P = ARGV[1]
local seen = {}
for _, hub in ipairs(cjson.decode(ARGV[2])) do
  for _, id in ipairs(redis.call('LRANGE', P .. 'q:' .. hub, 0, -1)) do
    if seen[id] then return id .. ' queued twice' end
    seen[id] = true
    local c = redis.call('HMGET', P .. 'c:' .. id, 'st', 'hub')
    if c[1] ~= 'q' or c[2] ~= hub then return id .. ' in queue ' .. hub .. ' but st=' .. tostring(c[1]) end
  end
end
for _, key in ipairs(redis.call('KEYS', P .. 'm:*')) do
  local mid = string.sub(key, #P + 3)
  local m = redis.call('HMGET', key, 'a', 'b')
  for _, id in ipairs(m) do
    if seen[id] then return id .. ' both queued and matched, or in two matches' end
    seen[id] = true
    local c = redis.call('HMGET', P .. 'c:' .. id, 'st', 'mid')
    if c[1] ~= 'm' or c[2] ~= mid then return id .. ' in match ' .. mid .. ' but st=' .. tostring(c[1]) .. ' mid=' .. tostring(c[2]) end
  end
end
for _, key in ipairs(redis.call('KEYS', P .. 'c:*')) do
  local id = string.sub(key, #P + 3)
  local st = redis.call('HGET', key, 'st')
  if (st == 'q' or st == 'm') and not seen[id] then return id .. ' has st=' .. st .. ' but is in no queue or match' end
end
return ''
`;

/**
 * Appends one cross-node message to a node's stream, exactly once and in order per sender: the
 * sender numbers its messages per destination (seq, within an incarnation); a seq already
 * written is answered "dup" (the sender resent after an unanswered write), one that skips
 * ahead "gap" (an earlier one is not in yet: the sender resends from there). A new incarnation,
 * or a Redis that lost its data, starts over. The stream is bounded in length (MAXLEN ~) and
 * in age (MINID ~ now - maxAge), both trimmed here, where they are written.
 * ARGV: P, dest, fromNode, incarnation, seq, maxLen, maxAgeMs, sentAtMs, payload
 */
export const XADD_SEQ = `
local P, dest, from, inc, seq = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local sk = P .. 'sq:' .. dest
local last = redis.call('HGET', sk, from)
if last then
  local i = string.find(last, ':', 1, true)
  if i and string.sub(last, 1, i - 1) == inc then
    local lseq = tonumber(string.sub(last, i + 1))
    if seq <= lseq then return 'dup' end
    if seq ~= lseq + 1 then return 'gap' end
  end
end
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local skey = P .. 's:' .. dest
redis.call('XADD', skey, 'MAXLEN', '~', ARGV[6], '*', 'f', from, 'i', inc, 'q', ARGV[5], 't', ARGV[8], 'm', ARGV[9])
redis.call('XTRIM', skey, 'MINID', '~', tostring(nowMs - tonumber(ARGV[7])))
redis.call('HSET', sk, from, inc .. ':' .. ARGV[5])
return 'ok'
`;
