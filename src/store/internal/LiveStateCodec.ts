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
import { decodeEngineState, decodeSectionJson, encodeEngineState, parseJson } from "../../domain/StateCodec.ts"
import { StateCodecError } from "../../domain/StateCodecError.ts"
import { liveParts, sectionKey, sessionIdOfKey } from "../StateKeys.ts"
import { StoreError, type StoreKind } from "../StoreError.ts"

/**
 * The stored form of `tail` as the ledger tail of `state` (written with every state, even empty:
 * it says how far the durable ledger holds the state's closes); refused unless it holds the
 * state's newest closes.
 */
export const encodeLiveLedgerTail = (state: EngineState, tail: ReadonlyArray<LedgerEntry>) => {
  const issue = ledgerTailIssue(state, tail)
  return issue === undefined ? encodeLedgerTail(tail, state.metrics.tradesClosed) : Result.fail(StateCodecError.invalid("ledger", issue))
}

/**
 * The key/value pairs that hold a state, in `liveParts` order: one encoded section per key, the
 * runner's own sections under one more (`null`: the key is removed, the state has none) and the
 * ledger tail under another; fails if the state breaks an invariant or the tail is not its own.
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
      [sectionKey(env, state.session.sessionId, "ledger"), JSON.stringify(tail)] as const
    ]))

/** A stored section as read: its JSON text, its JSON value parsed when first asked for, or `null` when absent. */
export type StoredSection = string | { readonly json: () => Result.Result<unknown, StateCodecError> } | null

/** A state and its ledger tail as a live tier holds them. */
export interface DecodedLiveState {
  readonly state: EngineState
  readonly ledgerTail: ReadonlyArray<LedgerEntry>
}

/**
 * A session's live state as read, before it is decoded: the loop count its session section holds
 * (`undefined` when that section alone does not decode: only the whole decode can say why), the
 * writer's token of its mark, and the whole state, decoded and checked once, on first use.
 */
export interface LiveRead {
  readonly loopCount: number | undefined
  readonly fencingToken: number | null
  /** The whole state decoded and checked (once: later calls give the same verdict). */
  readonly open: () => Result.Result<DecodedLiveState, StoreError>
  /** Whether it carries a seal (see `StateProtection`), holding or not; absent: not known. */
  readonly sealed?: boolean
}

/**
 * Reads a state and its ledger tail back from their stored parts, in `liveParts` order (the four
 * sections, the runner's own, the tail), left by the write `mark` names: `None` when all are
 * absent. Its `open` fails `Unreadable` when a section is missing or any fails to decode, or the
 * tail is not the state's newest closes after those it says are durable. The runner's own part
 * may be absent (it has none); the tail only when an older version wrote the state (its mark says
 * so), which kept none.
 */
export const readLiveState = (
  store: StoreKind,
  env: Env,
  sessionId: SessionId,
  texts: ReadonlyArray<StoredSection>,
  mark: string | null | undefined
): Option.Option<LiveRead> => {
  if (texts.every((text) => text === null)) return Option.none()
  const sessionText = texts[liveParts.indexOf("session")]
  const session = typeof sessionText === "string" ? decodeSectionJson("session", sessionText) : undefined
  let decoded: Result.Result<DecodedLiveState, StoreError> | undefined
  return Option.some({
    loopCount: session !== undefined && Result.isSuccess(session) ? session.success.loopCount : undefined,
    fencingToken: tokenOfMark(mark),
    open: () => {
      decoded ??= decodeLiveParts(store, env, sessionId, texts, mark)
      return decoded
    }
  })
}

/** `readLiveState`, opened: the state, its ledger tail and its writer's token. */
export const decodeLiveState = (
  store: StoreKind,
  env: Env,
  sessionId: SessionId,
  texts: ReadonlyArray<StoredSection>,
  mark: string | null | undefined
): Effect.Effect<Option.Option<DecodedLiveState & { readonly fencingToken: number | null }>, StoreError> => {
  const read = readLiveState(store, env, sessionId, texts, mark)
  if (Option.isNone(read)) return Effect.succeedNone
  return Effect.fromResult(Result.map(read.value.open(), (decoded) => Option.some({ ...decoded, fencingToken: read.value.fencingToken })))
}

const decodeLiveParts = (
  store: StoreKind,
  env: Env,
  sessionId: SessionId,
  texts: ReadonlyArray<StoredSection>,
  mark: string | null | undefined
): Result.Result<DecodedLiveState, StoreError> => {
  const location = sectionKey(env, sessionId, "session").replace(/:session$/, ":*")
  const unreadable = (message: string) => Result.fail(StoreError.unreadable(store, location, message))
  const optional = new Set(["custom", ...(keepsLedgerTail(mark) ? [] : ["ledger"])])
  const missing = liveParts.filter((part, i) => texts[i] === null && !optional.has(part))
  if (missing.length > 0) return unreadable(`live state lacks section ${missing.join(", ")}`)
  const sections: Record<string, unknown> = {}
  for (const [i, name] of liveParts.entries()) {
    const stored = texts[i] ?? null
    if (stored === null) continue
    const parsed = typeof stored === "string" ? parseJson(name, stored) : stored.json()
    if (Result.isFailure(parsed)) return unreadable(parsed.failure.message)
    sections[name] = parsed.success
  }
  const { ledger, ...stateSections } = sections
  const decoded = decodeEngineState(stateSections)
  if (Result.isFailure(decoded)) return unreadable(decoded.failure.message)
  if (decoded.success.session.sessionId !== sessionId) {
    return unreadable(`live state of ${sessionId} holds the session section of ${decoded.success.session.sessionId}`)
  }
  if (ledger === undefined) return Result.succeed({ state: decoded.success, ledgerTail: [] })
  const tail = decodeLedgerTail(ledger)
  if (Result.isFailure(tail)) return unreadable(tail.failure.message)
  const counted = decoded.success.metrics.tradesClosed
  const { durableUpTo, entries } = tail.success
  const issue = durableUpTo + entries.length !== counted
    ? `the ledger tail holds ${entries.length} closes after #${durableUpTo}, but the state counts ${counted} closed: closes were lost from it`
    : ledgerTailIssue(decoded.success, entries)
  if (issue !== undefined) return unreadable(issue)
  return Result.succeed({ state: decoded.success, ledgerTail: entries })
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

/**
 * The mark of a write: the writer's token, `L` (it wrote the ledger tail with the state, as every
 * write of this version does), then what makes the write unique.
 */
export const writeMark = (token: number, unique: string): string => `t${token}/L/${unique}`

/** Whether the write that left `mark` kept the ledger tail (a mark of an older version did not). */
export const keepsLedgerTail = (mark: string | null | undefined): boolean => mark !== null && mark !== undefined && /^t\d+\/L\//.test(mark)

/** The writer's token recorded in a mark, or `null` when there is none (a mark of an older version). */
export const tokenOfMark = (mark: string | null | undefined): number | null => {
  const found = mark === null || mark === undefined ? null : /^t(\d+)\//.exec(mark)
  return found === null ? null : Number(found[1])
}

