/**
 * RedisHotStateStore: the live tier on Redis.
 *
 * A save is one script that checks the session's fence and SETs the four
 * sections atomically (no TTL: live state stays until the session is reset);
 * a load is one script that checks each key's type and size, then GETs the
 * four keys (they share a hash slot). Nothing is written that its Schema did
 * not encode, and nothing read is returned that its Schema did not decode.
 */
import { Effect, Layer } from "effect"
import type { EngineState } from "../domain/EngineState.ts"
import { sectionNames } from "../domain/EngineState.ts"
import type { Env, SessionId } from "../domain/Ids.ts"
import { defaultMaxSectionBytes, oversizedMessage } from "../domain/StateLimits.ts"
import { decodeLiveState, encodeLiveState, fencedWrite, HotStateStore, sessionIdsOfKeys } from "./HotStateStore.ts"
import { RedisClient } from "./RedisClient.ts"
import { fenceKey, sessionKeyPattern, sessionKeys } from "./StateKeys.ts"
import { StoreError } from "./StoreError.ts"

/**
 * The fenced write, run atomically by Redis: refuse a token below the fence,
 * raise the fence to a higher one, then set every section.
 * KEYS: the fence, then the section keys; ARGV: the token, then the texts.
 */
const saveScript = `
local fence = tonumber(redis.call('GET', KEYS[1]) or '0')
local token = tonumber(ARGV[1])
if token < fence then return redis.error_reply('FENCED ' .. fence) end
if token > fence then redis.call('SET', KEYS[1], ARGV[1]) end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[i]) end
return fence`

/** The fenced delete: as the save, then remove the section keys (the fence stays). */
const deleteScript = `
local fence = tonumber(redis.call('GET', KEYS[1]) or '0')
local token = tonumber(ARGV[1])
if token < fence then return redis.error_reply('FENCED ' .. fence) end
if token > fence then redis.call('SET', KEYS[1], ARGV[1]) end
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
return fence`

/** Raises the fence to ARGV[1] if it is higher. */
const raiseFenceScript = `
local fence = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > fence then redis.call('SET', KEYS[1], ARGV[1]) end
return fence`

/**
 * The guarded read: each key must be absent or a string no larger than
 * ARGV[1] bytes, checked by TYPE and STRLEN before a byte of it is sent.
 */
const loadScript = `
local out = {}
for i = 1, #KEYS do
  local kind = redis.call('TYPE', KEYS[i])['ok']
  if kind == 'none' then
    out[i] = false
  elseif kind ~= 'string' then
    return redis.error_reply('WRONGTYPE_AT ' .. i .. ' ' .. kind)
  else
    local size = redis.call('STRLEN', KEYS[i])
    if size > tonumber(ARGV[1]) then return redis.error_reply('OVERSIZED_AT ' .. i .. ' ' .. size) end
    out[i] = redis.call('GET', KEYS[i])
  end
end
return out`

/** The live tier of `env` on the connection of `RedisClient`. */
export const make = Effect.fnUntraced(function*(env: Env, options: { readonly maxSectionBytes?: number } = {}) {
  const maxSectionBytes = options.maxSectionBytes ?? defaultMaxSectionBytes
  const redis = yield* RedisClient

  /** Runs a fenced script; a FENCED reply becomes a typed `Fenced`. */
  const fenced = (command: string, sessionId: SessionId, token: number, run: (client: RedisClient["Service"]["client"]) => Promise<unknown>) =>
    redis.use(command, run).pipe(
      Effect.mapError((error) => {
        const fence = /FENCED (\d+)/.exec(error.message)
        return fence === null ? error : fencedWrite("redis", sessionId, token, Number(fence[1]))
      })
    )

  const save = Effect.fn("HotStateStore.save")(function*(state: EngineState, fencingToken = 0) {
    const pairs = yield* Effect.fromResult(encodeLiveState(env, state))
    const sessionId = state.session.sessionId
    yield* fenced("EVAL save", sessionId, fencingToken, (client) =>
      client.eval(
        saveScript,
        pairs.length + 1,
        fenceKey(env, sessionId),
        ...pairs.map(([key]) => key),
        String(fencingToken),
        ...pairs.map(([, text]) => text)
      ))
  })

  const load = Effect.fn("HotStateStore.load")(function*(sessionId: SessionId) {
    const keys = sessionKeys(env, sessionId)
    const reply = yield* redis.use("EVAL load", (client) => client.eval(loadScript, keys.length, ...keys, String(maxSectionBytes))).pipe(
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
    const texts = (reply as ReadonlyArray<string | null | false>).map((text) => (typeof text === "string" ? text : null))
    return yield* decodeLiveState("redis", env, sessionId, texts)
  })

  const remove = Effect.fn("HotStateStore.delete")(function*(sessionId: SessionId, fencingToken = 0) {
    const keys = sessionKeys(env, sessionId)
    yield* fenced("EVAL delete", sessionId, fencingToken, (client) =>
      client.eval(deleteScript, keys.length + 1, fenceKey(env, sessionId), ...keys, String(fencingToken)))
  })

  const raiseFence = Effect.fn("HotStateStore.raiseFence")(function*(sessionId: SessionId, fencingToken: number) {
    yield* redis.use("EVAL raiseFence", (client) => client.eval(raiseFenceScript, 1, fenceKey(env, sessionId), String(fencingToken)))
  })

  const listSessions = Effect.fn("HotStateStore.listSessions")(function*() {
    const keys = yield* redis.use("SCAN", async (client) => {
      const found: Array<string> = []
      let cursor = "0"
      do {
        const [next, batch] = await client.scan(cursor, "MATCH", sessionKeyPattern(env), "COUNT", 1000)
        found.push(...batch)
        cursor = next
      } while (cursor !== "0")
      return found
    })
    return sessionIdsOfKeys(env, keys)
  })

  return HotStateStore.of({ env, kind: "redis", durable: true, save, load, delete: remove, raiseFence, listSessions })
})

/** The Redis backing of the live tier for `env`; needs a `RedisClient`. */
export const layer = (env: Env, options: { readonly maxSectionBytes?: number } = {}): Layer.Layer<HotStateStore, never, RedisClient> =>
  Layer.effect(HotStateStore, make(env, options))
