/**
 * LiveStateStore: the live state of running sessions, written every loop.
 *
 * One contract, several backings: Redis (`RedisLiveStateStore`) for real use,
 * and memory (`layerMemory`) as the embedded default and for tests. Every
 * backing stores the same thing: one JSON text per section under the keys of
 * `StateKeys`, each encoded by its Schema, written all at once, with the
 * fencing token of the writer beside it; and, with the state, its ledger
 * tail: the trades it counts closed that no snapshot has appended to the
 * durable trade ledger yet, so that a crash between the two loses none.
 *
 * Fences: a session written under a lease has a fence, the highest token
 * that wrote or raised it; a lower token is refused (`Fenced`). A store that
 * has lost the fence (Redis restarted empty, a damaged key) refuses every
 * write that carries a token (`FenceLost`) until the writer has confirmed its
 * lease and raised the fence again: a missing fence is never read as "token
 * 0 holds it". Writes without a token (0: no lease in use) are taken only by
 * a session that has never had a fence.
 *
 * @module
 */
import { Context, Effect, Layer, Option, Result } from "effect"
import type { LedgerEntry } from "../domain/ClosedTrade.ts"
import type { EngineState } from "../domain/EngineState.ts"
import type { Env, SessionId } from "../domain/Ids.ts"
import { StateCodecError } from "../domain/StateCodecError.ts"
import {
  encodeLiveState,
  fencedWrite,
  fenceLostWrite,
  type LiveRead,
  sessionIdsOfKeys,
  writeMark
} from "./internal/LiveStateCodec.ts"
import { defaultMaxSectionBytes, oversizedMessage, unwritableMessage } from "./internal/StateLimits.ts"
import { newParts, protectSection, readSealedLiveState, sectionPart } from "./internal/LiveSeal.ts"
import { fenceKey, liveParts, sealKey, sessionKeys, writeMarkKey } from "./StateKeys.ts"
import type { StateProtection } from "./StateProtection.ts"
import { StoreError, type StoreKind } from "./StoreError.ts"

/** A session's live state as read, its ledger tail, and the fencing token of the write that left it. */
export interface LiveState {
  readonly state: EngineState
  /** The state's newest closes not yet in the durable trade ledger (empty when there are none). */
  readonly ledgerTail: ReadonlyArray<LedgerEntry>
  /** The writer's token (0: written without a lease); `null` when it is not recorded (written by an older version). */
  readonly fencingToken: number | null
}

/** `load` made of `read`: the state opened (decoded and checked) at once. */
export const loadOf = (read: (sessionId: SessionId) => Effect.Effect<Option.Option<LiveRead>, StoreError>) =>
  (sessionId: SessionId): Effect.Effect<Option.Option<LiveState>, StoreError> =>
    Effect.flatMap(read(sessionId), (found) =>
      Option.isNone(found)
        ? Effect.succeedNone
        : Effect.fromResult(Result.map(found.value.open(), (decoded) => Option.some({ ...decoded, fencingToken: found.value.fencingToken }))))

export type { LiveRead }

/** The live tier: save, load and delete the state of a session, list the sessions that have one. */
export class LiveStateStore extends Context.Service<LiveStateStore, {
  /** The namespace every key of this store lives in. */
  readonly env: Env
  readonly kind: StoreKind
  /** Whether the state survives a restart of this process (false for memory). */
  readonly durable: boolean
  /**
   * Writes all four sections of the state and its ledger tail (default none; refused unless they are
   * the state's newest closes) at once; a failed write leaves the previous state whole. Refused
   * (`Fenced`) when `fencingToken` is below the session's fence, and (`FenceLost`) when the session
   * has no usable fence and a token is given; a higher token raises the fence.
   */
  readonly save: (
    state: EngineState,
    fencingToken?: number,
    ledgerTail?: ReadonlyArray<LedgerEntry>
  ) => Effect.Effect<void, StoreError | StateCodecError>
  /**
   * The session's state, its ledger tail and its writer's token, `None` when it has none;
   * `Unreadable` when what is stored is not a valid state (or its tail not the state's).
   */
  readonly load: (sessionId: SessionId) => Effect.Effect<Option.Option<LiveState>, StoreError>
  /**
   * The session's live state as read but not yet decoded (`None` when it has none): its loop count
   * and writer's token, known from its session section and mark, and the whole state, decoded on
   * first use as `load` would (a restore decodes only the fresher of its candidates). `Unreadable`
   * when a key cannot be read at all (the wrong type, over the size limit).
   */
  readonly read: (sessionId: SessionId) => Effect.Effect<Option.Option<LiveRead>, StoreError>
  /** Removes the session's live state (all four sections at once); fenced like `save`. */
  readonly delete: (sessionId: SessionId, fencingToken?: number) => Effect.Effect<void, StoreError>
  /**
   * Raises the session's fence to `fencingToken` (never lowers it; a damaged fence is replaced):
   * older tokens can no longer write. Only a lease holder whose lease is confirmed may call it.
   * Returns the fence it found (`null`: none, or damaged), which may be above `fencingToken`.
   */
  readonly raiseFence: (sessionId: SessionId, fencingToken: number) => Effect.Effect<number | null, StoreError>
  /** The sessions with live state in this env. */
  readonly listSessions: () => Effect.Effect<ReadonlyArray<SessionId>, StoreError>
  /** Payload bytes this store has written so far (what incremental saves save). */
  readonly bytesWritten: Effect.Effect<number>
}>()("arbitrage-state/store/LiveStateStore") {}

/** A live tier kept in this process's memory; it holds the same encoded texts Redis would, and the same fences. */
export const makeMemory = (
  env: Env,
  entries: Map<string, string> = new Map(),
  options: { readonly maxSectionBytes?: number; readonly protection?: StateProtection } = {}
): LiveStateStore["Service"] => {
  const maxSectionBytes = options.maxSectionBytes ?? defaultMaxSectionBytes
  const protection = options.protection
  let written = 0
  let writes = 0
  /** Checks `token` against the fence and raises the fence to it, as the Redis script does. */
  const passFence = (sessionId: SessionId, token: number) =>
    Effect.suspend(() => {
      const stored = entries.get(fenceKey(env, sessionId))
      if (stored === undefined && token === 0) return Effect.void
      const fence = stored !== undefined && /^\d+$/.test(stored) ? Number(stored) : undefined
      if (fence === undefined) return Effect.fail(fenceLostWrite("memory", sessionId, token))
      if (token < fence) return Effect.fail(fencedWrite("memory", sessionId, token, fence))
      if (token > fence) entries.set(fenceKey(env, sessionId), String(token))
      return Effect.void
    })
  const read = (sessionId: SessionId) =>
    Effect.suspend(() => {
      const keys = sessionKeys(env, sessionId)
      for (const [i, key] of keys.entries()) {
        const bytes = Buffer.byteLength(entries.get(key) ?? "")
        if (bytes > maxSectionBytes) {
          return Effect.fail(StoreError.unreadable("memory", key, oversizedMessage(liveParts[i]!, bytes, maxSectionBytes)))
        }
      }
      return Effect.succeed(readSealedLiveState(
        "memory",
        env,
        sessionId,
        keys.map((key) => entries.get(key) ?? null),
        entries.get(writeMarkKey(env, sessionId)),
        entries.get(sealKey(env, sessionId)),
        protection,
        () => null
      ))
    })
  return LiveStateStore.of({
    env,
    kind: "memory",
    durable: false,
    save: Effect.fnUntraced(function*(state: EngineState, fencingToken = 0, ledgerTail: ReadonlyArray<LedgerEntry> = []) {
      const sessionId = state.session.sessionId
      const pairs = (yield* Effect.fromResult(encodeLiveState(env, state, ledgerTail))).map(([key, text], i) =>
        [key, text === null ? null : protectSection(protection, env, sessionId, liveParts[i]!, text)] as const
      )
      // What a load would refuse to read is not written.
      for (const [i, [, text]] of pairs.entries()) {
        const bytes = text === null ? 0 : Buffer.byteLength(text)
        if (bytes > maxSectionBytes) return yield* StateCodecError.invalid(liveParts[i]!, unwritableMessage(liveParts[i]!, bytes, maxSectionBytes))
      }
      yield* passFence(state.session.sessionId, fencingToken)
      for (const [key, text] of pairs) {
        if (text === null) {
          entries.delete(key)
          continue
        }
        entries.set(key, text)
        written += text.length
      }
      entries.set(writeMarkKey(env, sessionId), writeMark(fencingToken, String(++writes)))
      if (protection === undefined) entries.delete(sealKey(env, sessionId))
      else {
        const parts = newParts(protection, env, sessionId)
        for (const [i, [, text]] of pairs.entries()) if (text !== null) parts.set(sectionPart(liveParts[i]!), text)
        entries.set(sealKey(env, sessionId), parts.seal(protection, fencingToken))
      }
    }),
    read,
    load: loadOf(read),
    delete: (sessionId, fencingToken = 0) =>
      passFence(sessionId, fencingToken).pipe(
        Effect.andThen(Effect.sync(() =>
          [...sessionKeys(env, sessionId), writeMarkKey(env, sessionId), sealKey(env, sessionId)].forEach((key) => entries.delete(key))
        ))
      ),
    raiseFence: (sessionId, fencingToken) =>
      Effect.sync(() => {
        const stored = entries.get(fenceKey(env, sessionId))
        const fence = stored !== undefined && /^\d+$/.test(stored) ? Number(stored) : null
        if (fence === null || fencingToken > fence) entries.set(fenceKey(env, sessionId), String(fencingToken))
        return fence
      }),
    listSessions: () => Effect.sync(() => sessionIdsOfKeys(env, entries.keys())),
    bytesWritten: Effect.sync(() => written)
  })
}

/** The memory backing for `env` (sealing under `protection`, when given). */
export const layerMemory = (env: Env, protection?: StateProtection): Layer.Layer<LiveStateStore> =>
  Layer.sync(LiveStateStore, () => makeMemory(env, new Map(), protection === undefined ? {} : { protection }))
