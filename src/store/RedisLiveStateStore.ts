/**
 * RedisLiveStateStore: the live tier on Redis, written incrementally.
 *
 * Layout of a session (all keys share the session's hash slot):
 * `...:session`, `...:metrics`, `...:risk_guard` hold their section's JSON,
 * `...:custom` the runner's own sections (absent when it has none),
 * `...:ledger_tail` the closes not yet in the durable ledger (absent when
 * there are none);
 * `...:positions` is a hash with one field per open trade (see
 * `LiveStateDelta`); `...:fence` holds the highest fencing token that wrote;
 * `...:mark` the id of the last write, which begins with its writer's token.
 *
 * A save is one script, run atomically by Redis: it checks the fence, checks
 * that the session still holds the write this process made last (else it
 * answers `resync` and the store writes the whole state instead of a delta),
 * then applies the writes. So a delta is only ever applied on top of exactly
 * the state it was computed against, whatever happened in between (another
 * writer, a restarted Redis that lost everything).
 *
 * A load is one script that checks each key's type and size before sending
 * a byte of it. Positions stored the old way (one JSON string) still load.
 * The scripts, their keys and their replies are in `internal/LiveTierScripts.ts`.
 */
import { Effect, Layer } from "effect"
import { randomBytes } from "node:crypto"
import type { LedgerEntry } from "../domain/ClosedTrade.ts"
import type { EngineState } from "../domain/EngineState.ts"
import type { Env, SessionId } from "../domain/Ids.ts"
import { StateCodecError } from "../domain/StateCodecError.ts"
import { defaultMaxSectionBytes, oversizedMessage, unwritableMessage } from "./internal/StateLimits.ts"
import { fencedWrite, fenceLostWrite, sessionIdsOfKeys, writeMark } from "./internal/LiveStateCodec.ts"
import {
  fieldPart,
  type LiveParts,
  newParts,
  protectField,
  protectSection,
  type RawPart,
  readSealedLiveState,
  sectionPart
} from "./internal/LiveSeal.ts"
import { LiveStateStore, loadOf } from "./LiveStateStore.ts"
import { type LiveCache, type LiveWrite, planLiveWrite, positionsFromHash } from "./internal/LiveStateDelta.ts"
import * as LiveTierScripts from "./internal/LiveTierScripts.ts"
import { RedisClient } from "./RedisClient.ts"
import { fenceKey, liveParts, sealKey, sectionKey, sessionKeyPattern, writeMarkKey } from "./StateKeys.ts"
import { type StateProtection, storedBytesBound } from "./StateProtection.ts"
import { StoreError } from "./StoreError.ts"
import { storeOperation } from "./internal/StoreSpan.ts"

const sectionKeyName = {
  session: "session_key",
  metrics: "metrics_key",
  riskGuard: "risk_guard_key",
  custom: "custom_key",
  ledger: "ledger_key",
  seal: "seal_key"
} as const

/** The save script's arguments for `writes`. */
const writeArgs = (writes: ReadonlyArray<LiveWrite>): Array<string> =>
  writes.flatMap((w) =>
    w.op === "set"
      ? ["S", String(LiveTierScripts.save.keyIndex(sectionKeyName[w.section])), w.text]
      : w.op === "unset"
      ? ["X", String(LiveTierScripts.save.keyIndex(sectionKeyName[w.section]))]
      : w.op === "hset"
      ? ["H", w.field, w.text]
      : w.op === "hdel"
      ? ["D", w.field]
      : ["R"]
  )

/** The live tier of `env` on the connection of `RedisClient`. */
export const make = Effect.fnUntraced(function*(env: Env, options: RedisLiveStateStoreOptions = {}) {
  const maxSectionBytes = options.maxSectionBytes ?? defaultMaxSectionBytes
  const fullEvery = options.fullWriteEvery ?? 1_000
  const protection = options.protection
  const redis = yield* RedisClient
  /** This store's writes are marked `<process tag>:<n>`, so that another writer's marks never match. */
  const tag = randomBytes(6).toString("hex")
  let writeCount = 0
  let written = 0
  /** Per session: the mark of this store's last write there, and what it wrote. */
  const caches = new Map<string, LastWrite>()

  /** The keys of a session, by the names the scripts give them. */
  const keysOf = (sessionId: SessionId) => ({
    fence_key: fenceKey(env, sessionId),
    mark_key: writeMarkKey(env, sessionId),
    session_key: sectionKey(env, sessionId, "session"),
    positions_key: sectionKey(env, sessionId, "positions"),
    metrics_key: sectionKey(env, sessionId, "metrics"),
    risk_guard_key: sectionKey(env, sessionId, "riskGuard"),
    custom_key: sectionKey(env, sessionId, "custom"),
    ledger_key: sectionKey(env, sessionId, "ledger"),
    seal_key: sealKey(env, sessionId)
  })

  /**
   * The writes as stored under `protection` (each text encrypted at its place when asked), with the
   * parts they leave (`parts`, changed in place); as they are without protection.
   */
  const protectedWrites = (sessionId: SessionId, writes: ReadonlyArray<LiveWrite>, parts: LiveParts | undefined): Array<LiveWrite> =>
    writes.map((write) => {
      switch (write.op) {
        case "set": {
          const text = protectSection(protection, env, sessionId, write.section, write.text)
          parts?.set(sectionPart(write.section), text)
          return { ...write, text }
        }
        case "unset":
          parts?.remove(sectionPart(write.section))
          return write
        case "hset": {
          const text = protectField(protection, env, sessionId, write.field, write.text)
          parts?.set(fieldPart(write.field), text)
          return { ...write, text }
        }
        case "hdel":
          parts?.remove(fieldPart(write.field))
          return write
        case "reset":
          parts?.clearFields()
          return write
      }
    })

  /** A fenced script's refusal as the store's typed failure. */
  const refusal = (sessionId: SessionId, token: number, reply: readonly ["nofence"] | readonly ["fenced", number]) =>
    reply[0] === "nofence" ? fenceLostWrite("redis", sessionId, token) : fencedWrite("redis", sessionId, token, reply[1])

  /** A save whose delta the session's current keys cannot take: it is written whole instead. */
  class Resync {
    readonly _tag = "Resync"
  }

  /** One save attempt: a delta after this store's last write, or the whole state. */
  const attempt = (
    state: EngineState,
    fencingToken: number,
    ledgerTail: ReadonlyArray<LedgerEntry>,
    previous: LastWrite | undefined
  ) =>
    Effect.gen(function*() {
      const sessionId = state.session.sessionId
      const plan = yield* Effect.fromResult(planLiveWrite(state, ledgerTail, previous?.cache))
      // The parts after this write: those of the last one, moved in place by what this one writes (all
      // of them, for a whole write). In place: the last write's entry is out of the cache until this
      // one lands, and a write that fails is followed by a whole one, with parts of its own.
      const parts = protection === undefined ? undefined : previous?.parts ?? newParts(protection, env, sessionId)
      const writes = protectedWrites(sessionId, plan.writes, parts)
      // What a load would refuse to read is not written.
      // Encrypted, each value is larger: the hash is held to what it may come to.
      const fields = 1 + 2 * plan.cache.trades.size + plan.cache.pending.size + (plan.cache.baseline.value === undefined ? 0 : 1)
      const positionsBytes = storedBytesBound(protection, plan.positionsBytes, fields)
      if (positionsBytes > maxSectionBytes) {
        return yield* StateCodecError.invalid("positions", unwritableMessage("positions", positionsBytes, maxSectionBytes))
      }
      for (const write of writes) {
        if (write.op !== "set") continue
        const bytes = Buffer.byteLength(write.text)
        if (bytes > maxSectionBytes) return yield* StateCodecError.invalid(write.section, unwritableMessage(write.section, bytes, maxSectionBytes))
      }
      const mark = writeMark(fencingToken, `${tag}:${++writeCount}`)
      const reply = yield* LiveTierScripts.save.run(
        redis,
        keysOf(sessionId),
        [String(fencingToken), previous?.mark ?? "", mark, ...writeArgs(writes), ...sealArgs(parts, fencingToken, previous === undefined)]
      )
      if (reply[0] === "resync") return yield* Effect.fail(new Resync())
      if (reply[0] !== "ok") return yield* refusal(sessionId, fencingToken, reply)
      written += plan.bytes
      caches.set(sessionId, { mark, cache: plan.cache, deltas: previous === undefined ? 0 : previous.deltas + 1, parts })
    })

  /** The seal's write: the parts' seal, or (a whole write without keys) none, so that no stale seal stays. */
  const sealArgs = (parts: LiveParts | undefined, fencingToken: number, whole: boolean): Array<string> => {
    const index = String(LiveTierScripts.save.keyIndex("seal_key"))
    if (parts !== undefined && protection !== undefined) return ["S", index, parts.seal(protection, fencingToken)]
    return whole ? ["X", index] : []
  }

  const save = storeOperation("LiveStateStore.save")(function*(state: EngineState, fencingToken = 0, ledgerTail: ReadonlyArray<LedgerEntry> = []) {
    const sessionId = state.session.sessionId
    const cached = caches.get(sessionId)
    // Every `fullEvery` writes the whole state is written again, so that damage done below the store
    // (which the marks cannot see) does not outlive it.
    const previous = cached !== undefined && cached.deltas < fullEvery ? cached : undefined
    // Until the write is known to have landed, nothing is assumed about what the session holds.
    caches.delete(sessionId)
    yield* attempt(state, fencingToken, ledgerTail, previous).pipe(
      Effect.catchTag("Resync", () => attempt(state, fencingToken, ledgerTail, undefined)),
      // A whole write never asks for a resync; if Redis still answered one, it is a failure of the store.
      Effect.catchTag("Resync", () => Effect.fail(StoreError.failure("redis", `live state of ${sessionId}: a whole write was refused as a delta`)))
    )
  })

  const read = storeOperation("LiveStateStore.read")(function*(sessionId: SessionId) {
    const keys = keysOf(sessionId)
    const reply = yield* LiveTierScripts.load.run(redis, keys, [String(maxSectionBytes)])
    if (reply[0] === "wrongtype") {
      const section = liveParts[reply[1] - 1]!
      return yield* StoreError.unreadable("redis", sectionKey(env, sessionId, section), `${section} key holds a Redis ${reply[2]}, not a string`)
    }
    if (reply[0] === "oversized") {
      const section = liveParts[reply[1] - 1]!
      return yield* StoreError.unreadable("redis", sectionKey(env, sessionId, section), oversizedMessage(section, reply[2], maxSectionBytes))
    }
    const [, ...values] = reply
    const raw: Array<RawPart> = values.slice(0, liveParts.length).map((value) =>
      typeof value === "string" ? value : Array.isArray(value) && value[0] === "hash" ? { hash: value.slice(1) } : null
    )
    return readSealedLiveState("redis", env, sessionId, raw, reply[7], reply[8], protection, (fields) => ({ json: () => positionsFromHash(fields) }))
  })
  const load = (sessionId: SessionId) => loadOf(read)(sessionId).pipe(Effect.withSpan("LiveStateStore.load", undefined, { captureStackTrace: false }))

  const remove = storeOperation("LiveStateStore.delete")(function*(sessionId: SessionId, fencingToken = 0) {
    caches.delete(sessionId)
    const reply = yield* LiveTierScripts.remove.run(redis, keysOf(sessionId), [String(fencingToken)])
    if (reply[0] !== "ok") return yield* refusal(sessionId, fencingToken, reply)
  })

  const raiseFence = storeOperation("LiveStateStore.raiseFence")(function*(sessionId: SessionId, fencingToken: number) {
    const before = yield* LiveTierScripts.raiseFence.run(redis, keysOf(sessionId), [String(fencingToken)])
    return before >= 0 ? before : null
  })

  const listSessions = storeOperation("LiveStateStore.listSessions")(function*() {
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

  return LiveStateStore.of({
    env,
    kind: "redis",
    durable: true,
    save,
    load,
    read,
    delete: remove,
    raiseFence,
    listSessions,
    bytesWritten: Effect.sync(() => written)
  })
})

/** What a store remembers of its last write of a session: its mark, what it wrote, how many deltas since a whole write, and (with keys) its parts. */
interface LastWrite {
  readonly mark: string
  readonly cache: LiveCache
  readonly deltas: number
  readonly parts: LiveParts | undefined
}

/** Settings of the Redis live tier. */
export interface RedisLiveStateStoreOptions {
  /** The keys live states are sealed (and maybe encrypted) with; none: neither. */
  readonly protection?: StateProtection
  /** Sections larger than this are refused on read (default 16 MiB). */
  readonly maxSectionBytes?: number
  /** After this many incremental writes of a session, the next one writes it whole (default 1,000). */
  readonly fullWriteEvery?: number
}

/** The Redis backing of the live tier for `env`; needs a `RedisClient`. */
export const layer = (env: Env, options: RedisLiveStateStoreOptions = {}): Layer.Layer<LiveStateStore, never, RedisClient> =>
  Layer.effect(LiveStateStore, make(env, options))

