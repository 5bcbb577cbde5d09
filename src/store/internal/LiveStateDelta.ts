/**
 * LiveStateDelta: what a live save must write, given what the previous save
 * of the same session wrote.
 *
 * The runner builds each state from the previous one and shares every part
 * that did not change (the same objects), so a part that is the same object
 * as last time is the same value and is not encoded or written again. The
 * positions section is stored per trade (a Redis hash: `v` the section's
 * version, `t:<id>` a trade, `o:<id>` its open time), so a loop that changes
 * one trade writes one trade, and a loop that changes no trade writes only
 * the session section (its loop count).
 *
 * What is written is still checked, and what was not changed is not checked
 * again: every changed part is encoded by its Schema; each trade that changed
 * is checked against its key and open time; the invariants across sections
 * (open trades counted once in the metrics and per symbol in the risk
 * counters, none older than the session) are checked on every save, against
 * a summary of the open trades that is made again only when the positions
 * changed. A loop that changed no trade (the same positions object) costs
 * the same whatever the number of open trades.
 */
import { Result, Schema } from "effect"
import { ArbitrageTrade } from "../../domain/ArbitrageTrade.ts"
import { type LedgerEntry, ledgerTailIssue } from "../../domain/ClosedTrade.ts"
import { type EngineState, engineStateIssues } from "../../domain/EngineState.ts"
import { compileExactShape } from "../../domain/internal/ExactShape.ts"
import { PendingTrade, VenueBaseline } from "../../domain/OrderIntent.ts"
import { pendingIssues, positionsIssues } from "../../domain/PositionsState.ts"
import { decodeCustomSections, parseJson, sectionCodecs } from "../../domain/StateCodec.ts"
import { MalformedJson, StateCodecError } from "../../domain/StateCodecError.ts"
import { encodeLiveLedgerTail } from "./LiveStateCodec.ts"

/** The string sections, each under its own key. */
export const stringSections = ["session", "metrics", "riskGuard"] as const
/** One of the sections stored as a JSON string. */
export type StringSection = typeof stringSections[number]

/**
 * One write of a save (`custom`: the runner's own sections, one key, which `unset` removes when the
 * state has none; `ledger`: the ledger tail, one key, always there).
 */
export type LiveWrite =
  | { readonly op: "set"; readonly section: StringSection | "custom" | "ledger"; readonly text: string }
  | { readonly op: "unset"; readonly section: "custom" }
  | { readonly op: "hset"; readonly field: string; readonly text: string }
  | { readonly op: "hdel"; readonly field: string }
  | { readonly op: "reset" }

/** What the store remembers of the last save of a session: the parts it wrote. */
export interface LiveCache {
  readonly session: EngineState["session"]
  readonly metrics: EngineState["metrics"]
  readonly riskGuard: EngineState["riskGuard"]
  readonly custom: EngineState["custom"]
  readonly ledgerTail: ReadonlyArray<LedgerEntry>
  /** Each open trade as written, and the bytes its two hash fields hold. */
  readonly trades: ReadonlyMap<string, { readonly trade: ArbitrageTrade; readonly openedAt: number; readonly hashBytes: number }>
  /** Each trade in flight as written, and the bytes of its hash field. */
  readonly pending: ReadonlyMap<string, { readonly pending: PendingTrade; readonly hashBytes: number }>
  /** The venues' holdings before the session, as written (and its field's bytes). */
  readonly baseline: { readonly value: VenueBaseline | undefined; readonly hashBytes: number }
  /** The positions section as written, what its hash holds (bytes), and the summary of its open trades. */
  readonly positions: EngineState["positions"]
  readonly positionsBytes: number
  readonly summary: OpenTradesSummary
}

/**
 * What the invariants across sections need of the open trades: how many, by symbol with their
 * notional, and a time no later than the earliest open time. Kept up to date by the trades that
 * changed (a sum moved by each), and made again from every trade after `refreshEvery` changes so that
 * floating-point drift stays far below the tolerance; a check it fails is made again on the whole state.
 */
interface OpenTradesSummary {
  readonly count: number
  readonly bySymbol: ReadonlyMap<string, { readonly count: number; readonly notional: number }>
  readonly earliestOpenedAt: number
  readonly changes: number
}

/** After this many trades changed, the summary is made again from every open trade. */
const refreshEvery = 10_000

/** How far a symbol's capital used may drift from the sum of its open notionals (as `EngineState` allows). */
const capitalTolerance = (capital: number) => 1e-9 * Math.max(1, Math.abs(capital))

/** Whether the state is consistent across sections, by the summary of its open trades (`engineStateIssues` names what is not). */
const consistentAcross = (state: EngineState, summary: OpenTradesSummary): boolean => {
  if (summary.count !== state.metrics.tradesOpened - state.metrics.tradesClosed) return false
  if (summary.count > 0 && summary.earliestOpenedAt < state.session.startTime) return false
  const perSymbol: Readonly<Record<string, { readonly positionCount: number; readonly capitalUsedUsd: number }>> = state.riskGuard.perSymbol
  for (const symbol of summary.bySymbol.keys()) if (perSymbol[symbol] === undefined) return false
  for (const [symbol, risk] of Object.entries(perSymbol)) {
    const open = summary.bySymbol.get(symbol) ?? { count: 0, notional: 0 }
    if (risk.positionCount !== open.count || Math.abs(risk.capitalUsedUsd - open.notional) > capitalTolerance(open.notional)) return false
  }
  return true
}

/** A planned save: the writes, whether they replace everything, the payload bytes they carry, and the positions hash's size after it. */
export interface LivePlan {
  readonly writes: ReadonlyArray<LiveWrite>
  readonly full: boolean
  readonly bytes: number
  readonly positionsBytes: number
  readonly cache: LiveCache
}

/** The encoder of a hash field's value: by its compiled exact shape when that proves it (see `ExactShape`), else by its Schema. */
const fieldEncoder = <S extends Schema.Top & { readonly EncodingServices: never }>(schema: S) => {
  const bySchema = Schema.encodeUnknownResult(schema)
  const exact = compileExactShape(schema) ?? (() => undefined)
  return (value: S["Type"]): Result.Result<unknown, Schema.SchemaError> => {
    const copy = exact(value)
    return copy !== undefined ? Result.succeed(copy.value) : bySchema(value, { errors: "all" })
  }
}
const encodeTrade = fieldEncoder(ArbitrageTrade)
const encodePending = fieldEncoder(PendingTrade)
const encodeBaseline = fieldEncoder(VenueBaseline)

/** The hash field of a trade. */
export const tradeField = (id: string) => `t:${id}`
/** The hash field of a trade's open time. */
export const openTimeField = (id: string) => `o:${id}`
/** The hash field of the positions section's version (it also keeps the hash from ever being empty). */
export const versionField = "v"
/** The hash field of a trade in flight. */
export const pendingField = (id: string) => `p:${id}`
/** The hash field of the venues' holdings before the session. */
export const baselineField = "b"


const invariantFailure = (issues: ReadonlyArray<{ readonly path: ReadonlyArray<string>; readonly issue: string }>, prefix: string) =>
  StateCodecError.invalid("state", issues.map((i) => `${i.issue} at ${prefix}${i.path.join(".")}`).join("; "))

/** The failure naming what is inconsistent in `state` (across sections first, then in its positions), if anything is. */
const inconsistency = (state: EngineState): StateCodecError | undefined => {
  const crossIssues = engineStateIssues(state)
  if (crossIssues.length > 0) return invariantFailure(crossIssues, "state.")
  const positionIssues = [...positionsIssues(state.positions), ...pendingIssues(state.positions)]
  if (positionIssues.length > 0) return invariantFailure(positionIssues, "positions.")
  return undefined
}

/** Each string section's encoder, by name (one each, so that each is checked against its own section's type). */
const encodeStringSection: { readonly [K in StringSection]: (state: EngineState) => Result.Result<unknown, StateCodecError> } = {
  session: (state) => sectionCodecs.session.encode(state.session),
  metrics: (state) => sectionCodecs.metrics.encode(state.metrics),
  riskGuard: (state) => sectionCodecs.riskGuard.encode(state.riskGuard)
}

/** Plans the save of `state` and its ledger tail after the save `previous` (everything, when there is none). */
export const planLiveWrite = (
  state: EngineState,
  ledgerTail: ReadonlyArray<LedgerEntry>,
  previous: LiveCache | undefined
): Result.Result<LivePlan, StateCodecError> => {
  const positions = previous !== undefined && previous.positions === state.positions
    ? { writes: [], bytes: 0, trades: previous.trades, pending: previous.pending, baseline: previous.baseline, positionsBytes: previous.positionsBytes, summary: previous.summary, consistent: true }
    : planPositions(state, previous)
  if (Result.isResult(positions)) return positions
  // Found inconsistent (or unproven): the whole state's checks name what is wrong.
  if (!positions.consistent || !consistentAcross(state, positions.summary)) {
    const failure = inconsistency(state)
    if (failure !== undefined) return Result.fail(failure)
  }

  const writes: Array<LiveWrite> = []
  let bytes = 0
  if (previous === undefined) {
    writes.push({ op: "reset" }, { op: "hset", field: versionField, text: String(sectionCodecs.positions.currentVersion) })
  }
  for (const section of stringSections) {
    if (previous !== undefined && previous[section] === state[section]) continue
    const encoded = encodeStringSection[section](state)
    if (Result.isFailure(encoded)) return Result.fail(encoded.failure)
    const text = JSON.stringify(encoded.success)
    bytes += text.length
    writes.push({ op: "set", section, text })
  }
  if (previous === undefined || previous.custom !== state.custom) {
    if (state.custom === undefined) {
      // A whole write removes whatever another writer left there.
      if (previous === undefined || previous.custom !== undefined) writes.push({ op: "unset", section: "custom" })
    } else {
      const custom = decodeCustomSections(state.custom)
      if (Result.isFailure(custom)) return Result.fail(custom.failure)
      if (custom.success === undefined) writes.push({ op: "unset", section: "custom" })
      else {
        const text = JSON.stringify(custom.success)
        bytes += text.length
        writes.push({ op: "set", section: "custom", text })
      }
    }
  }
  // The tail is written whenever it or the count of closes changed (it says how far the durable
  // ledger holds them), and is checked against the state either way.
  const closed = state.metrics.tradesClosed
  const sameTail = previous !== undefined && (previous.ledgerTail === ledgerTail || (previous.ledgerTail.length === 0 && ledgerTail.length === 0))
  if (previous === undefined || !sameTail || previous.metrics.tradesClosed !== closed) {
    const tail = encodeLiveLedgerTail(state, ledgerTail)
    if (Result.isFailure(tail)) return Result.fail(tail.failure)
    const text = JSON.stringify(tail.success)
    bytes += text.length
    writes.push({ op: "set", section: "ledger", text })
  } else if (ledgerTail.length > 0) {
    const issue = ledgerTailIssue(state, ledgerTail)
    if (issue !== undefined) return Result.fail(StateCodecError.invalid("ledger", issue))
  }
  writes.push(...positions.writes)
  bytes += positions.bytes
  return Result.succeed({
    writes,
    full: previous === undefined,
    bytes,
    positionsBytes: positions.positionsBytes,
    cache: {
      session: state.session,
      metrics: state.metrics,
      riskGuard: state.riskGuard,
      custom: state.custom,
      ledgerTail,
      trades: positions.trades,
      pending: positions.pending,
      baseline: positions.baseline,
      positions: state.positions,
      positionsBytes: positions.positionsBytes,
      summary: positions.summary
    }
  })
}

/**
 * The writes of the positions section after `previous`: each trade, trade in flight and the baseline
 * that changed (encoded and checked), each one gone removed; what the hash holds after; the summary of
 * the open trades; and whether every trade that changed is consistent with its key and open time.
 */
const planPositions = (state: EngineState, previous: LiveCache | undefined) => {
  const writes: Array<LiveWrite> = []
  let bytes = 0
  let consistent = true
  // The summary: moved by each trade that changed, or made from every trade (first, and now and then).
  const fresh = previous === undefined || previous.summary.changes >= refreshEvery
  const bySymbol = new Map<string, { count: number; notional: number }>()
  if (!fresh) for (const [symbol, open] of previous.summary.bySymbol) bySymbol.set(symbol, { ...open })
  let earliestOpenedAt = fresh ? Number.POSITIVE_INFINITY : previous.summary.earliestOpenedAt
  let changes = fresh ? 0 : previous.summary.changes
  const move = (trade: ArbitrageTrade, sign: 1 | -1) => {
    const symbol = bySymbol.get(trade.symbol)
    if (symbol === undefined) bySymbol.set(trade.symbol, { count: sign, notional: sign * trade.notionalUsd })
    else {
      symbol.count += sign
      symbol.notional += sign * trade.notionalUsd
      if (symbol.count === 0) bySymbol.delete(trade.symbol)
    }
    if (sign === 1 && trade.openedAt < earliestOpenedAt) earliestOpenedAt = trade.openedAt
  }
  let count = 0
  // The trades as written last time, updated where they changed (a copy of a map is cheaper than rebuilding it).
  const trades = new Map<string, { readonly trade: ArbitrageTrade; readonly openedAt: number; readonly hashBytes: number }>(previous?.trades ?? [])
  // What the positions hash will hold, as a load counts it (every field's name and value).
  let positionsBytes = versionField.length + String(sectionCodecs.positions.currentVersion).length
  const activeTrades: Readonly<Record<string, ArbitrageTrade>> = state.positions.activeTrades
  const positionOpenTimes: Readonly<Record<string, number>> = state.positions.positionOpenTimes
  for (const id in activeTrades) {
    const trade = activeTrades[id]!
    const openedAt = positionOpenTimes[id]!
    count++
    const before = trades.get(id)
    if (fresh) move(trade, 1)
    if (before !== undefined && before.trade === trade && before.openedAt === openedAt) {
      positionsBytes += before.hashBytes
      continue
    }
    if (!fresh) {
      if (before !== undefined) move(before.trade, -1)
      move(trade, 1)
      changes++
    }
    // A trade that changed: under its own id, with its own open time.
    if (trade.tradeId !== id || openedAt !== trade.openedAt) consistent = false
    const encoded = encodeTrade(trade)
    if (Result.isFailure(encoded)) return Result.fail(StateCodecError.fromIssue("positions", encoded.failure.issue))
    const text = JSON.stringify(encoded.success)
    const hashBytes = tradeField(id).length + Buffer.byteLength(text) + openTimeField(id).length + String(openedAt).length
    trades.set(id, { trade, openedAt, hashBytes })
    positionsBytes += hashBytes
    bytes += text.length + String(openedAt).length
    writes.push({ op: "hset", field: tradeField(id), text }, { op: "hset", field: openTimeField(id), text: String(openedAt) })
  }
  // Trades closed since: every one written before that is not open now (none, when the counts agree).
  if (trades.size !== count) {
    for (const id of [...trades.keys()]) {
      if (Object.hasOwn(activeTrades, id)) continue
      if (!fresh) {
        move(trades.get(id)!.trade, -1)
        changes++
      }
      trades.delete(id)
      writes.push({ op: "hdel", field: tradeField(id) }, { op: "hdel", field: openTimeField(id) })
    }
  }
  // No open time of a trade that is not open: as many open times as open trades, each one's found above.
  if (state.positions.positionOpenTimes !== previous?.positions.positionOpenTimes && Object.keys(state.positions.positionOpenTimes).length !== count) {
    consistent = false
  }
  // Trades in flight are few: checked whole whenever the positions changed.
  if (pendingIssues(state.positions).length > 0) consistent = false
  // Trades in flight (a live runner's), one field each, written when they changed.
  const pending = new Map<string, { readonly pending: PendingTrade; readonly hashBytes: number }>()
  for (const [id, trade] of Object.entries(state.positions.pendingTrades ?? {})) {
    const before = previous?.pending.get(id)
    if (before !== undefined && before.pending === trade) {
      pending.set(id, before)
      positionsBytes += before.hashBytes
      continue
    }
    const encoded = encodePending(trade)
    if (Result.isFailure(encoded)) return Result.fail(StateCodecError.fromIssue("positions", encoded.failure.issue))
    const text = JSON.stringify(encoded.success)
    const hashBytes = pendingField(id).length + Buffer.byteLength(text)
    pending.set(id, { pending: trade, hashBytes })
    positionsBytes += hashBytes
    bytes += text.length
    writes.push({ op: "hset", field: pendingField(id), text })
  }
  for (const id of previous?.pending.keys() ?? []) {
    if (!pending.has(id)) writes.push({ op: "hdel", field: pendingField(id) })
  }
  const baselineValue = state.positions.venueBaseline
  let baseline = previous?.baseline ?? { value: undefined, hashBytes: 0 }
  if (previous === undefined || previous.baseline.value !== baselineValue) {
    if (baselineValue === undefined) {
      if (previous !== undefined && previous.baseline.value !== undefined) writes.push({ op: "hdel", field: baselineField })
      baseline = { value: undefined, hashBytes: 0 }
    } else {
      const encoded = encodeBaseline(baselineValue)
      if (Result.isFailure(encoded)) return Result.fail(StateCodecError.fromIssue("positions", encoded.failure.issue))
      const text = JSON.stringify(encoded.success)
      baseline = { value: baselineValue, hashBytes: baselineField.length + Buffer.byteLength(text) }
      bytes += text.length
      writes.push({ op: "hset", field: baselineField, text })
    }
  }
  positionsBytes += baseline.hashBytes
  return { writes, bytes, trades, pending, baseline, positionsBytes, summary: { count, bySymbol, earliestOpenedAt, changes } satisfies OpenTradesSummary, consistent }
}


/**
 * The positions section (its stored JSON form) from the fields of its hash.
 * A field that is not a version, a trade or an open time, or a trade that is
 * not JSON, is a typed failure.
 */
export const positionsFromHash = (fields: ReadonlyArray<string>): Result.Result<unknown, StateCodecError> => {
  let version: number | undefined
  const activeTrades: Record<string, unknown> = {}
  const positionOpenTimes: Record<string, unknown> = {}
  let pendingTrades: Record<string, unknown> | undefined
  let venueBaseline: unknown
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const field = fields[i]!
    const value = fields[i + 1]!
    if (field === versionField) version = Number(value)
    else if (field.startsWith("t:")) {
      const parsed = parseJson("positions", value)
      if (Result.isFailure(parsed)) return parsed
      activeTrades[field.slice(2)] = parsed.success
    } else if (field.startsWith("o:")) {
      const time = Number(value)
      positionOpenTimes[field.slice(2)] = value.trim() !== "" && Number.isFinite(time) ? time : value
    } else if (field.startsWith("p:")) {
      const parsed = parseJson("positions", value)
      if (Result.isFailure(parsed)) return parsed
      pendingTrades = { ...pendingTrades, [field.slice(2)]: parsed.success }
    } else if (field === baselineField) {
      const parsed = parseJson("positions", value)
      if (Result.isFailure(parsed)) return parsed
      venueBaseline = parsed.success
    } else {
      return Result.fail(new StateCodecError({
        reason: new MalformedJson({ part: "positions", message: `positions hash has an unknown field ${JSON.stringify(field)}` })
      }))
    }
  }
  return Result.succeed({
    ...(version === undefined ? {} : { version }),
    activeTrades,
    positionOpenTimes,
    ...(pendingTrades === undefined ? {} : { pendingTrades }),
    ...(venueBaseline === undefined ? {} : { venueBaseline })
  })
}
