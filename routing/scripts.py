"""Lua scripts: every routing state change is one atomic script, so any number of processes can route.

All scripts share PRELUDE (agent/interaction loaders, capacity rules, strategy scores, offer,
requeue, route and drain). KEYS[1] is the org's key prefix ``sb:{org}:`` — every key a script
touches carries that hash tag, so on a Redis Cluster they all live in the org's slot. ARGV[1] is
always the current time in ms, taken from the caller's Clock. Each script returns a JSON report of
what changed (offers made, offers revoked, agents whose state/load changed, decisions) that the
Python side turns into Socket.IO emits and PostgreSQL writes.
"""

from __future__ import annotations

PRELUDE = r"""
local P = KEYS[1]
local NOW = tonumber(ARGV[1])
local SCAN = 50
local DRAIN_SCAN = 20
local out = {offers = {}, revoked = {}, agents = {}, decisions = {}, connected = {}, ended = {}, completed = {}, requeued = {}}
local touched = {}

local function jd(s, default) if s and s ~= '' then return cjson.decode(s) end return default end
local function fmt(n) return string.format('%.0f', n) end
local function nz(v) if v == false or v == '' then return nil end return v end
local function fail(code, msg) return cjson.encode({error = {code = code, message = msg}}) end

local function load_agent(id)
  local k = P .. 'a:' .. id
  local f = redis.call('HMGET', k, 'state', 'skills', 'cap', 'load', 'queues', 'ps', 'idle', 'idle_code', 'after_wrap')
  if not f[1] then return nil end
  return {id = id, key = k, state = f[1], skills = jd(f[2], {}), cap = jd(f[3], {}), load = jd(f[4], {}),
          queues = jd(f[5], {}), ps = jd(f[6], {}), idle = tonumber(f[7] or '0'), idle_code = nz(f[8]),
          after_wrap = nz(f[9])}
end

local function touch(a) touched[a.id] = a end

local function save_agent(a)
  redis.call('HSET', a.key, 'state', a.state, 'load', cjson.encode(a.load), 'idle', fmt(a.idle), 'since_state', a.since_state or redis.call('HGET', a.key, 'since_state') or fmt(NOW))
  if a.idle_code then redis.call('HSET', a.key, 'idle_code', a.idle_code) else redis.call('HDEL', a.key, 'idle_code') end
end

local function set_state(a, state, code)
  if a.state ~= state or a.idle_code ~= code then a.since_state = fmt(NOW) end
  if state == 'available' and a.state ~= 'available' then a.idle = NOW end
  a.state = state
  a.idle_code = code
end

local function total_load(a) local t = 0; for _, n in pairs(a.load) do t = t + n end; return t end

-- Voice is exclusive: an agent holding a call takes nothing else, and a call needs an idle agent.
local function has_room(a, ch)
  if (a.load['voice'] or 0) > 0 then return false end
  if ch == 'voice' then return (a.cap['voice'] or 0) > 0 and total_load(a) == 0 end
  return (a.load[ch] or 0) < (a.cap[ch] or 0)
end

local qcache = {}
local function qcfg(name)
  local c = qcache[name]
  if c == nil then
    local f = redis.call('HMGET', P .. 'qcfg:' .. name, 'strategy', 'channels', 'offer_ms', 'wrap_ms', 'skills')
    if not f[1] then c = false else
      c = {name = name, strategy = f[1], channels = jd(f[2], {}), offer_ms = tonumber(f[3] or '20000'),
           wrap_ms = tonumber(f[4] or '30000'), skills = jd(f[5], {})}
    end
    qcache[name] = c
  end
  return c
end

local function occupancy(a)
  local occ = 0
  for ch, n in pairs(a.load) do local cap = a.cap[ch] or 0; if cap > 0 then occ = occ + n / cap end end
  return math.min(math.floor(occ * 1000 + 0.5), 99999)
end

-- Strategy scores (lower is preferred); routing/strategies.py holds the same formulas in Python.
local function score(a, q)
  local s = q.strategy
  if s == 'most_skilled' then return (100 - math.min(a.ps[q.name] or 0, 99)) * 1e13 + a.idle
  elseif s == 'least_occupied' then return occupancy(a) * 1e10 + math.floor(a.idle / 1000)
  elseif s == 'round_robin' then return tonumber(redis.call('HGET', a.key, 'rr:' .. q.name) or '0')
  end
  return a.idle
end

local CHANNELS = {'chat', 'sms', 'whatsapp', 'messenger', 'email', 'voice'}

-- Out of every ready set of the queue (all channels, whatever the queue takes today).
local function unready(id, qn)
  local rk = P .. 'ready:' .. qn
  redis.call('ZREM', rk, id)
  for _, ch in ipairs(CHANNELS) do redis.call('ZREM', rk .. ':' .. ch, id) end
end

-- Keep the agent's place in the ready sets of every queue it serves in step with its state and
-- load: one per channel (ready:<queue>:<channel>, what routing scans, so an agent full on chat is
-- never a chat candidate) and one for any channel (ready:<queue>, what the dashboard counts).
local function refresh(a)
  for _, qn in ipairs(a.queues) do
    local q = qcfg(qn)
    if q then
      local rk = P .. 'ready:' .. qn
      local sc = nil
      if a.state == 'available' then
        for _, ch in ipairs(q.channels) do
          if has_room(a, ch) then
            sc = sc or fmt(score(a, q))
            redis.call('ZADD', rk .. ':' .. ch, sc, a.id)
          else
            redis.call('ZREM', rk .. ':' .. ch, a.id)
          end
        end
      end
      if sc then redis.call('ZADD', rk, sc, a.id)
      else unready(a.id, qn) end
    end
  end
end

-- Write the agent back, re-place it in its queues' ready sets, and report it.
local function commit(a) save_agent(a); refresh(a); touch(a) end

local function load_it(iid)
  local k = P .. 'i:' .. iid
  local f = redis.call('HMGET', k, 'state', 'queue', 'channel', 'prio', 'enq', 'req', 'agent', 'offer', 'pref', 'pref_until', 'extra')
  if not f[1] then return nil end
  return {id = iid, key = k, state = f[1], queue = f[2], channel = f[3], prio = tonumber(f[4]), enq = tonumber(f[5]),
          req = jd(f[6], {}), agent = nz(f[7]), offer = nz(f[8]), pref = nz(f[9]),
          pref_until = tonumber(f[10] or '0'), extra = jd(f[11], {})}
end

-- What an interaction needs in a queue: the queue's skills plus its own, at the higher minimum.
local function requirements(q, extra)
  local req = {}
  for s, m in pairs(q.skills) do req[s] = m end
  for s, m in pairs(extra) do if (req[s] or 0) < m then req[s] = m end end
  return req
end

-- What a desktop shows of an interaction, carried in the report so no one reads the hash again.
local function card(it)
  local f = redis.call('HMGET', it.key, 'subject', 'customer', 'cname')
  return {channel = it.channel, queue = it.queue, state = it.state, prio = it.prio, enq = it.enq,
          subject = nz(f[1]), customer = nz(f[2]), cname = nz(f[3])}
end

-- An interaction moves to another queue, with that queue's requirements plus its own.
local function rehome(it, nq)
  it.queue = nq.name; it.req = requirements(nq, it.extra)
  redis.call('HSET', it.key, 'queue', it.queue, 'req', cjson.encode(it.req))
end

-- Every change of an interaction bumps its version, so PostgreSQL applies reports in Redis order.
local function bump(it) return redis.call('HINCRBY', it.key, 'v', 1) end

local function qscore(it) return (10 - it.prio) * 1e13 + it.enq end

local function why_not(a, it, allow_rej)
  if a.state ~= 'available' then return 'state' end
  if not has_room(a, it.channel) then return 'capacity' end
  for s, m in pairs(it.req) do
    local p = a.skills[s]
    if p == nil then return 'skill' end
    if p < m then return 'proficiency' end
  end
  if not allow_rej and redis.call('SISMEMBER', it.key .. ':rej', a.id) == 1 then return 'rejected_before' end
  return nil
end

local function offer(it, a, rule, trigger, cands)
  local q = qcfg(it.queue)
  local offer_ms = (q and q.offer_ms) or 20000
  local oid = it.id .. '.' .. redis.call('INCR', P .. 'offerseq')
  local exp = NOW + offer_ms
  redis.call('ZREM', P .. 'q:' .. it.queue, it.id)
  redis.call('HSET', it.key, 'state', 'offered', 'agent', a.id, 'offer', oid, 'offered_at', fmt(NOW))
  it.state = 'offered'; it.agent = a.id; it.offer = oid
  a.load[it.channel] = (a.load[it.channel] or 0) + 1
  redis.call('SADD', a.key .. ':open', it.id)
  if q and q.strategy == 'round_robin' then redis.call('HSET', a.key, 'rr:' .. it.queue, fmt(NOW)) end
  commit(a)
  redis.call('ZADD', P .. 'timers', fmt(exp), 'offer|' .. it.id .. '|' .. oid)
  table.insert(out.offers, {iid = it.id, v = bump(it), agent = a.id, offer_id = oid, expires_at = exp, enq = it.enq, queue = it.queue,
                            channel = it.channel, rule = rule, trigger = trigger, candidates = cands, it = card(it)})
end

-- Back to the queue at its original place (the score keeps the first enqueue time).
local function requeue(it, a)
  if it.offer then redis.call('ZREM', P .. 'timers', 'offer|' .. it.id .. '|' .. it.offer) end
  redis.call('HSET', it.key, 'state', 'queued')
  redis.call('HDEL', it.key, 'agent', 'offer')
  it.state = 'queued'; it.agent = nil; it.offer = nil
  redis.call('ZADD', P .. 'q:' .. it.queue, fmt(qscore(it)), it.id)
  if a then
    a.load[it.channel] = math.max(0, (a.load[it.channel] or 1) - 1)
    redis.call('SREM', a.key .. ':open', it.id)
  end
  table.insert(out.requeued, {iid = it.id, v = bump(it), queue = it.queue})
end

local function route_it(it, trigger, allow_rej, quiet)
  if it.state ~= 'queued' then return false end
  local q = qcfg(it.queue)
  if not q then return false end
  local cands = {}
  if it.pref and it.pref_until > NOW then
    local a = load_agent(it.pref)
    if a then
      local r = why_not(a, it, false)
      if r == nil then offer(it, a, 'preferred_agent', trigger, cands); return true end
      table.insert(cands, {it.pref, 'preferred_agent_' .. r})
    end
  end
  local ready_key = P .. 'ready:' .. it.queue .. ':' .. it.channel
  local ids = redis.call('ZRANGE', ready_key, 0, SCAN - 1)
  local decliners = {}
  for _, id in ipairs(ids) do
    local a = load_agent(id)
    if a then
      local r = why_not(a, it, false)
      if r == nil then offer(it, a, q.strategy, trigger, cands); return true end
      table.insert(cands, {id, r})
      if r == 'rejected_before' then table.insert(decliners, a) end
    else
      redis.call('ZREM', ready_key, id)
    end
  end
  -- A decliner gets it again only once every logged-in member of the queue has declined it.
  if allow_rej and #decliners > 0 and #redis.call('SDIFF', P .. 'members:' .. it.queue, it.key .. ':rej') == 0 then
    offer(it, decliners[1], 'all_declined_retry', trigger, cands); return true
  end
  if not quiet then
    table.insert(out.decisions, {iid = it.id, queue = it.queue, outcome = 'waiting', trigger = trigger, candidates = cands,
                                 ready = redis.call('ZCARD', ready_key)})
  end
  return false
end

-- Give a freed agent the best waiting interaction across every queue it serves, until it is full.
local function drain(a, trigger)
  local made = 0
  while a.state == 'available' and made < 10 do
    local best, best_score = nil, nil
    for _, qn in ipairs(a.queues) do
      local qk = P .. 'q:' .. qn
      local ids = redis.call('ZRANGE', qk, 0, DRAIN_SCAN - 1, 'WITHSCORES')
      for i = 1, #ids, 2 do
        local sc = tonumber(ids[i + 1])
        if best_score ~= nil and sc >= best_score then break end
        local it = load_it(ids[i])
        if not it or it.state ~= 'queued' then
          redis.call('ZREM', qk, ids[i])
        elseif why_not(a, it, false) == nil then
          best = it; best_score = sc; break
        end
      end
    end
    if not best then break end
    offer(best, a, 'drain_best_waiting', trigger, {{a.id, 'chosen'}})
    made = made + 1
  end
end

-- The interaction behind an agent's pending offer, or the error to return.
local function pending_offer(agent_id, offer_id)
  local iid = string.match(offer_id, '^(.+)%.%d+$')
  local it = iid and load_it(iid)
  if not it or it.offer ~= offer_id or it.state ~= 'offered' then
    return nil, fail('offer_not_found', 'no such pending offer')
  end
  if it.agent ~= agent_id then return nil, fail('forbidden', 'this offer is not yours') end
  return it, nil
end

local function open_counts(a)
  local counts = {connected = 0, wrap_up = 0, offered = 0}
  for _, iid in ipairs(redis.call('SMEMBERS', a.key .. ':open')) do
    local st = redis.call('HGET', P .. 'i:' .. iid, 'state')
    if st and counts[st] ~= nil then counts[st] = counts[st] + 1 end
  end
  return counts
end

local function finish()
  for id, a in pairs(touched) do
    table.insert(out.agents, {id = id, state = a.state, idle_code = a.idle_code or cjson.null, load = a.load})
  end
  return cjson.encode(out)
end
"""

# ARGV: now, iid, queue, channel, priority, enq_ms, req_json, extra_json, pref_agent, pref_until_ms,
#       customer_id, timers_json ([[at_ms, member], ...]), customer_name, subject, created_ms
ENQUEUE = (
    PRELUDE
    + r"""
local iid = ARGV[2]
local key = P .. 'i:' .. iid
if redis.call('EXISTS', key) == 1 then return finish() end
redis.call('HSET', key, 'state', 'queued', 'queue', ARGV[3], 'channel', ARGV[4], 'prio', ARGV[5], 'enq', ARGV[6],
           'req', ARGV[7], 'extra', ARGV[8], 'pref', ARGV[9], 'pref_until', ARGV[10], 'customer', ARGV[11],
           'cname', ARGV[13], 'subject', ARGV[14], 'created', ARGV[15])
for _, t in ipairs(jd(ARGV[12], {})) do redis.call('ZADD', P .. 'timers', fmt(t[1]), t[2]) end
local it = load_it(iid)
redis.call('ZADD', P .. 'q:' .. it.queue, fmt(qscore(it)), iid)
route_it(it, 'new', false, false)
out.state = it.state; out.queue = it.queue
if it.state == 'queued' then
  out.position = redis.call('ZRANK', P .. 'q:' .. it.queue, iid) + 1
  out.members = redis.call('SCARD', P .. 'members:' .. it.queue)
end
return finish()
"""
)

# ARGV: now, iid, trigger, allow_rejected (0|1)
ROUTE = (
    PRELUDE
    + r"""
local it = load_it(ARGV[2])
if it then route_it(it, ARGV[3], ARGV[4] == '1', false) end
return finish()
"""
)

# ARGV: now, per_queue — retries the head of every queue (decliner retries included), quietly.
SWEEP = (
    PRELUDE
    + r"""
local per = tonumber(ARGV[2])
for _, qn in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
  for _, iid in ipairs(redis.call('ZRANGE', P .. 'q:' .. qn, 0, per - 1)) do
    local it = load_it(iid)
    if it then route_it(it, 'sweep', true, true) else redis.call('ZREM', P .. 'q:' .. qn, iid) end
  end
end
return finish()
"""
)

# ARGV: now, agent, offer_id
ACCEPT = (
    PRELUDE
    + r"""
local it, why = pending_offer(ARGV[2], ARGV[3])
if not it then return why end
redis.call('ZREM', P .. 'timers', 'offer|' .. it.id .. '|' .. it.offer)
redis.call('HSET', it.key, 'state', 'connected', 'connected_at', fmt(NOW))
redis.call('HDEL', it.key, 'offer')
it.state = 'connected'
table.insert(out.connected, {iid = it.id, v = bump(it), agent = ARGV[2], queue = it.queue, channel = it.channel, it = card(it)})
return finish()
"""
)

# ARGV: now, agent, offer_id
REJECT = (
    PRELUDE
    + r"""
local it, why = pending_offer(ARGV[2], ARGV[3])
if not it then return why end
local a = load_agent(ARGV[2])
redis.call('SADD', it.key .. ':rej', a.id)
requeue(it, a)
commit(a)
route_it(it, 'reject', false, false)
drain(a, 'reject')
return finish()
"""
)

# ARGV: now, iid, offer_id, timer_member — RONA: requeue, and the agent goes not_ready/rona.
OFFER_TIMEOUT = (
    PRELUDE
    + r"""
redis.call('ZREM', P .. 'timers', ARGV[4])
local it = load_it(ARGV[2])
if not it or it.offer ~= ARGV[3] or it.state ~= 'offered' then return finish() end
local a = load_agent(it.agent)
redis.call('SADD', it.key .. ':rej', it.agent)
table.insert(out.revoked, {agent = it.agent, offer_id = it.offer, iid = it.id, reason = 'timeout'})
requeue(it, a)
if a then set_state(a, 'not_ready', 'rona'); commit(a) end
route_it(it, 'rona', false, false)
return finish()
"""
)

# ARGV: now, agent, iid, reason — the conversation ends; the interaction enters wrap-up.
END = (
    PRELUDE
    + r"""
local it = load_it(ARGV[3])
if not it or it.state ~= 'connected' then return fail('invalid_state', 'interaction is not connected') end
if it.agent ~= ARGV[2] then return fail('forbidden', 'this interaction is not yours') end
local a = load_agent(ARGV[2])
local q = qcfg(it.queue)
local wrap_ms = (q and q.wrap_ms) or 30000
redis.call('HSET', it.key, 'state', 'wrap_up', 'ended_at', fmt(NOW), 'end_reason', ARGV[4])
table.insert(out.ended, {iid = it.id, v = bump(it), channel = it.channel, agent = a.id, reason = ARGV[4], wrap_up_s = wrap_ms / 1000})
redis.call('ZADD', P .. 'timers', fmt(NOW + wrap_ms), 'wrap|' .. it.id)
if a.state == 'available' and open_counts(a).connected == 0 then
  set_state(a, 'wrap_up', nil); commit(a)
end
return finish()
"""
)

# ARGV: now, agent, iid, code, notes, timer_member ('' when the agent submits)
WRAP_UP = (
    PRELUDE
    + r"""
local it = load_it(ARGV[3])
if ARGV[6] ~= '' then redis.call('ZREM', P .. 'timers', ARGV[6]) end
if not it or it.state ~= 'wrap_up' then
  if ARGV[6] ~= '' then return finish() end
  return fail('invalid_state', 'interaction is not in wrap-up')
end
local agent = ARGV[2]
if agent == '' then agent = it.agent end
if it.agent ~= agent then return fail('forbidden', 'this interaction is not yours') end
redis.call('ZREM', P .. 'timers', 'wrap|' .. it.id)
redis.call('HSET', it.key, 'state', 'completed', 'completed_at', fmt(NOW))
redis.call('EXPIRE', it.key, 3600)
redis.call('DEL', it.key .. ':rej')
table.insert(out.completed, {iid = it.id, v = bump(it), agent = agent, code = ARGV[4], notes = ARGV[5], auto = ARGV[6] ~= ''})
local a = load_agent(agent)
if a then
  a.load[it.channel] = math.max(0, (a.load[it.channel] or 1) - 1)
  redis.call('SREM', a.key .. ':open', it.id)
  if total_load(a) == 0 then a.idle = NOW end
  if a.state == 'wrap_up' and open_counts(a).wrap_up == 0 then set_state(a, 'available', nil) end
  commit(a)
  drain(a, 'wrap_up_done')
end
return finish()
"""
)

# ARGV: now, agent, state ('available'|'not_ready'), idle_code
SET_STATE = (
    PRELUDE
    + r"""
local a = load_agent(ARGV[2])
if not a or a.state == 'logged_out' then return fail('logged_out', 'agent is not logged in') end
local code = ARGV[4]
if code == '' then code = nil end
set_state(a, ARGV[3], code)
commit(a)
if a.state == 'available' then drain(a, 'available') end
return finish()
"""
)

# ARGV: now, agent, skills_json, cap_json, queues_json, ps_json, display_name
# A login (or a re-login after a reconnect) keeps the state the server holds; a fresh one starts available.
LOGIN = (
    PRELUDE
    + r"""
local key = P .. 'a:' .. ARGV[2]
local old = load_agent(ARGV[2])
redis.call('HSET', key, 'skills', ARGV[3], 'cap', ARGV[4], 'queues', ARGV[5], 'ps', ARGV[6], 'name', ARGV[7])
redis.call('HSETNX', key, 'state', 'logged_out')
if old then
  for _, qn in ipairs(old.queues) do
    redis.call('SREM', P .. 'members:' .. qn, ARGV[2]); unready(ARGV[2], qn)
  end
end
local a = load_agent(ARGV[2])
local fresh = (not old) or old.state == 'logged_out'
if fresh then
  a.state = 'logged_out'; a.load = {}
  set_state(a, 'available', nil)
  redis.call('DEL', a.key .. ':open')
end
save_agent(a)
for _, qn in ipairs(a.queues) do redis.call('SADD', P .. 'members:' .. qn, a.id) end
redis.call('SADD', P .. 'online', a.id)
refresh(a); touch(a)
drain(a, 'login')
local res = cjson.decode(finish())
res.fresh = fresh
return cjson.encode(res)
"""
)

# ARGV: now, agent, force (0|1). Pending offers go back to their queues; a forced logout also
# hands live conversations back to the queue so no customer is left with nobody.
LOGOUT = (
    PRELUDE
    + r"""
local a = load_agent(ARGV[2])
if not a or a.state == 'logged_out' then return finish() end
local force = ARGV[3] == '1'
local open = redis.call('SMEMBERS', a.key .. ':open')
if not force then
  for _, iid in ipairs(open) do
    local st = redis.call('HGET', P .. 'i:' .. iid, 'state')
    if st == 'connected' or st == 'wrap_up' then
      return fail('agent_has_open_interactions', 'end and wrap up open interactions before logging out')
    end
  end
end
local back = {}
for _, iid in ipairs(open) do
  local it = load_it(iid)
  if it and it.agent == a.id and (it.state == 'offered' or it.state == 'connected') then
    if it.state == 'offered' then
      table.insert(out.revoked, {agent = a.id, offer_id = it.offer, iid = it.id, reason = 'logout'})
    else
      table.insert(out.ended, {iid = it.id, v = bump(it), channel = it.channel, agent = a.id, reason = 'agent_logged_out', wrap_up_s = 0})
    end
    requeue(it, a); table.insert(back, it)
  elseif it and it.state == 'wrap_up' then
    redis.call('ZREM', P .. 'timers', 'wrap|' .. it.id)
    redis.call('HSET', it.key, 'state', 'completed', 'completed_at', fmt(NOW))
    redis.call('EXPIRE', it.key, 3600)
    table.insert(out.completed, {iid = it.id, v = bump(it), agent = a.id, code = '', notes = '', auto = true})
  end
end
set_state(a, 'logged_out', nil); a.load = {}
save_agent(a)
redis.call('DEL', a.key .. ':open')
for _, qn in ipairs(a.queues) do
  redis.call('SREM', P .. 'members:' .. qn, a.id); unready(a.id, qn)
end
redis.call('SREM', P .. 'online', a.id)
touch(a)
for _, it in ipairs(back) do route_it(it, 'agent_logout', false, false) end
return finish()
"""
)

# ARGV: now, iid, timer_member, kind ('relax'|'overflow'), value_json — an escalation step falls due.
ESCALATE = (
    PRELUDE
    + r"""
redis.call('ZREM', P .. 'timers', ARGV[3])
local it = load_it(ARGV[2])
if not it or (it.state ~= 'queued' and it.state ~= 'offered') then return finish() end
if it.state == 'offered' then
  -- the offer may still fail; look again shortly
  redis.call('ZADD', P .. 'timers', fmt(NOW + 2000), ARGV[3]); return finish()
end
local v = cjson.decode(ARGV[5])
if ARGV[4] == 'relax' then
  for s, m in pairs(v) do it.req[s] = m end
else
  local nq = qcfg(v)
  if not nq then return finish() end
  redis.call('ZREM', P .. 'q:' .. it.queue, it.id)
  rehome(it, nq)
  redis.call('ZADD', P .. 'q:' .. v, fmt(qscore(it)), it.id)
  table.insert(out.requeued, {iid = it.id, v = bump(it), queue = v, overflow = true})
end
redis.call('HSET', it.key, 'req', cjson.encode(it.req))
route_it(it, 'escalation', false, false)
return finish()
"""
)

# ARGV: now, iid, reason, timer_member — the customer left, or max wait passed ('max_wait' only
# abandons a waiting interaction).
ABANDON = (
    PRELUDE
    + r"""
if ARGV[4] ~= '' then redis.call('ZREM', P .. 'timers', ARGV[4]) end
local it = load_it(ARGV[2])
if not it then return fail('not_found', 'no live interaction') end
local prior = it.state
if ARGV[3] == 'max_wait' and prior == 'offered' then
  redis.call('ZADD', P .. 'timers', fmt(NOW + 2000), ARGV[4]); return finish()
end
if prior == 'queued' then
  redis.call('ZREM', P .. 'q:' .. it.queue, it.id)
elseif prior == 'offered' then
  local a = load_agent(it.agent)
  table.insert(out.revoked, {agent = it.agent, offer_id = it.offer, iid = it.id, reason = 'abandoned'})
  redis.call('ZREM', P .. 'timers', 'offer|' .. it.id .. '|' .. it.offer)
  if a then
    a.load[it.channel] = math.max(0, (a.load[it.channel] or 1) - 1)
    redis.call('SREM', a.key .. ':open', it.id)
    commit(a); drain(a, 'abandoned')
  end
elseif prior == 'connected' then
  local q = qcfg(it.queue)
  local wrap_ms = (q and q.wrap_ms) or 30000
  redis.call('HSET', it.key, 'state', 'wrap_up', 'ended_at', fmt(NOW), 'end_reason', 'customer')
  redis.call('ZADD', P .. 'timers', fmt(NOW + wrap_ms), 'wrap|' .. it.id)
  table.insert(out.ended, {iid = it.id, v = bump(it), channel = it.channel, agent = it.agent, reason = 'customer', wrap_up_s = wrap_ms / 1000})
  local a = load_agent(it.agent)
  if a and a.state == 'available' and open_counts(a).connected == 0 then
    set_state(a, 'wrap_up', nil); commit(a)
  end
  return cjson.encode({prior = prior, report = cjson.decode(finish())})
else
  return cjson.encode({prior = prior, report = cjson.decode(finish())})
end
redis.call('HSET', it.key, 'state', 'abandoned')
out.abandoned = {{iid = it.id, v = bump(it), channel = it.channel, reason = ARGV[3], queue = it.queue}}
redis.call('EXPIRE', it.key, 3600)
redis.call('DEL', it.key .. ':rej')
return cjson.encode({prior = prior, report = cjson.decode(finish())})
"""
)

# ARGV: now, agent, iid, to_queue, to_agent, pref_ms
TRANSFER = (
    PRELUDE
    + r"""
local it = load_it(ARGV[3])
if not it or it.state ~= 'connected' then return fail('invalid_state', 'interaction is not connected') end
if it.agent ~= ARGV[2] then return fail('forbidden', 'this interaction is not yours') end
local target_q = ARGV[4]
if target_q == '' then target_q = it.queue end
local nq = qcfg(target_q)
if not nq then return fail('not_found', 'no such queue') end
local a = load_agent(ARGV[2])
redis.call('SADD', it.key .. ':rej', a.id)
redis.call('ZREM', P .. 'q:' .. it.queue, it.id)
rehome(it, nq)
redis.call('HSET', it.key, 'transferred', '1')
if ARGV[5] ~= '' then
  it.pref = ARGV[5]; it.pref_until = NOW + tonumber(ARGV[6])
  redis.call('HSET', it.key, 'pref', it.pref, 'pref_until', fmt(it.pref_until))
end
table.insert(out.ended, {iid = it.id, v = bump(it), channel = it.channel, agent = a.id, reason = 'transferred', wrap_up_s = 0})
requeue(it, a)
commit(a)
route_it(it, 'transfer', false, false)
drain(a, 'transfer')
return finish()
"""
)

# ARGV: now, iid, to_queue ('' keeps), priority ('' keeps) — a supervisor moves a waiting interaction.
MOVE = (
    PRELUDE
    + r"""
local it = load_it(ARGV[2])
if not it or it.state ~= 'queued' then return fail('invalid_state', 'only a waiting interaction can be moved') end
redis.call('ZREM', P .. 'q:' .. it.queue, it.id)
if ARGV[3] ~= '' then
  local nq = qcfg(ARGV[3])
  if not nq then return fail('not_found', 'no such queue') end
  rehome(it, nq)
end
if ARGV[4] ~= '' then it.prio = tonumber(ARGV[4]); redis.call('HSET', it.key, 'prio', ARGV[4]) end
redis.call('ZADD', P .. 'q:' .. it.queue, fmt(qscore(it)), it.id)
table.insert(out.requeued, {iid = it.id, v = bump(it), queue = it.queue})
route_it(it, 'supervisor_move', false, false)
return finish()
"""
)

# ARGV: now, lease_ms, limit, sweep_ms — claim due timers by pushing them a lease into the future, so
# a process that dies mid-handling leaves them to fire again elsewhere. Also says whether the org is
# idle and for how long (no timer, no agent online: the pollers may drop it from the active set) and,
# when sweep_ms > 0, takes the org's sweep lock for sweep_ms if a sweep could route anything (an agent
# online and someone waiting). Returns {idle_ms (-1 while not idle), swept (0|1), member...}.
TIMERS_DUE = r"""
local P = KEYS[1]
local now = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local sweep_ms = tonumber(ARGV[4] or '0')
local timers = P .. 'timers'
local due = redis.call('ZRANGEBYSCORE', timers, '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, m in ipairs(due) do redis.call('ZADD', timers, string.format('%.0f', now + lease), m) end
local online = redis.call('SCARD', P .. 'online')
local idle = -1
if online == 0 and redis.call('ZCARD', timers) == 0 then
  -- Redis's own clock, so pollers on hosts with skewed clocks agree on how long it has been idle
  local t = redis.call('TIME')
  local real_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local since = redis.call('GET', P .. 'idle')
  if since then idle = math.max(0, real_ms - tonumber(since))
  else redis.call('SET', P .. 'idle', string.format('%.0f', real_ms)); idle = 0 end
elseif redis.call('EXISTS', P .. 'idle') == 1 then
  redis.call('DEL', P .. 'idle')
end
local swept = 0
if sweep_ms > 0 and online > 0 then
  for _, qn in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
    if redis.call('ZCARD', P .. 'q:' .. qn) > 0 then
      if redis.call('SET', P .. 'sweeplock', '1', 'NX', 'PX', sweep_ms) then swept = 1 end
      break
    end
  end
end
local out = {idle, swept}
for _, m in ipairs(due) do out[#out + 1] = m end
return out
"""
