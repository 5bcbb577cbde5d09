/**
 * LiveTierScripts: the Redis scripts of the live tier, each one value (see
 * `RedisScript`): what it reads and writes atomically, its keys by name, and
 * the replies it gives.
 *
 * Fences: every fenced script begins with the same check. A fence that is
 * missing or not a number is no fence: a write with a token is refused
 * (`nofence`) rather than read as "token 0 holds it"; only a write without a
 * token (0) goes through, to a session that never had one. Every key is typed
 * before it is read, so a damaged key is a refusal, never a script error
 * halfway through.
 */
import { Schema } from "effect"
import * as RedisScript from "./RedisScript.ts"

/** The keys of a session the fenced scripts take, in order. */
const sessionKeyNames = ["fence", "mark", "session", "positions", "metrics", "risk_guard", "custom", "ledger", "seal"] as const

/** The fence check (ARGV[1] the token): leaves `token` and `fence` for the rest of the script. */
const fenceCheck = `
local function kind(key) return redis.call('TYPE', key)['ok'] end
local token = tonumber(ARGV[1])
local fence = nil
local fenceKind = kind(fence_key)
if fenceKind == 'string' then fence = tonumber(redis.call('GET', fence_key)) end
if fence == nil then
  if fenceKind ~= 'none' or token > 0 then return {'nofence'} end
  fence = 0
end
if token < fence then return {'fenced', fence} end
`

/** The refusals every fenced script may answer with. */
const FenceRefusal = Schema.Union([Schema.Tuple([Schema.Literal("nofence")]), Schema.Tuple([Schema.Literal("fenced"), Schema.Number])])

/**
 * The fenced, marked write. ARGV: token, the mark the session must hold ('' for a whole write), the
 * new mark, then the writes: 'S' key-index text | 'X' key-index (remove the key) | 'H' field text |
 * 'D' field | 'R' (clear the positions hash). A delta goes only on top of the mark it was computed against, and only onto a
 * positions key that is a hash (else `resync`: the store then writes the state whole, which
 * replaces any key).
 */
export const save = RedisScript.make({
  name: "save",
  keys: sessionKeyNames.map((name) => `${name}_key` as const),
  body: `${fenceCheck}
if ARGV[2] ~= '' then
  if kind(mark_key) ~= 'string' or redis.call('GET', mark_key) ~= ARGV[2] then return {'resync'} end
  if kind(positions_key) ~= 'hash' then return {'resync'} end
end
if token > fence then redis.call('SET', fence_key, ARGV[1]) end
local i = 4
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'S' then redis.call('SET', KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2]); i = i + 3
  elseif op == 'X' then redis.call('DEL', KEYS[tonumber(ARGV[i + 1])]); i = i + 2
  elseif op == 'H' then redis.call('HSET', positions_key, ARGV[i + 1], ARGV[i + 2]); i = i + 3
  elseif op == 'D' then redis.call('HDEL', positions_key, ARGV[i + 1]); i = i + 2
  elseif op == 'R' then redis.call('DEL', positions_key); i = i + 1
  else return redis.error_reply('BADOP ' .. op) end
end
redis.call('SET', mark_key, ARGV[3])
return {'ok'}`,
  reply: Schema.Union([FenceRefusal, Schema.Tuple([Schema.Literal("ok")]), Schema.Tuple([Schema.Literal("resync")])])
})

/** The fenced delete: the save's fence check, then the sections and the mark go (the fence stays). */
export const remove = RedisScript.make({
  name: "delete",
  keys: sessionKeyNames.map((name) => `${name}_key` as const),
  body: `${fenceCheck}
if token > fence then redis.call('SET', fence_key, ARGV[1]) end
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
return {'ok'}`,
  reply: Schema.Union([FenceRefusal, Schema.Tuple([Schema.Literal("ok")])])
})

/** Raises the fence to ARGV[1] if it is higher, or replaces one missing or damaged; answers the fence it found (-1: none). */
export const raiseFence = RedisScript.make({
  name: "raiseFence",
  keys: ["fence_key"],
  body: `
local fence = nil
if redis.call('TYPE', fence_key)['ok'] == 'string' then fence = tonumber(redis.call('GET', fence_key)) end
if fence == nil or tonumber(ARGV[1]) > fence then redis.call('SET', fence_key, ARGV[1]) end
return fence or -1`,
  reply: Schema.Number
})

/**
 * The keys the guarded read takes: the state's parts in `liveParts` order (four sections, the
 * runner's own, the ledger tail), then the mark and the seal.
 */
export const loadKeyNames = ["session_key", "positions_key", "metrics_key", "risk_guard_key", "custom_key", "ledger_key", "mark_key", "seal_key"] as const

/** A section as the guarded read returns it: absent (null), a string, or a hash's fields after `'hash'`. */
const StoredValue = Schema.Union([Schema.Null, Schema.String, Schema.Array(Schema.String)])

/**
 * The guarded read. ARGV[1]: the size limit. Each section key must be absent, or a string (the
 * positions also a hash) of at most the limit in bytes, checked before a byte is sent (a hash by
 * its sampled size in memory first, so that millions of tiny fields are refused before they are
 * gathered). Answers `{'ok', session, positions, metrics, risk_guard, custom, ledger, mark, seal}` (false where absent;
 * a hash as `{'hash', field, value, ...}`; the mark only when it is a short string; a seal that is there but
 * not a short string as `'!'`, which no seal is, so that it is judged, not taken for none), or the first
 * refusal: `{'oversized', key-index, size}`, `{'wrongtype', key-index, type}`. It reads only, so it
 * runs when Redis is out of memory too.
 */
export const load = RedisScript.make({
  name: "load",
  keys: loadKeyNames,
  flags: "no-writes",
  body: `
local limit = tonumber(ARGV[1])
local out = {'ok'}
for i = 1, 6 do
  local kind = redis.call('TYPE', KEYS[i])['ok']
  if kind == 'none' then
    out[i + 1] = false
  elseif kind == 'string' then
    local size = redis.call('STRLEN', KEYS[i])
    if size > limit then return {'oversized', i, size} end
    out[i + 1] = redis.call('GET', KEYS[i])
  elseif kind == 'hash' and KEYS[i] == positions_key then
    local usage = redis.call('MEMORY', 'USAGE', KEYS[i])
    if usage ~= false and usage > 2 * limit then return {'oversized', i, usage} end
    local fields = redis.call('HGETALL', KEYS[i])
    local size = 0
    for j = 1, #fields do size = size + #fields[j] end
    if size > limit then return {'oversized', i, size} end
    table.insert(fields, 1, 'hash')
    out[i + 1] = fields
  else
    return {'wrongtype', i, kind}
  end
end
out[8] = false
if redis.call('TYPE', mark_key)['ok'] == 'string' and redis.call('STRLEN', mark_key) <= 256 then out[8] = redis.call('GET', mark_key) end
out[9] = false
local sealKind = redis.call('TYPE', seal_key)['ok']
if sealKind == 'string' and redis.call('STRLEN', seal_key) <= 256 then out[9] = redis.call('GET', seal_key)
elseif sealKind ~= 'none' then out[9] = '!' end
return out`,
  reply: Schema.Union([
    Schema.Tuple([
      Schema.Literal("ok"),
      StoredValue,
      StoredValue,
      StoredValue,
      StoredValue,
      StoredValue,
      StoredValue,
      Schema.NullOr(Schema.String),
      Schema.NullOr(Schema.String)
    ]),
    Schema.Tuple([Schema.Literal("oversized"), Schema.Number, Schema.Number]),
    Schema.Tuple([Schema.Literal("wrongtype"), Schema.Number, Schema.String])
  ])
})
