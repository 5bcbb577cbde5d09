/**
 * RedisHotStateStore: the live tier on Redis.
 *
 * A save is one MULTI/EXEC of four SETs (no TTL: live state stays until the
 * session is reset); a load is one MGET of the four keys, which share a hash
 * slot. Nothing is written that its Schema did not encode, and nothing read is
 * returned that its Schema did not decode.
 */
import { Effect, Layer } from "effect"
import type { EngineState } from "../domain/EngineState.ts"
import type { Env, SessionId } from "../domain/Ids.ts"
import { decodeLiveState, encodeLiveState, HotStateStore, sessionIdsOfKeys } from "./HotStateStore.ts"
import { RedisClient } from "./RedisClient.ts"
import { sessionKeyPattern, sessionKeys } from "./StateKeys.ts"
import { StoreError } from "./StoreError.ts"

/** The live tier of `env` on the connection of `RedisClient`. */
export const make = Effect.fnUntraced(function*(env: Env) {
  const redis = yield* RedisClient

  const save = Effect.fn("HotStateStore.save")(function*(state: EngineState) {
    const pairs = yield* Effect.fromResult(encodeLiveState(env, state))
    const results = yield* redis.use("MULTI", (client) => {
      const tx = client.multi()
      for (const [key, text] of pairs) tx.set(key, text)
      return tx.exec()
    })
    if (results === null) return yield* StoreError.conflict("redis", "MULTI/EXEC was aborted")
    const failed = results.find(([error]) => error !== null)
    if (failed !== undefined) return yield* StoreError.failure("redis", `EXEC failed: ${String(failed[0])}`)
  })

  const load = Effect.fn("HotStateStore.load")(function*(sessionId: SessionId) {
    const texts = yield* redis.use("MGET", (client) => client.mget(...sessionKeys(env, sessionId)))
    return yield* decodeLiveState("redis", env, sessionId, texts)
  })

  const remove = Effect.fn("HotStateStore.delete")(function*(sessionId: SessionId) {
    yield* redis.use("DEL", (client) => client.del(...sessionKeys(env, sessionId)))
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

  return HotStateStore.of({ env, kind: "redis", durable: true, save, load, delete: remove, listSessions })
})

/** The Redis backing of the live tier for `env`; needs a `RedisClient`. */
export const layer = (env: Env): Layer.Layer<HotStateStore, never, RedisClient> => Layer.effect(HotStateStore, make(env))
