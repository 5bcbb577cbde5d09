/**
 * RedisHotStateStore: the live tier on Redis, written incrementally.
 *
 * Layout of a session (all keys share the session's hash slot):
 * `...:session`, `...:metrics`, `...:risk_guard` hold their section's JSON;
 * `...:positions` is a hash with one field per open trade (see
 * `LiveStateDelta`); `...:fence` holds the highest fencing token that wrote;
 * `...:mark` the id of the last write, which begins with its writer's token.
 *
 * A save is one script, run atomically by Redis: it checks the fence, checks
 * that the session still holds the write this process made last (else it
 * answers RESYNC and the store writes the whole state instead of a delta),
 * then applies the writes. So a delta is only ever applied on top of exactly
 * the state it was computed against, whatever happened in between (another
 * writer, a restarted Redis that lost everything).
 *
 * A load is one script that checks each key's type and size before sending
 * a byte of it. Positions stored the old way (one JSON string) still load.
 */
import { Effect, Layer, Option } from "effect"
import { randomBytes } from "node:crypto"
import { type EngineState, sectionNames } from "../domain/EngineState.ts"
import type { Env, SessionId } from "../domain/Ids.ts"
import { defaultMaxSectionBytes, oversizedMessage } from "../domain/StateLimits.ts"
import {
  decodeLiveState,
  fencedWrite,
  fenceLostWrite,
  HotStateStore,
  sessionIdsOfKeys,
  type StoredSection,
  tokenOfMark,
  writeMark
} from "./HotStateStore.ts"
import { type LiveCache, type LiveWrite, planLiveWrite, positionsFromHash } from "./LiveStateDelta.ts"
import { luaScript, RedisClient } from "./RedisClient.ts"
import { fenceKey, sectionKey, sessionKeyPattern, sessionKeys, writeMarkKey } from "./StateKeys.ts"
import { StoreError } from "./StoreError.ts"
import { storeOperation } from "./StoreSpan.ts"

/**
 * The fence check every fenced script begins with (KEYS[1] the fence, ARGV[1] the token). A fence
 * that is missing or not a number is no fence: a write with a token is refused (NOFENCE) rather
 * than read as "token 0 holds it"; only a write without a token (0) goes through, to a session
 * that never had a fence. Every key is typed before it is read, so a damaged key is a refusal,
 * never a script error halfway through.
 */
const fenceCheck = `
local function kind(key) return redis.call('TYPE', key)['ok'] end
local token = tonumber(ARGV[1])
local fence = nil
local fenceKind = kind(KEYS[1])
if fenceKind == 'string' then fence = tonumber(redis.call('GET', KEYS[1])) end
if fence == nil then
  if fenceKind ~= 'none' or token > 0 then return redis.error_reply('NOFENCE') end
  fence = 0
end
if token < fence then return redis.error_reply('FENCED ' .. fence) end
`

/**
 * The fenced, marked write. KEYS: fence, mark, session, positions, metrics, risk_guard.
 * ARGV: token, the mark the session must hold ('' for a full write), the new mark, then the writes:
 * 'S' key-index text | 'H' field text | 'D' field | 'R' (clear the positions hash).
 * A delta goes only on top of the mark it was computed against, and only onto keys of the right
 * type (RESYNC otherwise: the store then writes the state whole, which replaces any key). The
 * shebang makes Redis refuse the whole script up front when it is out of memory, rather than at
 * its first write.
 */
const saveScript = `#!lua
${fenceCheck}
if ARGV[2] ~= '' then
  if kind(KEYS[2]) ~= 'string' or redis.call('GET', KEYS[2]) ~= ARGV[2] then return redis.error_reply('RESYNC') end
  if kind(KEYS[4]) ~= 'hash' then return redis.error_reply('RESYNC') end
end
if token > fence then redis.call('SET', KEYS[1], ARGV[1]) end
local i = 4
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'S' then redis.call('SET', KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2]); i = i + 3
  elseif op == 'H' then redis.call('HSET', KEYS[4], ARGV[i + 1], ARGV[i + 2]); i = i + 3
  elseif op == 'D' then redis.call('HDEL', KEYS[4], ARGV[i + 1]); i = i + 2
  elseif op == 'R' then redis.call('DEL', KEYS[4]); i = i + 1
  else return redis.error_reply('BADOP ' .. op) end
end
redis.call('SET', KEYS[2], ARGV[3])
return 'OK'`

/** The fenced delete: as the save's fence check, then remove the sections and the mark (the fence stays). */
const deleteScript = `#!lua
${fenceCheck}
if token > fence then redis.call('SET', KEYS[1], ARGV[1]) end
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
return fence`

/** Raises the fence to ARGV[1] if it is higher, or replaces a fence that is missing or damaged. */
const raiseFenceScript = `#!lua
local fence = nil
if redis.call('TYPE', KEYS[1])['ok'] == 'string' then fence = tonumber(redis.call('GET', KEYS[1])) end
if fence == nil or tonumber(ARGV[1]) > fence then redis.call('SET', KEYS[1], ARGV[1]) end
return fence or -1`

/**
 * The guarded read. KEYS: session, positions, metrics, risk_guard, mark. Each section key must be
 * absent, or a string (the positions also a hash) of at most ARGV[1] bytes, checked before a byte
 * is sent. Returns, per section key, false (absent), its string, or for a hash {'hash', field,
 * value, ...}; then the mark (false when absent or not a string). It reads only, so it runs when
 * Redis is out of memory too.
 */
const loadScript = `#!lua flags=no-writes
local limit = tonumber(ARGV[1])
local out = {}
for i = 1, 4 do
  local kind = redis.call('TYPE', KEYS[i])['ok']
  if kind == 'none' then
    out[i] = false
  elseif kind == 'string' then
    local size = redis.call('STRLEN', KEYS[i])
    if size > limit then return redis.error_reply('OVERSIZED_AT ' .. i .. ' ' .. size) end
    out[i] = redis.call('GET', KEYS[i])
  elseif kind == 'hash' and i == 2 then
    -- Sampled, so that a hash of millions of tiny fields is refused before they are all read.
    local usage = redis.call('MEMORY', 'USAGE', KEYS[i])
    if usage ~= false and usage > 2 * limit then return redis.error_reply('OVERSIZED_AT ' .. i .. ' ' .. usage) end
    local fields = redis.call('HGETALL', KEYS[i])
    local size = 0
    for j = 1, #fields do size = size + #fields[j] end
    if size > limit then return redis.error_reply('OVERSIZED_AT ' .. i .. ' ' .. size) end
    table.insert(fields, 1, 'hash')
    out[i] = fields
  else
    return redis.error_reply('WRONGTYPE_AT ' .. i .. ' ' .. kind)
  end
end
out[5] = false
if redis.call('TYPE', KEYS[5])['ok'] == 'string' and redis.call('STRLEN', KEYS[5]) <= 256 then out[5] = redis.call('GET', KEYS[5]) end
return out`

const runSave = luaScript(saveScript)
const runDelete = luaScript(deleteScript)
const runRaiseFence = luaScript(raiseFenceScript)
const runLoad = luaScript(loadScript)

const sectionIndex = { session: 3, metrics: 5, riskGuard: 6 } as const

/** The script's arguments for `writes`. */
const writeArgs = (writes: ReadonlyArray<LiveWrite>): Array<string> =>
  writes.flatMap((w) =>
    w.op === "set"
      ? ["S", String(sectionIndex[w.section]), w.text]
      : w.op === "hset"
      ? ["H", w.field, w.text]
      : w.op === "hdel"
      ? ["D", w.field]
      : ["R"]
  )

/** The live tier of `env` on the connection of `RedisClient`. */
export const make = Effect.fnUntraced(function*(env: Env, options: RedisHotStateStoreOptions = {}) {
  const maxSectionBytes = options.maxSectionBytes ?? defaultMaxSectionBytes
  const fullEvery = options.fullWriteEvery ?? 1_000
  const redis = yield* RedisClient
  /** This store's writes are marked `<process tag>:<n>`, so that another writer's marks never match. */
  const tag = randomBytes(6).toString("hex")
  let writeCount = 0
  let written = 0
  /** Per session: the mark of this store's last write there, and what it wrote. */
  const caches = new Map<string, { readonly mark: string; readonly cache: LiveCache; readonly deltas: number }>()

  /** Runs a fenced script; a FENCED reply becomes a typed `Fenced`, a NOFENCE one `FenceLost`. */
  const fenced = (command: string, sessionId: SessionId, token: number, run: (client: RedisClient["Service"]["client"]) => Promise<unknown>) =>
    redis.use(command, run).pipe(
      Effect.mapError((error) => {
        if (error.message.includes("NOFENCE")) return fenceLostWrite("redis", sessionId, token)
        const fence = /FENCED (\d+)/.exec(error.message)
        return fence === null ? error : fencedWrite("redis", sessionId, token, Number(fence[1]))
      })
    )

  const keysOf = (sessionId: SessionId) => [
    fenceKey(env, sessionId),
    writeMarkKey(env, sessionId),
    sectionKey(env, sessionId, "session"),
    sectionKey(env, sessionId, "positions"),
    sectionKey(env, sessionId, "metrics"),
    sectionKey(env, sessionId, "riskGuard")
  ]

  /** One save attempt: a delta after this store's last write, or the whole state. */
  const attempt = (
    state: EngineState,
    fencingToken: number,
    previous: { readonly mark: string; readonly cache: LiveCache; readonly deltas: number } | undefined
  ) =>
    Effect.gen(function*() {
      const sessionId = state.session.sessionId
      const plan = yield* Effect.fromResult(planLiveWrite(state, previous?.cache))
      const mark = writeMark(fencingToken, `${tag}:${++writeCount}`)
      yield* fenced("EVAL save", sessionId, fencingToken, (client) =>
        runSave(client, 6, ...keysOf(sessionId), String(fencingToken), previous?.mark ?? "", mark, ...writeArgs(plan.writes)))
      written += plan.bytes
      caches.set(sessionId, { mark, cache: plan.cache, deltas: previous === undefined ? 0 : previous.deltas + 1 })
    })

  const save = storeOperation("HotStateStore.save")(function*(state: EngineState, fencingToken = 0) {
    const sessionId = state.session.sessionId
    const cached = caches.get(sessionId)
    // Every `fullEvery` writes the whole state is written again, so that damage done below the store
    // (which the marks cannot see) does not outlive it.
    const previous = cached !== undefined && cached.deltas < fullEvery ? cached : undefined
    // Until the write is known to have landed, nothing is assumed about what the session holds.
    caches.delete(sessionId)
    yield* attempt(state, fencingToken, previous).pipe(
      Effect.catchIf(
        (error) => previous !== undefined && error._tag === "StoreError" && error.message.includes("RESYNC"),
        () => attempt(state, fencingToken, undefined)
      )
    )
  })

  const load = storeOperation("HotStateStore.load")(function*(sessionId: SessionId) {
    const keys = sessionKeys(env, sessionId)
    const reply = yield* redis.use("EVAL load", (client) =>
      runLoad(client, keys.length + 1, ...keys, writeMarkKey(env, sessionId), String(maxSectionBytes))).pipe(
      Effect.mapError((error) => {
        const found = /(WRONGTYPE|OVERSIZED)_AT (\d+) (\S+)/.exec(error.message)
        if (found === null) return error
        const index = Number(found[2]) - 1
        const section = sectionNames[index]!
        return StoreError.unreadable(
          "redis",
          keys[index]!,
          found[1] === "WRONGTYPE"
            ? `${section} key holds a Redis ${found[3]}, not a string`
            : oversizedMessage(section, Number(found[3]), maxSectionBytes)
        )
      })
    )
    const values = reply as ReadonlyArray<unknown>
    const stored: Array<StoredSection> = values.slice(0, 4).map((value) =>
      typeof value === "string"
        ? value
        : Array.isArray(value) && value[0] === "hash"
        ? { json: positionsFromHash(value.slice(1) as Array<string>) }
        : null
    )
    const fencingToken = tokenOfMark(typeof values[4] === "string" ? values[4] : null)
    const state = yield* decodeLiveState("redis", env, sessionId, stored)
    return Option.map(state, (decoded) => ({ state: decoded, fencingToken }))
  })

  const remove = storeOperation("HotStateStore.delete")(function*(sessionId: SessionId, fencingToken = 0) {
    caches.delete(sessionId)
    const keys = [...sessionKeys(env, sessionId), writeMarkKey(env, sessionId)]
    yield* fenced("EVAL delete", sessionId, fencingToken, (client) =>
      runDelete(client, keys.length + 1, fenceKey(env, sessionId), ...keys, String(fencingToken)))
  })

  const raiseFence = storeOperation("HotStateStore.raiseFence")(function*(sessionId: SessionId, fencingToken: number) {
    const before = yield* redis.use("EVAL raiseFence", (client) => runRaiseFence(client, 1, fenceKey(env, sessionId), String(fencingToken)))
    return typeof before === "number" && before >= 0 ? before : null
  })

  const listSessions = storeOperation("HotStateStore.listSessions")(function*() {
    // SCAN walks one server: on a cluster, every master is walked.
    const keys = yield* redis.use("SCAN", async () => {
      const found: Array<string> = []
      for (const node of redis.masters()) {
        let cursor = "0"
        do {
          const [next, batch] = await node.scan(cursor, "MATCH", sessionKeyPattern(env), "COUNT", 1000)
          found.push(...batch)
          cursor = next
        } while (cursor !== "0")
      }
      return found
    })
    return sessionIdsOfKeys(env, keys)
  })

  return HotStateStore.of({
    env,
    kind: "redis",
    durable: true,
    save,
    load,
    delete: remove,
    raiseFence,
    listSessions,
    bytesWritten: Effect.sync(() => written)
  })
})

/** Settings of the Redis live tier. */
export interface RedisHotStateStoreOptions {
  /** Sections larger than this are refused on read (default 16 MiB). */
  readonly maxSectionBytes?: number
  /** After this many incremental writes of a session, the next one writes it whole (default 1,000). */
  readonly fullWriteEvery?: number
}

/** The Redis backing of the live tier for `env`; needs a `RedisClient`. */
export const layer = (env: Env, options: RedisHotStateStoreOptions = {}): Layer.Layer<HotStateStore, never, RedisClient> =>
  Layer.effect(HotStateStore, make(env, options))

