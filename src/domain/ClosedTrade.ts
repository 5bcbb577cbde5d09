/**
 * ClosedTrade: an arbitrage trade as it ended, for the session's trade
 * ledger; and the ledger's entries, numbered in the order the session closed
 * them.
 *
 * A runner reports each trade it closes (`Session.persist`'s `closed`): both
 * entry legs as they were, the prices each leg was unwound at, the fees, the
 * realized PnL, why it closed, and when (loop and time). The session numbers
 * them (`closeNumber`: the session's first close is 1, its metrics'
 * `tradesClosed` the last) and makes each one durable with the first
 * snapshot whose state counts it: a closed trade lives on after snapshots
 * are gone, so a PnL is never a difference between two snapshots.
 *
 * Stored as `{ "version": 1, ...fields }`, like the state's sections; an
 * entry's checksum covers its session, its number and that stored form.
 *
 * @module
 */
import { Result, Schema } from "effect"
import { checksumOf } from "./Checksum.ts"
import { MarketSymbol, SessionId, TradeId } from "./Ids.ts"
import { Order } from "./Order.ts"
import { StateCodecError } from "./StateCodecError.ts"
import { BasisPoints, Count, EpochMillis, NonNegativeUsd, PositiveUsd, Price, Quantity, Usd } from "./Units.ts"
import { makeVersionedSection, type VersionedJson } from "./VersionedSection.ts"

/**
 * Why a trade was closed: `take_profit`, `stop_loss`, `timeout` (the bundled runner's), or a
 * runner's own word (`manual`, `kill_switch`, ...): a lower-case letter, then letters, digits or `_`.
 */
export const CloseReason = Schema.String.check(Schema.isPattern(/^[a-z][a-z0-9_]{0,31}$/)).annotate({ identifier: "CloseReason" })
export type CloseReason = typeof CloseReason.Type

/**
 * A closed arbitrage trade: its entry legs on two venues, the prices they were unwound at, fees and
 * realized PnL; closed no earlier than it opened.
 */
export const ClosedTrade = Schema.Struct({
  tradeId: TradeId,
  symbol: MarketSymbol,
  /** The order that bought the base asset, as it was when the trade opened. */
  buyLeg: Order,
  /** The order that sold it. */
  sellLeg: Order,
  /** Base-asset quantity traded on each leg. */
  quantity: Quantity,
  /** Capital the trade committed (both legs), in USD. */
  notionalUsd: PositiveUsd,
  /** Spread between the venues when it opened. */
  entrySpreadBps: BasisPoints,
  /** The price the bought quantity was sold back at, on the buy leg's venue. */
  buyLegExitPrice: Price,
  /** The price the sold quantity was bought back at, on the sell leg's venue. */
  sellLegExitPrice: Price,
  /** Fees paid on both legs, entry and exit, in USD. */
  feesUsd: NonNegativeUsd,
  /** What the trade made or lost, fees included, in USD: what the metrics' `totalPnlUsd` adds. */
  realizedPnlUsd: Usd,
  reason: CloseReason,
  openedAt: EpochMillis,
  closedAt: EpochMillis,
  /** The loop that closed it (the state's loop count before that loop ran). */
  closedLoop: Count
}).check(
  Schema.makeFilter((trade) => [
    ...(trade.closedAt >= trade.openedAt ? [] : [{ path: ["closedAt"], issue: `closed at ${trade.closedAt}, before it opened at ${trade.openedAt}` }]),
    ...(trade.buyLeg.side === "buy" ? [] : [{ path: ["buyLeg", "side"], issue: "the buy leg must buy" }]),
    ...(trade.sellLeg.side === "sell" ? [] : [{ path: ["sellLeg", "side"], issue: "the sell leg must sell" }]),
    ...[["buyLeg", trade.buyLeg] as const, ["sellLeg", trade.sellLeg] as const].flatMap(([name, leg]) =>
      leg.symbol === trade.symbol ? [] : [{ path: [name, "symbol"], issue: `leg symbol differs from the trade's ${trade.symbol}` }]
    )
  ])
).annotate({ identifier: "ClosedTrade" })
export type ClosedTrade = typeof ClosedTrade.Type

/** The versioned codec of a closed trade's stored form. */
export const closedTradeCodec = makeVersionedSection({ part: "ledger", schema: ClosedTrade, currentVersion: 1 })

/** One entry of a session's trade ledger: the session's `closeNumber`-th close. */
export interface LedgerEntry {
  readonly sessionId: SessionId
  /** 1 for the session's first close; the metrics' `tradesClosed` counts up to the newest. */
  readonly closeNumber: number
  readonly trade: ClosedTrade
}

/** A ledger entry as the stores keep it: its number, the trade's stored form, and a checksum over both and the session. */
export interface StoredLedgerEntry {
  readonly sessionId: string
  readonly closeNumber: number
  readonly trade: VersionedJson
  readonly checksum: string
}

const checksumOfEntry = (sessionId: string, closeNumber: number, trade: unknown) => checksumOf({ sessionId, closeNumber, trade })

const isSessionId = Schema.is(SessionId)
const isCloseNumber = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 1

/** Seals an entry into its stored form; fails when the trade breaks its Schema. */
export const encodeLedgerEntry = (entry: LedgerEntry): Result.Result<StoredLedgerEntry, StateCodecError> => {
  if (!isCloseNumber(entry.closeNumber)) {
    return Result.fail(StateCodecError.invalid("ledger", `close number ${entry.closeNumber} of ${entry.trade.tradeId} is not a positive integer`))
  }
  return Result.map(closedTradeCodec.encode(entry.trade), (trade) => ({
    sessionId: entry.sessionId,
    closeNumber: entry.closeNumber,
    trade,
    checksum: checksumOfEntry(entry.sessionId, entry.closeNumber, trade)
  }))
}

/** Opens a stored entry: its session id and number, its checksum, then the trade by its Schema (any version). */
export const decodeLedgerEntry = (stored: unknown): Result.Result<LedgerEntry, StateCodecError> => {
  if (stored === null || typeof stored !== "object" || Array.isArray(stored)) {
    return Result.fail(StateCodecError.invalid("ledger", "expected a ledger entry object"))
  }
  const { checksum, closeNumber, sessionId, trade } = stored as Record<string, unknown>
  if (typeof sessionId !== "string" || !isSessionId(sessionId)) {
    return Result.fail(StateCodecError.invalid("ledger", `ledger entry names no valid session (${JSON.stringify(sessionId) ?? "none"})`))
  }
  if (!isCloseNumber(closeNumber)) {
    return Result.fail(StateCodecError.invalid("ledger", `ledger entry of ${sessionId} has no valid close number (${JSON.stringify(closeNumber) ?? "none"})`))
  }
  const actual = checksumOfEntry(sessionId, closeNumber, trade)
  if (actual !== checksum) {
    return Result.fail(StateCodecError.invalid("ledger", `ledger entry #${closeNumber} of ${sessionId} fails its checksum: stored ${String(checksum)}, computed ${actual}`))
  }
  return Result.map(closedTradeCodec.decode(trade), (decoded) => ({ sessionId, closeNumber, trade: decoded }))
}

/** What a runner knows when it closes a trade, besides the trade itself. */
export interface TradeExit {
  readonly buyLegExitPrice: number
  readonly sellLegExitPrice: number
  readonly feesUsd: number
  readonly realizedPnlUsd: number
  readonly reason: CloseReason
  readonly closedAt: number
  readonly closedLoop: number
}

/** The closed form of an open trade (`ArbitrageTrade`), unwound as `exit` says. */
export const closeOf = (
  trade: {
    readonly tradeId: TradeId
    readonly symbol: MarketSymbol
    readonly buyLeg: Order
    readonly sellLeg: Order
    readonly quantity: number
    readonly notionalUsd: number
    readonly entrySpreadBps: number
    readonly openedAt: number
  },
  exit: TradeExit
): ClosedTrade => ({
  tradeId: trade.tradeId,
  symbol: trade.symbol,
  buyLeg: trade.buyLeg,
  sellLeg: trade.sellLeg,
  quantity: trade.quantity,
  notionalUsd: trade.notionalUsd,
  entrySpreadBps: trade.entrySpreadBps,
  buyLegExitPrice: exit.buyLegExitPrice,
  sellLegExitPrice: exit.sellLegExitPrice,
  feesUsd: exit.feesUsd,
  realizedPnlUsd: exit.realizedPnlUsd,
  reason: exit.reason,
  openedAt: trade.openedAt,
  closedAt: exit.closedAt,
  closedLoop: exit.closedLoop
})

/**
 * How far a sum of PnLs may drift from the metrics' through floating-point sums in another order:
 * relative to the magnitudes added up (`magnitude`: the sum of their absolute values), not to the
 * sum itself, which hedged trades can bring near zero.
 */
export const pnlTolerance = (magnitude: number) => 1e-9 * Math.max(1, Math.abs(magnitude))

/**
 * The ledger tail: the entries of closes not yet durable in the ledger, which the live tier keeps
 * beside the state until a snapshot appends them. Stored as `{ "version": 1, "durableUpTo": n,
 * "entries": [...] }`: the closes up to `n` are in the durable ledger, the entries are the rest
 * (`n` + their count is what the state counts, so a tail cut short or emptied is seen).
 */
export const ledgerTailVersion = 1

/** The stored form of a ledger tail. */
export interface StoredLedgerTail {
  readonly version: number
  readonly durableUpTo: number
  readonly entries: ReadonlyArray<StoredLedgerEntry>
}

/** The stored form of `tail`, the newest closes of a state that counts `counted`. */
export const encodeLedgerTail = (tail: ReadonlyArray<LedgerEntry>, counted: number): Result.Result<StoredLedgerTail, StateCodecError> =>
  Result.map(Result.all(tail.map(encodeLedgerEntry)), (entries) => ({ version: ledgerTailVersion, durableUpTo: counted - tail.length, entries }))

/** Reads a ledger tail from its stored form: how far the ledger held the state's closes, and the entries after. */
export const decodeLedgerTail = (
  stored: unknown
): Result.Result<{ readonly durableUpTo: number; readonly entries: ReadonlyArray<LedgerEntry> }, StateCodecError> => {
  if (stored === null || typeof stored !== "object" || Array.isArray(stored)) {
    return Result.fail(StateCodecError.invalid("ledger", "expected a ledger tail object"))
  }
  const { durableUpTo, entries, version } = stored as Record<string, unknown>
  if (version !== ledgerTailVersion) {
    return Result.fail(StateCodecError.invalid("ledger", `ledger tail has version ${JSON.stringify(version) ?? "none"}; this code reads version ${ledgerTailVersion}`))
  }
  if (typeof durableUpTo !== "number" || !Number.isSafeInteger(durableUpTo) || durableUpTo < 0) {
    return Result.fail(StateCodecError.invalid("ledger", `ledger tail says no valid durableUpTo (${JSON.stringify(durableUpTo) ?? "none"})`))
  }
  if (!Array.isArray(entries)) return Result.fail(StateCodecError.invalid("ledger", "ledger tail holds no entries array"))
  return Result.map(Result.all(entries.map(decodeLedgerEntry)), (decoded) => ({ durableUpTo, entries: decoded }))
}

/**
 * Why `tail` cannot be the ledger tail of `state`, if it cannot: it must hold the newest closes the
 * state counts (numbered in order, up to its `tradesClosed`), of its session. (A trade id closed in
 * the tail may be open again: the ledger numbers closes, it does not need trade ids unique.)
 */
export const ledgerTailIssue = (
  state: {
    readonly session: { readonly sessionId: string }
    readonly metrics: { readonly tradesClosed: number }
    readonly positions: { readonly activeTrades: Readonly<Record<string, unknown>> }
  },
  tail: ReadonlyArray<LedgerEntry>
): string | undefined => {
  const closed = state.metrics.tradesClosed
  for (const [i, entry] of tail.entries()) {
    const expected = closed - tail.length + 1 + i
    if (entry.sessionId !== state.session.sessionId) return `ledger tail entry #${entry.closeNumber} belongs to ${entry.sessionId}, not ${state.session.sessionId}`
    if (entry.closeNumber !== expected) {
      return `ledger tail entry ${i + 1} of ${tail.length} is close #${entry.closeNumber}; the state counts ${closed} closed, so it must be #${expected}`
    }
  }
  return undefined
}

/** What a step's states say of its closes: the metrics' closed count and realized PnL, and what is open. */
interface CountingState {
  readonly session: { readonly sessionId: SessionId }
  readonly metrics: { readonly tradesClosed: number; readonly totalPnlUsd: number }
  readonly positions: { readonly activeTrades: Readonly<Record<string, unknown>> }
}

/**
 * Numbers the trades a step reports closed (`closed`, in the order it closed them) as the ledger
 * entries after `previous`'s; refused unless they are exactly what the step's state counts: as
 * many as its metrics' `tradesClosed` grew by, their PnL summing to what its `totalPnlUsd` grew
 * by, each trade once, none still open, and every trade that left the open ones among them (a
 * trade opened and closed within the step is reported too; it was never open in either state).
 * So a runner's ledger can never miss a close its metrics count, nor name one it did not make.
 */
export const numberCloses = (
  previous: CountingState,
  next: CountingState,
  closed: ReadonlyArray<ClosedTrade>
): Result.Result<ReadonlyArray<LedgerEntry>, StateCodecError> => {
  const sessionId = next.session.sessionId
  const counted = next.metrics.tradesClosed - previous.metrics.tradesClosed
  const refuse = (issue: string) => Result.fail(StateCodecError.invalid("ledger", `${sessionId}: ${issue}`))
  if (counted !== closed.length) {
    return refuse(
      `the step's metrics count ${counted} trades closed (${previous.metrics.tradesClosed} → ${next.metrics.tradesClosed}), but it reported ${closed.length} to the ledger (the step's \`closed\`)`
    )
  }
  const reported = new Set<string>()
  for (const trade of closed) {
    if (reported.has(trade.tradeId)) return refuse(`it reported ${trade.tradeId} closed twice`)
    reported.add(trade.tradeId)
    if (Object.hasOwn(next.positions.activeTrades, trade.tradeId)) return refuse(`it reported ${trade.tradeId} closed, but its state holds it open`)
  }
  const gone = Object.keys(previous.positions.activeTrades).filter((id) => !Object.hasOwn(next.positions.activeTrades, id) && !reported.has(id))
  if (gone.length > 0) return refuse(`${gone.join(", ")} left the open trades, but the step did not report ${gone.length === 1 ? "it" : "them"} closed`)
  const pnl = closed.reduce((sum, trade) => sum + trade.realizedPnlUsd, 0)
  const grew = next.metrics.totalPnlUsd - previous.metrics.totalPnlUsd
  const magnitude = closed.reduce((sum, trade) => sum + Math.abs(trade.realizedPnlUsd), 0) +
    Math.abs(next.metrics.totalPnlUsd) + Math.abs(previous.metrics.totalPnlUsd)
  if (Math.abs(pnl - grew) > pnlTolerance(magnitude)) {
    return refuse(`the trades it reported closed made ${pnl} USD, but its metrics' realized PnL grew by ${grew} USD`)
  }
  const entries = closed.map((trade, i) => ({ sessionId, closeNumber: previous.metrics.tradesClosed + i + 1, trade }))
  // Checked by their Schema now, before the session counts them, rather than when first written.
  return Result.map(Result.all(entries.map(encodeLedgerEntry)), () => entries)
}
