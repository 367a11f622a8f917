/*
 * ledger_lua: the Lua scripts of the Redis ledger (see ledger_redis.h).
 * Every script starts with LUA_PRELUDE: exact two-limb integers (value =
 * hi * 1e12 + lo, both exact in Lua's doubles) for money and nanosecond
 * times, Redis TIME, and the reaper.
 *
 * KEYS (all scripts): 1 meta, 2 lease, 3 hb, 4 seq, 5 tat, 6 keys-set,
 * 7 key:<fp> (key scripts only).  Replies are arrays whose first element is
 * "ok" or a refusal word the C side turns into a message.  Every script of
 * a running process first checks that the ledger still exists ("gone"): a
 * ledger deleted, or lost by a Redis restarted without persistence, must
 * stop its processes, not start an empty one (that would fail open).
 */
#ifndef LLMB_LEDGER_LUA_H
#define LLMB_LEDGER_LUA_H

#define LUA_PRELUDE \
"local B = 1000000000000\n" \
"local function N(s) s = tostring(s or '0'); local n = #s\n" \
"  if n <= 12 then return {0, tonumber(s)} end\n" \
"  return {tonumber(string.sub(s, 1, n - 12)), tonumber(string.sub(s, n - 11))} end\n" \
"local function S(a) if a[1] == 0 then return string.format('%d', a[2]) end\n" \
"  return string.format('%d%012d', a[1], a[2]) end\n" \
"local function add(a, b) local hi, lo = a[1] + b[1], a[2] + b[2]\n" \
"  if lo >= B then lo = lo - B; hi = hi + 1 end return {hi, lo} end\n" \
"local function cmp(a, b) if a[1] ~= b[1] then return a[1] < b[1] and -1 or 1 end\n" \
"  if a[2] ~= b[2] then return a[2] < b[2] and -1 or 1 end return 0 end\n" \
"local function sub0(a, b) if cmp(a, b) <= 0 then return {0, 0} end\n" \
"  local hi, lo = a[1] - b[1], a[2] - b[2]\n" \
"  if lo < 0 then lo = lo + B; hi = hi - 1 end return {hi, lo} end\n" \
"local function mn(a, b) if cmp(a, b) <= 0 then return a end return b end\n" \
"local function mx(a, b) if cmp(a, b) >= 0 then return a end return b end\n" \
"local function L(x) return {math.floor(x / B), x % B} end\n" \
"local function num(a) return a[1] * B + a[2] end\n" \
"local t = redis.call('TIME')\n" \
"local sec, usec = tonumber(t[1]), tonumber(t[2])\n" \
"local now_ms = sec * 1000 + math.floor(usec / 1000)\n" \
"local now_ns = {math.floor(sec / 1000), (sec % 1000) * 1000000000 + usec * 1000}\n" \
"local function reap(dead_ms)\n" \
"  local hb = redis.call('HGETALL', KEYS[3]); local moved = {0, 0}\n" \
"  for i = 1, #hb, 2 do\n" \
"    if now_ms - tonumber(hb[i + 1]) > dead_ms then\n" \
"      moved = add(moved, N(redis.call('HGET', KEYS[2], hb[i])))\n" \
"      redis.call('HDEL', KEYS[2], hb[i]); redis.call('HDEL', KEYS[3], hb[i])\n" \
"      redis.call('HDEL', KEYS[4], hb[i]); redis.call('HINCRBY', KEYS[1], 'reaped', 1)\n" \
"    end\n" \
"  end\n" \
"  if cmp(moved, {0, 0}) > 0 and redis.call('EXISTS', KEYS[1]) == 1 then\n" \
"    redis.call('HSET', KEYS[1], 'spent', S(add(N(redis.call('HGET', KEYS[1], 'spent')), moved)),\n" \
"      'possibly', S(add(N(redis.call('HGET', KEYS[1], 'possibly')), moved)))\n" \
"  end\n" \
"end\n" \
"local function others(id) local ls = redis.call('HGETALL', KEYS[2]); local o = {0, 0}\n" \
"  for i = 1, #ls, 2 do if ls[i] ~= id then o = add(o, N(ls[i + 1])) end end\n" \
"  return o end\n"

/* ARGV: id dead_ms have_budget budget raise rpm tpm */
#define LUA_OPEN LUA_PRELUDE \
"local id, have, budget, raise = ARGV[1], ARGV[3], ARGV[4], ARGV[5]\n" \
"reap(tonumber(ARGV[2]))\n" \
"local created = 0\n" \
"if redis.call('EXISTS', KEYS[1]) == 0 then\n" \
"  redis.call('HSET', KEYS[1], 'capped', have, 'cap', have == '1' and budget or '0', 'spent', '0',\n" \
"    'possibly', '0', 'rpm', ARGV[6], 'tpm', ARGV[7], 'created_ms', now_ms, 'reaped', 0)\n" \
"  created = 1\n" \
"else\n" \
"  local capped, cap = redis.call('HGET', KEYS[1], 'capped'), redis.call('HGET', KEYS[1], 'cap')\n" \
"  if have == '1' then\n" \
"    if capped ~= '1' then return {'nocap'} end\n" \
"    if cmp(N(budget), N(cap)) ~= 0 then\n" \
"      if raise ~= '1' then return {'budget', cap} end\n" \
"      if cmp(N(budget), N(cap)) < 0 then return {'lower', cap} end\n" \
"      redis.call('HSET', KEYS[1], 'cap', budget)\n" \
"    end\n" \
"  end\n" \
"  for i, f in ipairs({'rpm', 'tpm'}) do\n" \
"    local mine, theirs = tonumber(ARGV[5 + i]), tonumber(redis.call('HGET', KEYS[1], f))\n" \
"    if mine > 0 and mine ~= theirs then return {f, tostring(theirs)} end\n" \
"  end\n" \
"end\n" \
"redis.call('HSET', KEYS[2], id, '0'); redis.call('HSET', KEYS[3], id, now_ms)\n" \
"redis.call('HSET', KEYS[4], id, '0')\n" \
"local m = redis.call('HMGET', KEYS[1], 'capped', 'cap', 'spent', 'possibly', 'rpm', 'tpm')\n" \
"return {'ok', m[1], m[2], m[3], m[4], m[5], m[6], tostring(created)}\n"

/* ARGV: id dead_ms seq want in_use settled_delta possibly_delta need.  A
 * grant below need (the least that lets the caller go on) keeps only in_use:
 * the rest goes back to the pool for others. */
#define LUA_LEASE LUA_PRELUDE \
"if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end\n" \
"local id = ARGV[1]\n" \
"reap(tonumber(ARGV[2]))\n" \
"if redis.call('HEXISTS', KEYS[3], id) == 0 then return {'reaped'} end\n" \
"redis.call('HSET', KEYS[3], id, now_ms)\n" \
"local m = redis.call('HMGET', KEYS[1], 'capped', 'cap', 'spent', 'possibly')\n" \
"local spent = N(m[3])\n" \
"if redis.call('HGET', KEYS[4], id) ~= ARGV[3] then\n" \
"  spent = add(spent, N(ARGV[6]))\n" \
"  redis.call('HSET', KEYS[1], 'spent', S(spent), 'possibly', S(add(N(m[4]), N(ARGV[7]))))\n" \
"  local want, inuse = mx(N(ARGV[4]), N(ARGV[5])), N(ARGV[5])\n" \
"  if m[1] == '1' then local room = sub0(sub0(N(m[2]), spent), others(id))\n" \
"    want = mn(want, room)\n" \
"    if cmp(want, N(ARGV[8])) < 0 then want = mn(inuse, room) end\n" \
"  end\n" \
"  redis.call('HSET', KEYS[2], id, S(want)); redis.call('HSET', KEYS[4], id, ARGV[3])\n" \
"end\n" \
"return {'ok', redis.call('HGET', KEYS[2], id), S(spent), S(others(id)), m[1], m[2]}\n"

/* ARGV: id dead_ms */
#define LUA_HEARTBEAT LUA_PRELUDE \
"if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end\n" \
"reap(tonumber(ARGV[2]))\n" \
"if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then return {'reaped'} end\n" \
"redis.call('HSET', KEYS[3], ARGV[1], now_ms)\n" \
"return {'ok'}\n"

/* ARGV: id dead_ms settled_delta possibly_delta in_flight */
#define LUA_RELEASE LUA_PRELUDE \
"if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end\n" \
"local id = ARGV[1]\n" \
"reap(tonumber(ARGV[2]))\n" \
"if redis.call('HEXISTS', KEYS[3], id) == 0 then return {'reaped'} end\n" \
"local m = redis.call('HMGET', KEYS[1], 'spent', 'possibly')\n" \
"redis.call('HSET', KEYS[1], 'spent', S(add(add(N(m[1]), N(ARGV[3])), N(ARGV[5]))),\n" \
"  'possibly', S(add(add(N(m[2]), N(ARGV[4])), N(ARGV[5]))))\n" \
"redis.call('HDEL', KEYS[2], id); redis.call('HDEL', KEYS[3], id); redis.call('HDEL', KEYS[4], id)\n" \
"return {'ok'}\n"

/* ARGV: id kind step_ns n_want horizon_ns n_min.  Grants the slots within
 * the horizon, but at least n_min (one request's weight: a request's units
 * are one block, as the local GCRA moves tat by a whole weight).  Replies
 * the first slot (or, with none granted, the wait) as ns relative to
 * Redis's now. */
#define LUA_SLOTS LUA_PRELUDE \
"if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end\n" \
"if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then return {'reaped'} end\n" \
"redis.call('HSET', KEYS[3], ARGV[1], now_ms)\n" \
"local step, want, horizon = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])\n" \
"local tat = mx(N(redis.call('HGET', KEYS[5], ARGV[2])), now_ns)\n" \
"local lead = num(sub0(tat, now_ns))\n" \
"if lead > horizon then return {'ok', string.format('%d', lead - horizon), '0', S(tat)} end\n" \
"local n = math.min(want, math.max(math.floor((horizon - lead) / step) + 1, tonumber(ARGV[6])))\n" \
"local tend = add(tat, L(n * step))\n" \
"redis.call('HSET', KEYS[5], ARGV[2], S(tend))\n" \
"return {'ok', string.format('%d', lead), string.format('%d', n), S(tend)}\n"

/* ARGV: kind end n_unused step_ns */
#define LUA_RETURN LUA_PRELUDE \
"if redis.call('HGET', KEYS[5], ARGV[1]) ~= ARGV[2] then return {'ok', '0'} end\n" \
"redis.call('HSET', KEYS[5], ARGV[1], S(sub0(N(ARGV[2]), L(tonumber(ARGV[3]) * tonumber(ARGV[4])))))\n" \
"return {'ok', '1'}\n"

/* Key state.  Stored: rpm tpm factor f_ms learned lstep l_ms cool_ms state
 * reason.  LUA_KEYREAD recovers factor / learned rate to now. */
#define LUA_KEYREAD \
"local function keyread(recover, forget_ms)\n" \
"  local k = redis.call('HMGET', KEYS[7], 'rpm', 'tpm', 'factor', 'f_ms', 'learned', 'lstep',\n" \
"    'l_ms', 'cool_ms', 'state', 'reason')\n" \
"  local r = {rpm = tonumber(k[1]) or 0, tpm = tonumber(k[2]) or 0, factor = tonumber(k[3]) or 1,\n" \
"    learned = tonumber(k[5]) or 0, lstep = tonumber(k[6]) or 0, cool = tonumber(k[8]) or 0,\n" \
"    state = tonumber(k[9]) or 0, reason = k[10] or ''}\n" \
"  if r.factor < 1 then r.factor = math.min(1, r.factor + recover * (now_ms - tonumber(k[4])) / 1000) end\n" \
"  if r.learned > 0 then local age = now_ms - tonumber(k[7])\n" \
"    if age >= forget_ms then r.learned = 0 else r.learned = r.learned + r.lstep * age / 1000 end end\n" \
"  return r\n" \
"end\n" \
"local function keyreply(r)\n" \
"  local f = function(x) return string.format('%.17g', x) end\n" \
"  return {'ok', f(r.rpm), f(r.tpm), f(r.factor), f(r.learned), f(r.lstep),\n" \
"    string.format('%d', math.max(0, r.cool - now_ms)), tostring(r.state), r.reason}\n" \
"end\n"

/* ARGV: recover_per_s forget_ms */
#define LUA_KEYGET LUA_PRELUDE LUA_KEYREAD \
"return keyreply(keyread(tonumber(ARGV[1]), tonumber(ARGV[2])))\n"

/* ARGV: recover_per_s forget_ms fp rpm tpm factor learned lstep cool_rel_ms state reason */
#define LUA_KEYSET LUA_PRELUDE LUA_KEYREAD \
"local r = keyread(tonumber(ARGV[1]), tonumber(ARGV[2]))\n" \
"local rpm, tpm, factor, learned = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])\n" \
"local cool, state = tonumber(ARGV[9]), tonumber(ARGV[10])\n" \
"redis.call('SADD', KEYS[6], ARGV[3])\n" \
"if rpm > 0 then redis.call('HSET', KEYS[7], 'rpm', ARGV[4]); r.rpm = rpm end\n" \
"if tpm > 0 then redis.call('HSET', KEYS[7], 'tpm', ARGV[5]); r.tpm = tpm end\n" \
"if factor < 1 then r.factor = math.min(r.factor, factor)\n" \
"  redis.call('HSET', KEYS[7], 'factor', string.format('%.17g', r.factor), 'f_ms', now_ms) end\n" \
"if learned > 0 then\n" \
"  if r.learned > 0 then r.learned = math.min(r.learned, learned) else r.learned = learned end\n" \
"  r.lstep = tonumber(ARGV[8])\n" \
"  redis.call('HSET', KEYS[7], 'learned', string.format('%.17g', r.learned), 'lstep', ARGV[8], 'l_ms', now_ms)\n" \
"end\n" \
"if cool > 0 and now_ms + cool > r.cool then r.cool = now_ms + cool\n" \
"  redis.call('HSET', KEYS[7], 'cool_ms', r.cool) end\n" \
"if state > r.state then r.state = state; r.reason = ARGV[11]\n" \
"  redis.call('HSET', KEYS[7], 'state', state, 'reason', ARGV[11]) end\n" \
"redis.call('HSET', KEYS[7], 'updated_ms', now_ms)\n" \
"return keyreply(r)\n"

/* ARGV: dead_ms recover_per_s forget_ms.  Read-only: a cjson document. */
#define LUA_SHOW LUA_PRELUDE LUA_KEYREAD \
"local out = {exists = redis.call('EXISTS', KEYS[1]) == 1, now_ms = now_ms}\n" \
"local m = redis.call('HGETALL', KEYS[1])\n" \
"for i = 1, #m, 2 do out[m[i]] = m[i + 1] end\n" \
"local procs, total = {}, {0, 0}\n" \
"local hb = redis.call('HGETALL', KEYS[3])\n" \
"for i = 1, #hb, 2 do\n" \
"  local lease = redis.call('HGET', KEYS[2], hb[i]) or '0'\n" \
"  total = add(total, N(lease))\n" \
"  local age = now_ms - tonumber(hb[i + 1])\n" \
"  procs[#procs + 1] = {id = hb[i], heartbeat_age_ms = age, lease = lease,\n" \
"    stale = age > tonumber(ARGV[1])}\n" \
"end\n" \
"out.processes = procs; out.leases = S(total)\n" \
"local keys, prefix = {}, string.sub(KEYS[1], 1, -5)\n" \
"for _, fp in ipairs(redis.call('SMEMBERS', KEYS[6])) do\n" \
"  KEYS[7] = prefix .. 'key:' .. fp\n" \
"  local r = keyread(tonumber(ARGV[2]), tonumber(ARGV[3]))\n" \
"  keys[#keys + 1] = {name = fp, server_rpm = r.rpm, server_tpm = r.tpm, factor = r.factor,\n" \
"    learned_rpm = r.learned, cooling_ms = math.max(0, r.cool - now_ms), state = r.state,\n" \
"    reason = r.reason}\n" \
"end\n" \
"out.keys = keys\n" \
"return cjson.encode(out)\n"

#endif
