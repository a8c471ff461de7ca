/**
 * Lua scripts of the Redis matchmaker. Each runs atomically inside Redis, so two nodes can
 * never hand the same waiting client to two partners. Every key shares the `{chz}` hash tag:
 * on Redis Cluster they land in one slot, so the scripts stay legal there too.
 *
 * Keys (P = prefix, default "{chz}:"):
 *   P c:<id>     hash  client: node, st (q|p|m|""), hub, int (JSON tags), since, mid, partner, code,
 *                      rtt (JSON round trips to the landmarks, pairing.ts: only while st = q, nearby pairing)
 *   P q:<hub>    list  waiting client ids, oldest first
 *   P nb:<hub>   zset  nearby pairing: waiting client -> when its wait next crosses a boundary (a tier, the interest wait)
 *   P m:<mid>    hash  match: a (offerer), b (answerer), hub ("" if private), code
 *   P mseq       hash  n: the number of the last match made, epoch: when n started at 1 (notices carry both)
 *   P p:<code>   hash  private call: owner, since, exp, mid
 *   P pexp       zset  private codes by expiry
 *   P cd:<x|y>   string with PX: rematch cooldown of a pair ('1'), or a block after a report ('b')
 *   P cdexp      zset  pair key -> when its cooldown ends (Redis clock): the tick re-examines both then
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
local function redisnow() local t = redis.call('TIME') return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) end
local function shared(a, b)
  local set = {}
  for _, t in ipairs(b) do set[t] = true end
  local out = {}
  for _, t in ipairs(a) do if set[t] then out[#out + 1] = t end end
  return out
end
-- A pair's cooldown key holds '1' (a rematch cooldown: a last resort) or 'b' (blocked: one
-- reported the other; never paired while it lasts).
local function cooling(x, y) return redis.call('GET', P .. 'cd:' .. pairkey(x, y)) end
local function endmatch(id, cooldownMs, blockMs)
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
  local cd, block, mark = tonumber(cooldownMs), tonumber(blockMs) or 0, '1'
  if block > cd then cd = block mark = 'b' end
  if cd > 0 then
    redis.call('SET', P .. 'cd:' .. pairkey(id, partner), mark, 'PX', cd)
    redis.call('ZADD', P .. 'cdexp', redisnow() + cd, pairkey(id, partner))
  end
  return { mid = mid, partner = partner, node = pnode }
end
-- Leaving a queue forgets the round trips (they never outlive the wait).
local function unqueue(id, hub)
  redis.call('HDEL', ckey(id), 'rtt')
  if hub and hub ~= '' then redis.call('ZREM', P .. 'nb:' .. hub, id) end
end
local function detach(id, cooldownMs)
  local c = redis.call('HMGET', ckey(id), 'st', 'hub', 'code')
  if c[1] == 'q' then
    redis.call('LREM', P .. 'q:' .. c[2], 0, id)
    unqueue(id, c[2])
  elseif c[1] == 'p' then
    redis.call('DEL', P .. 'p:' .. c[3])
    redis.call('ZREM', P .. 'pexp', c[3])
  elseif c[1] == 'm' then
    return endmatch(id, cooldownMs)
  end
  if c[1] then redis.call('HSET', ckey(id), 'st', '') redis.call('HDEL', ckey(id), 'rtt') end
  return nil
end
-- Returns the match's number { epoch, n }: matches are numbered in the order Redis made them
-- (P mseq), so a node can tell a late notice of an older match from the one its client is in
-- now. A Redis that lost its data starts again at n = 1 under a later epoch (its clock, ms).
local function newmatch(mid, a, b, hub, code)
  local n = redis.call('HINCRBY', P .. 'mseq', 'n', 1)
  if n == 1 then redis.call('HSET', P .. 'mseq', 'epoch', redisnow()) end
  local seq = { tonumber(redis.call('HGET', P .. 'mseq', 'epoch')) or 0, n }
  redis.call('HSET', P .. 'm:' .. mid, 'a', a, 'b', b, 'hub', hub, 'code', code)
  redis.call('HSET', ckey(a), 'st', 'm', 'mid', mid, 'partner', b)
  redis.call('HSET', ckey(b), 'st', 'm', 'mid', mid, 'partner', a)
  unqueue(a, hub)
  unqueue(b, hub)
  if hub ~= '' then redis.call('HINCRBY', P .. 'incall', hub, 2) end
  return seq
end

-- Nearby pairing (a port of src/signal/pairing.ts). tiersJson: [{ untilMs, maxRttMs }], a JSON
-- null standing for Infinity; read once per script into arrays.
local function parsetiers(json)
  local T = { until_ = {}, max = {}, near = math.huge }
  for i, t in ipairs(cjson.decode(json)) do
    T.until_[i] = tonumber(t.untilMs) or math.huge
    T.max[i] = tonumber(t.maxRttMs) or math.huge
  end
  if T.max[1] then T.near = T.max[1] end
  return T
end
-- The largest estimate acceptable after waiting \`waited\` (acceptableRttMs).
local function acceptable(waited, T)
  local u, m = T.until_, T.max
  for i = 1, #u do if waited < u[i] then return m[i] end end
  return math.huge
end
-- The waits at which a pair may become acceptable: each tier's end and the interest fallback.
local function bounds(T, fallback)
  local out = {}
  for _, u in ipairs(T.until_) do if u ~= math.huge then out[#out + 1] = u end end
  out[#out + 1] = fallback
  table.sort(out)
  return out
end
-- When a client waiting since \`since\` next crosses a boundary after \`after\` (nil: never again).
local function nextdue(bs, since, after)
  for _, b in ipairs(bs) do if since + b > after then return since + b end end
  return nil
end
-- A waiting client's tags, arrival time and round trips, read once per script run.
local function load(cache, cid, now)
  local c = cache[cid]
  if c then return c end
  local h = redis.call('HMGET', ckey(cid), 'int', 'since', 'rtt')
  local rtt = nil
  if h[3] and h[3] ~= '' then rtt = decode(h[3]) end
  c = { int = decode(h[1]), since = tonumber(h[2]) or now, rtt = rtt }
  cache[cid] = c
  return c
end

-- Who \`me\` is paired with among \`ids\` (arrival order). Returns the id, the shared tags, its
-- since and the estimate (nil: unknown), or nil; and last, whether a cooling pair was passed
-- over (only then can a last-resort pass, allowCooldown, find more). Cooling pairs only when
-- allowed, and only once both waited past the fallback.
-- Without tiers (--pairing random) or without round trips: the longest-waiting stranger sharing
-- a tag, then anyone when both are "open" (no tags, or waited past the fallback).
-- With tiers and round trips (pickNearby): among those sharing a tag, and anyone open when we
-- are, skip those whose estimate (estimatePairRttMs: the smallest sum over the landmarks both
-- measured) exceeds the limit of the longer wait; the best has (shares a tag) + (estimate
-- within the first tier), then the smaller estimate, then arrived first.
local function findpartner(me, meInt, meSince, meRtt, ids, now, fallback, allowCooldown, skip, cache, T)
  local passedCooling = false
  local function usable(cid, cSince)
    local cool = cooling(me, cid)
    if not cool then return true end
    if cool == 'b' then return false end
    if allowCooldown and now - cSince >= fallback and now - meSince >= fallback then return true end
    passedCooling = true
    return false
  end
  local meOpen = #meInt == 0 or now - meSince >= fallback
  if T and meRtt then
    local names, vals, n = {}, {}, 0
    for name, v in pairs(meRtt) do if type(v) == 'number' then n = n + 1 names[n] = name vals[n] = v end end
    local tags = {}
    for _, t in ipairs(meInt) do tags[t] = true end
    local hasTags, meWaited, near = #meInt > 0, now - meSince, T.near
    local best, bestScore, bestRtt, bestEst, bestSince = nil, -1, math.huge, nil, nil
    for _, cid in ipairs(ids) do
      if cid ~= me and not skip[cid] then
        local c = load(cache, cid, now)
        local ci = c.int
        local sh = false
        if hasTags then for k = 1, #ci do if tags[ci[k]] then sh = true break end end end
        if sh or (meOpen and (#ci == 0 or now - c.since >= fallback)) then
          local est, cr = nil, c.rtt
          if cr then
            for k = 1, n do
              local rb = cr[names[k]]
              if type(rb) == 'number' and (est == nil or vals[k] + rb < est) then est = vals[k] + rb end
            end
          end
          local waited = now - c.since
          if waited < meWaited then waited = meWaited end
          if est == nil or est <= acceptable(waited, T) then
            local score = 0
            if sh then score = 1 end
            if est ~= nil and est <= near then score = score + 1 end
            local rtt = est or math.huge
            if (score > bestScore or (score == bestScore and rtt < bestRtt)) and usable(cid, c.since) then
              best, bestScore, bestRtt, bestEst, bestSince = cid, score, rtt, est, c.since
            end
          end
        end
      end
    end
    if best then return best, shared(meInt, load(cache, best, now).int), bestSince, bestEst, passedCooling end
    return nil, nil, nil, nil, passedCooling
  end
  if #meInt > 0 then
    for _, cid in ipairs(ids) do
      if cid ~= me and not skip[cid] then
        local c = load(cache, cid, now)
        local s = shared(meInt, c.int)
        if #s > 0 and usable(cid, c.since) then return cid, s, c.since, nil, passedCooling end
      end
    end
  end
  if not meOpen then return nil, nil, nil, nil, passedCooling end
  for _, cid in ipairs(ids) do
    if cid ~= me and not skip[cid] then
      local c = load(cache, cid, now)
      if (#c.int == 0 or now - c.since >= fallback) and usable(cid, c.since) then return cid, {}, c.since, nil, passedCooling end
    end
  end
  return nil, nil, nil, nil, passedCooling
end
`;

/**
 * Pairs a newcomer with a waiting stranger, or queues it.
 * ARGV: P, id, node, hub, interestsJson, now, fallbackMs, cooldownMs, mid, maxScan, rttsJson
 * ("" when unknown), tiersJson ("" for --pairing random: arrival order, no round trips kept)
 */
export const ENQUEUE = PRELUDE + `
local id, node, hub, intJson = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now, fallback, cooldown, mid, maxScan = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8], ARGV[9], tonumber(ARGV[10])
local rttJson, tiersJson = ARGV[11] or '', ARGV[12] or ''
local tiers, meRtt = nil, nil
if tiersJson ~= '' then tiers = parsetiers(tiersJson) end
if tiers and rttJson ~= '' then meRtt = decode(rttJson) end
local ended = detach(id, cooldown)
redis.call('HSET', ckey(id), 'node', node, 'hub', hub, 'int', intJson, 'since', now, 'st', '')
redis.call('SADD', P .. 'nc:' .. node, id)
local q = P .. 'q:' .. hub
local ids = redis.call('LRANGE', q, 0, maxScan - 1)
local meInt = decode(intJson)
local cache = {}
local cid, _, csince, est = findpartner(id, meInt, now, meRtt, ids, now, fallback, false, {}, cache, tiers)
if cid then
  redis.call('LREM', q, 1, cid)
  -- The one who waited offers; its tags' order, as in the in-memory matchmaker.
  local common = shared(load(cache, cid, now).int, meInt)
  local seq = newmatch(mid, cid, id, hub, '')
  local cnode = redis.call('HGET', ckey(cid), 'node') or ''
  return cjson.encode({ r = 'm', mid = mid, seq = seq, partner = cid, node = cnode, waited = now - csince, common = common, est = est, ended = ended })
end
redis.call('RPUSH', q, id)
redis.call('HSET', ckey(id), 'st', 'q')
if meRtt then redis.call('HSET', ckey(id), 'rtt', rttJson) end
if tiers then
  local due = nextdue(bounds(tiers, fallback), now, -math.huge)
  if due then redis.call('ZADD', P .. 'nb:' .. hub, due, id) end
end
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

/** ARGV: P, a, b, blockMs: the two are never paired while it lasts. */
export const BLOCK_PAIR = PRELUDE + `
local k = pairkey(ARGV[2], ARGV[3])
redis.call('SET', P .. 'cd:' .. k, 'b', 'PX', tonumber(ARGV[4]))
redis.call('ZADD', P .. 'cdexp', redisnow() + tonumber(ARGV[4]), k)
return 1
`;

/** ARGV: P, id, cooldownMs, blockMs (0: none) */
export const END_MATCH = PRELUDE + `
local id = ARGV[2]
local st = redis.call('HGET', ckey(id), 'st')
if st ~= 'm' then return cjson.encode({}) end
return cjson.encode({ ended = endmatch(id, ARGV[3], ARGV[4]) })
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
local seq = newmatch(mid, p[1], id, '', code)
redis.call('HSET', P .. 'p:' .. code, 'mid', mid)
redis.call('ZREM', P .. 'pexp', code)
local onode = redis.call('HGET', ckey(p[1]), 'node') or ''
return cjson.encode({ r = 'matched', seq = seq, owner = p[1], node = onode, waited = now - tonumber(p[4]), ended = ended })
`;

/**
 * Re-examines waiting clients, for every hub: interest fallback, cooldown last resort, nearby
 * widening; then private-code expiry. Pairs at most #mids.
 * With --pairing random (tiersJson ""): every waiting client against those behind it, oldest
 * first. With nearby pairing: a pair that was not acceptable becomes acceptable only when one of
 * the two crosses a boundary of its wait (a tier's end, the interest fallback: P nb:<hub>) or
 * their cooldown ends (P cdexp), and every newcomer was examined against everyone on arrival;
 * so only those clients are examined, each against the whole queue (as the in-memory
 * matchmaker's tick does). The one who came first offers. So that one tick cannot hold Redis
 * for long when hundreds cross at once, it examines at most maxWork candidates (movers x queue);
 * the movers left over are examined on the next tick.
 * ARGV: P, hubsJson, now, fallbackMs, maxScan, midsJson (fresh match ids to use), tiersJson,
 * maxWork
 */
export const TICK = PRELUDE + `
local hubs, now, fallback, maxScan, mids = cjson.decode(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), cjson.decode(ARGV[6])
local tiersJson, maxWork = ARGV[7] or '', tonumber(ARGV[8]) or math.huge
local tiers = nil
if tiersJson ~= '' then tiers = parsetiers(tiersJson) end
local used, matches, expired = 0, {}, {}
-- Candidates examined so far (nearby): past maxWork, the remaining movers wait for the next tick.
local work, cut = 0, false
-- Cooldowns that ended (on Redis's clock, as their keys' expiry): both are examined again. The
-- key goes now too: within a script Redis judges expiry at the script's start, a moment before.
local cooled = {}
local cooledKeys = redis.call('ZRANGEBYSCORE', P .. 'cdexp', '-inf', redisnow(), 'LIMIT', 0, 1000)
for _, k in ipairs(cooledKeys) do
  redis.call('ZREM', P .. 'cdexp', k)
  redis.call('DEL', P .. 'cd:' .. k)
  local i = string.find(k, '|', 1, true)
  if i then cooled[string.sub(k, 1, i - 1)] = true cooled[string.sub(k, i + 1)] = true end
end
local function record(mid, hub, a, b, cache, est)
  local ca, cb = load(cache, a, now), load(cache, b, now)
  local seq = newmatch(mid, a, b, hub, '')
  matches[#matches + 1] = { mid = mid, seq = seq, hub = hub, a = a, anode = redis.call('HGET', ckey(a), 'node') or '', awaited = now - ca.since,
    b = b, bnode = redis.call('HGET', ckey(b), 'node') or '', bwaited = now - cb.since, common = shared(ca.int, cb.int), est = est }
end
for _, hub in ipairs(hubs) do
  local q = P .. 'q:' .. hub
  if tiers then
    local nb = P .. 'nb:' .. hub
    local bs = bounds(tiers, fallback)
    local ids = redis.call('LRANGE', q, 0, maxScan - 1)
    local pos = {}
    for i, id in ipairs(ids) do pos[id] = i end
    local cache, due, taken = {}, {}, {}
    local function reschedule(id, since)
      local nxt = nextdue(bs, since, now)
      if nxt then redis.call('ZADD', nb, nxt, id) else redis.call('ZREM', nb, id) end
    end
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', nb, '-inf', now)) do
      if pos[id] then
        due[id] = true
      else
        -- Past the scan bound (its crossing is spent, as in memory), or no longer waiting here.
        local c = redis.call('HMGET', ckey(id), 'st', 'hub', 'since')
        if c[1] == 'q' and c[2] == hub then reschedule(id, tonumber(c[3]) or now) else redis.call('ZREM', nb, id) end
      end
    end
    -- In queue order. A mover left over when the match ids or the work run out stays due.
    for i, me in ipairs(ids) do
      if (due[me] or cooled[me]) and not taken[me] then
        if used >= #mids or (work > 0 and work + #ids > maxWork) then cut = true break end
        local c = load(cache, me, now)
        work = work + #ids
        local cid, _, _, est, passed = findpartner(me, c.int, c.since, c.rtt, ids, now, fallback, false, taken, cache, tiers)
        if not cid and passed then
          work = work + #ids
          cid, _, _, est = findpartner(me, c.int, c.since, c.rtt, ids, now, fallback, true, taken, cache, tiers)
        end
        if cid then
          used = used + 1
          taken[me] = true
          taken[cid] = true
          redis.call('LREM', q, 1, me)
          redis.call('LREM', q, 1, cid)
          if pos[cid] < i then record(mids[used], hub, cid, me, cache, est) else record(mids[used], hub, me, cid, cache, est) end
        elseif due[me] then
          reschedule(me, c.since)
        end
      end
    end
  elseif redis.call('LLEN', q) >= 2 then
    for _, allow in ipairs({ false, true }) do
      local ids = redis.call('LRANGE', q, 0, maxScan - 1)
      local taken, cache = {}, {}
      for i, me in ipairs(ids) do
        if used >= #mids then break end
        if not taken[me] then
          local c = load(cache, me, now)
          local rest = {}
          for j = i + 1, #ids do rest[#rest + 1] = ids[j] end
          local cid = findpartner(me, c.int, c.since, nil, rest, now, fallback, allow, taken, cache, nil)
          if cid then
            used = used + 1
            taken[me] = true
            taken[cid] = true
            redis.call('LREM', q, 1, me)
            redis.call('LREM', q, 1, cid)
            record(mids[used], hub, me, cid, cache, nil)
          end
        end
      end
    end
  end
end
-- Cut short: the ended cooldowns are looked at again next tick (their keys are gone already).
if cut then for _, k in ipairs(cooledKeys) do redis.call('ZADD', P .. 'cdexp', 0, k) end end
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
  if st ~= 'q' and redis.call('HEXISTS', key, 'rtt') == 1 then return id .. ' keeps its round trips with st=' .. tostring(st) end
end
for _, hub in ipairs(cjson.decode(ARGV[2])) do
  for _, id in ipairs(redis.call('ZRANGE', P .. 'nb:' .. hub, 0, -1)) do
    local c = redis.call('HMGET', P .. 'c:' .. id, 'st', 'hub')
    if c[1] ~= 'q' or c[2] ~= hub then return id .. ' due in ' .. hub .. ' but st=' .. tostring(c[1]) .. ' hub=' .. tostring(c[2]) end
  end
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
