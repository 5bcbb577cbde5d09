/**
 * HotStateStore: the live state of running sessions, written every loop.
 *
 * One contract, several backings: Redis (`RedisHotStateStore`) for real use,
 * and memory (`layerMemory`) as the embedded default and for tests. Every
 * backing stores the same thing: one JSON text per section under the keys of
 * `StateKeys`, each encoded by its Schema, written all at once.
 */
import { Context, Effect, Layer, Option, Result, Schema } from "effect"
import { type EngineState, sectionNames } from "../domain/EngineState.ts"
import type { Env, SessionId } from "../domain/Ids.ts"
import { SessionId as SessionIdSchema } from "../domain/Ids.ts"
import { decodeEngineState, encodeEngineState, parseJson } from "../domain/StateCodec.ts"
import { defaultMaxSectionBytes, oversizedMessage } from "../domain/StateLimits.ts"
import type { StateCodecError } from "../domain/StateCodecError.ts"
import { fenceKey, sectionKey, sessionIdOfKey, sessionKeys } from "./StateKeys.ts"
import { StoreError, type StoreKind } from "./StoreError.ts"

/** The live tier: save, load and delete the state of a session, list the sessions that have one. */
export class HotStateStore extends Context.Service<HotStateStore, {
  /** The namespace every key of this store lives in. */
  readonly env: Env
  readonly kind: StoreKind
  /** Whether the state survives a restart of this process (false for memory). */
  readonly durable: boolean
  /**
   * Writes all four sections of the state at once; a failed write leaves the previous state whole.
   * Refused (`Fenced`) when `fencingToken` is below the session's fence; a higher token raises it.
   */
  readonly save: (state: EngineState, fencingToken?: number) => Effect.Effect<void, StoreError | StateCodecError>
  /** The session's state, `None` when it has none; `Unreadable` when what is stored is not a valid state. */
  readonly load: (sessionId: SessionId) => Effect.Effect<Option.Option<EngineState>, StoreError>
  /** Removes the session's live state (all four sections at once); fenced like `save`. */
  readonly delete: (sessionId: SessionId, fencingToken?: number) => Effect.Effect<void, StoreError>
  /** Raises the session's fence to `fencingToken` (never lowers it): older tokens can no longer write. */
  readonly raiseFence: (sessionId: SessionId, fencingToken: number) => Effect.Effect<void, StoreError>
  /** The sessions with live state in this env. */
  readonly listSessions: () => Effect.Effect<ReadonlyArray<SessionId>, StoreError>
  /** Payload bytes this store has written so far (what incremental saves save). */
  readonly bytesWritten: Effect.Effect<number>
}>()("arbitrage-state/store/HotStateStore") {}

/** The key/value pairs that hold a state: one encoded section per key; fails if the state breaks an invariant. */
export const encodeLiveState = (
  env: Env,
  state: EngineState
): Result.Result<ReadonlyArray<readonly [key: string, text: string]>, StateCodecError> =>
  Result.map(
    encodeEngineState(state),
    (encoded) => sectionNames.map((name) => [sectionKey(env, state.session.sessionId, name), JSON.stringify(encoded[name])] as const)
  )

/** A stored section as read: its JSON text, its already parsed JSON value, or `null` when absent. */
export type StoredSection = string | { readonly json: Result.Result<unknown, StateCodecError> } | null

/**
 * Reads a state back from its four stored sections, in `sectionNames` order:
 * `None` when all are absent, `Unreadable` when some are or any fails to decode.
 */
export const decodeLiveState = (
  store: StoreKind,
  env: Env,
  sessionId: SessionId,
  texts: ReadonlyArray<StoredSection>
): Effect.Effect<Option.Option<EngineState>, StoreError> => {
  if (texts.every((text) => text === null)) return Effect.succeedNone
  const location = sectionKey(env, sessionId, "session").replace(/:session$/, ":*")
  const missing = sectionNames.filter((_, i) => texts[i] === null)
  if (missing.length > 0) {
    return Effect.fail(StoreError.unreadable(store, location, `live state lacks section ${missing.join(", ")}`))
  }
  const sections: Record<string, unknown> = {}
  for (const [i, name] of sectionNames.entries()) {
    const stored = texts[i]!
    const parsed = typeof stored === "string" ? parseJson(name, stored) : stored.json
    if (Result.isFailure(parsed)) return Effect.fail(StoreError.unreadable(store, location, parsed.failure.message))
    sections[name] = parsed.success
  }
  const decoded = decodeEngineState(sections)
  if (Result.isFailure(decoded)) return Effect.fail(StoreError.unreadable(store, location, decoded.failure.message))
  if (decoded.success.session.sessionId !== sessionId) {
    return Effect.fail(StoreError.unreadable(
      store,
      location,
      `live state of ${sessionId} holds the session section of ${decoded.success.session.sessionId}`
    ))
  }
  return Effect.succeedSome(decoded.success)
}

const isSessionId = Schema.is(SessionIdSchema)

/** Session ids found among `keys`, skipping keys that are not valid session keys. */
export const sessionIdsOfKeys = (env: Env, keys: Iterable<string>): ReadonlyArray<SessionId> => {
  const ids = new Set<SessionId>()
  for (const key of keys) {
    const id = sessionIdOfKey(env, key)
    if (id !== undefined && isSessionId(id)) ids.add(id)
  }
  return [...ids].sort()
}

/** The refusal of a write whose token is below the session's fence. */
export const fencedWrite = (store: StoreKind, sessionId: SessionId, token: number, fence: number) =>
  StoreError.fenced(store, `live state of ${sessionId} refused: token ${token} is below the fence ${fence}`)

/** A live tier kept in this process's memory; it holds the same encoded texts Redis would, and the same fences. */
export const makeMemory = (
  env: Env,
  entries: Map<string, string> = new Map(),
  options: { readonly maxSectionBytes?: number } = {}
): HotStateStore["Service"] => {
  const maxSectionBytes = options.maxSectionBytes ?? defaultMaxSectionBytes
  let written = 0
  const fenceOf = (sessionId: SessionId) => Number(entries.get(fenceKey(env, sessionId)) ?? "0")
  /** Checks `token` against the fence and raises the fence to it, as the Redis script does. */
  const passFence = (sessionId: SessionId, token: number) =>
    Effect.suspend(() => {
      const fence = fenceOf(sessionId)
      if (token < fence) return Effect.fail(fencedWrite("memory", sessionId, token, fence))
      if (token > fence) entries.set(fenceKey(env, sessionId), String(token))
      return Effect.void
    })
  return HotStateStore.of({
    env,
    kind: "memory",
    durable: false,
    save: Effect.fnUntraced(function*(state: EngineState, fencingToken = 0) {
      const pairs = yield* Effect.fromResult(encodeLiveState(env, state))
      yield* passFence(state.session.sessionId, fencingToken)
      for (const [key, text] of pairs) {
        entries.set(key, text)
        written += text.length
      }
    }),
    load: (sessionId) =>
      Effect.suspend(() => {
        const keys = sessionKeys(env, sessionId)
        for (const [i, key] of keys.entries()) {
          const bytes = Buffer.byteLength(entries.get(key) ?? "")
          if (bytes > maxSectionBytes) {
            return Effect.fail(StoreError.unreadable("memory", key, oversizedMessage(sectionNames[i]!, bytes, maxSectionBytes)))
          }
        }
        return decodeLiveState("memory", env, sessionId, keys.map((key) => entries.get(key) ?? null))
      }),
    delete: (sessionId, fencingToken = 0) =>
      passFence(sessionId, fencingToken).pipe(Effect.andThen(Effect.sync(() => sessionKeys(env, sessionId).forEach((key) => entries.delete(key))))),
    raiseFence: (sessionId, fencingToken) =>
      Effect.sync(() => {
        if (fencingToken > fenceOf(sessionId)) entries.set(fenceKey(env, sessionId), String(fencingToken))
      }),
    listSessions: () => Effect.sync(() => sessionIdsOfKeys(env, entries.keys())),
    bytesWritten: Effect.sync(() => written)
  })
}

/** The memory backing for `env`. */
export const layerMemory = (env: Env): Layer.Layer<HotStateStore> => Layer.sync(HotStateStore, () => makeMemory(env))
