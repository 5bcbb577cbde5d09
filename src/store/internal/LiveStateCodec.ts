/**
 * LiveStateCodec: what every live-tier backing does to a session's state:
 * the key/value pairs that hold it (sections, the runner's own, the ledger
 * tail), reading them back checked, the session ids among keys, the marks
 * that carry a writer's token, and the refusals of a fenced write. Internal:
 * the backings of `LiveStateStore` use it.
 */
import { Effect, Option, Result, Schema } from "effect"
import { decodeLedgerTail, encodeLedgerTail, type LedgerEntry, ledgerTailIssue } from "../../domain/ClosedTrade.ts"
import { type EngineState, sectionNames } from "../../domain/EngineState.ts"
import type { Env, SessionId } from "../../domain/Ids.ts"
import { SessionId as SessionIdSchema } from "../../domain/Ids.ts"
import { decodeEngineState, encodeEngineState, parseJson } from "../../domain/StateCodec.ts"
import { StateCodecError } from "../../domain/StateCodecError.ts"
import { liveParts, sectionKey, sessionIdOfKey } from "../StateKeys.ts"
import { StoreError, type StoreKind } from "../StoreError.ts"

/** The stored form of `tail` as the ledger tail of `state`; refused unless it holds the state's newest closes. */
export const encodeLiveLedgerTail = (state: EngineState, tail: ReadonlyArray<LedgerEntry>) => {
  const issue = ledgerTailIssue(state, tail)
  return issue === undefined ? encodeLedgerTail(tail) : Result.fail(StateCodecError.invalid("ledger", issue))
}

/**
 * The key/value pairs that hold a state, in `liveParts` order: one encoded section per key, the
 * runner's own sections under one more and the ledger tail under another (`null`: the key is
 * removed, the state has none); fails if the state breaks an invariant or the tail is not its own.
 */
export const encodeLiveState = (
  env: Env,
  state: EngineState,
  ledgerTail: ReadonlyArray<LedgerEntry> = []
): Result.Result<ReadonlyArray<readonly [key: string, text: string | null]>, StateCodecError> =>
  Result.flatMap(encodeEngineState(state), (encoded) =>
    Result.map(encodeLiveLedgerTail(state, ledgerTail), (tail) => [
      ...sectionNames.map((name) => [sectionKey(env, state.session.sessionId, name), JSON.stringify(encoded[name])] as const),
      [sectionKey(env, state.session.sessionId, "custom"), encoded.custom === undefined ? null : JSON.stringify(encoded.custom)] as const,
      [sectionKey(env, state.session.sessionId, "ledger"), tail === undefined ? null : JSON.stringify(tail)] as const
    ]))

/** A stored section as read: its JSON text, its already parsed JSON value, or `null` when absent. */
export type StoredSection = string | { readonly json: Result.Result<unknown, StateCodecError> } | null

/** Parts of a live state that may be absent: the state has none of them. */
const optionalParts: ReadonlySet<string> = new Set(["custom", "ledger"])

/**
 * Reads a state and its ledger tail back from their stored parts, in `liveParts` order (the four
 * sections, the runner's own, the tail): `None` when all are absent, `Unreadable` when a section is
 * or any fails to decode, or the tail is not the state's newest closes (the runner's own part and
 * the tail may be absent: it has none).
 */
export const decodeLiveState = (
  store: StoreKind,
  env: Env,
  sessionId: SessionId,
  texts: ReadonlyArray<StoredSection>
): Effect.Effect<Option.Option<{ readonly state: EngineState; readonly ledgerTail: ReadonlyArray<LedgerEntry> }>, StoreError> => {
  if (texts.every((text) => text === null)) return Effect.succeedNone
  const location = sectionKey(env, sessionId, "session").replace(/:session$/, ":*")
  const missing = liveParts.filter((part, i) => texts[i] === null && !optionalParts.has(part))
  if (missing.length > 0) {
    return Effect.fail(StoreError.unreadable(store, location, `live state lacks section ${missing.join(", ")}`))
  }
  const sections: Record<string, unknown> = {}
  for (const [i, name] of liveParts.entries()) {
    const stored = texts[i] ?? null
    if (stored === null) continue
    const parsed = typeof stored === "string" ? parseJson(name, stored) : stored.json
    if (Result.isFailure(parsed)) return Effect.fail(StoreError.unreadable(store, location, parsed.failure.message))
    sections[name] = parsed.success
  }
  const { ledger, ...stateSections } = sections
  const decoded = decodeEngineState(stateSections)
  if (Result.isFailure(decoded)) return Effect.fail(StoreError.unreadable(store, location, decoded.failure.message))
  if (decoded.success.session.sessionId !== sessionId) {
    return Effect.fail(StoreError.unreadable(
      store,
      location,
      `live state of ${sessionId} holds the session section of ${decoded.success.session.sessionId}`
    ))
  }
  const tail = decodeLedgerTail(ledger)
  if (Result.isFailure(tail)) return Effect.fail(StoreError.unreadable(store, location, tail.failure.message))
  const issue = ledgerTailIssue(decoded.success, tail.success)
  if (issue !== undefined) return Effect.fail(StoreError.unreadable(store, location, issue))
  return Effect.succeedSome({ state: decoded.success, ledgerTail: tail.success })
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

/** The refusal of a write with a token, to a session whose fence is missing or damaged. */
export const fenceLostWrite = (store: StoreKind, sessionId: SessionId, token: number) =>
  StoreError.fenceLost(
    store,
    `live state of ${sessionId} refused: the store holds no usable fence for token ${token} (its data was lost or damaged); the lease must be confirmed and the fence raised again`
  )

/** The mark of a write: the writer's token, then what makes the write unique. */
export const writeMark = (token: number, unique: string): string => `t${token}/${unique}`

/** The writer's token recorded in a mark, or `null` when there is none (a mark of an older version). */
export const tokenOfMark = (mark: string | null | undefined): number | null => {
  const found = mark === null || mark === undefined ? null : /^t(\d+)\//.exec(mark)
  return found === null ? null : Number(found[1])
}

