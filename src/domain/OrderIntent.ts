/**
 * OrderIntent: an order a live runner means to send, has sent, or has seen
 * through at a venue; and PendingTrade, a trade whose orders are in flight.
 *
 * An intent is durable before its order is sent, with the client order id
 * the order is sent under: deterministic from the session, the trade, the
 * leg's role and the attempt (`clientOrderIdOf`), so that sending it again
 * after a crash never makes a second order, and finding it at the venue
 * needs nothing but the state. Each change of what the venue says of it is
 * durable before the runner acts on it (`revision` counts them).
 *
 * A pending trade is one of:
 * - `opening`: its two entry legs are in flight; it becomes an open trade
 *   (`ArbitrageTrade`) when both have filled;
 * - `closing`: the exit legs of an open trade are in flight; it is closed
 *   (and in the trade ledger) when both have filled;
 * - `unwinding`: an entry that did not fill on both legs is unwound: what
 *   filled is sold or bought back at market, and the trade is closed with
 *   the reason `entry_unwound` (never dropped, never left one-legged).
 *
 * @module
 */
import { Schema } from "effect"
import { MarketSymbol, TradeId, Venue } from "./Ids.ts"
import { OrderSide } from "./Order.ts"
import { BasisPoints, Count, EpochMillis, NonNegativeUsd, Price, Quantity } from "./Units.ts"

/** What a leg order is for. */
export const LegRole = Schema.Literals(["entry_buy", "entry_sell", "exit_sell", "exit_buy", "unwind"])
export type LegRole = typeof LegRole.Type

/**
 * Where an intent is: `intended` (durable, not yet sent, or sent without an answer that said
 * anything: `unknown`), then as the venue says (`open`, `partially_filled`, and the terminal
 * `filled`, `cancelled`, `rejected`, `expired`).
 */
export const IntentStatus = Schema.Literals(["intended", "unknown", "open", "partially_filled", "filled", "cancelled", "rejected", "expired"])
export type IntentStatus = typeof IntentStatus.Type

/** Whether an intent can change no more. */
export const isSettled = (status: IntentStatus): boolean =>
  status === "filled" || status === "cancelled" || status === "rejected" || status === "expired"

/** The client order id an intent is sent under: lower-case, safe in a venue's id field (64 at most). */
export const IntentClientOrderId = Schema.String.check(Schema.isPattern(/^[a-z0-9][a-z0-9_-]{0,63}$/)).annotate({ identifier: "IntentClientOrderId" })

/** One leg order of a live trade, from its intent to what the venue last said of it. */
export const OrderIntent = Schema.Struct({
  clientOrderId: IntentClientOrderId,
  role: LegRole,
  /** 0 for the first order of this role; a retry (a rejected or expired exit leg) is the next. */
  attempt: Count,
  venue: Venue,
  symbol: MarketSymbol,
  side: OrderSide,
  quantity: Quantity,
  limitPrice: Price,
  status: IntentStatus,
  filledQuantity: Quantity,
  averageFillPrice: Schema.NullOr(Price),
  feesUsd: NonNegativeUsd,
  /** What the venue said last, when it said why (a rejection, an expiry). */
  reason: Schema.NullOr(Schema.String),
  /** How many times it changed since its intent was made durable. */
  revision: Count,
  createdAt: EpochMillis,
  updatedAt: EpochMillis
}).check(
  Schema.makeFilter((intent) => [
    ...(intent.filledQuantity <= intent.quantity * (1 + 1e-9) ? [] : [{ path: ["filledQuantity"], issue: `filled ${intent.filledQuantity} of ${intent.quantity}` }]),
    ...(intent.filledQuantity > 0 && intent.averageFillPrice === null ? [{ path: ["averageFillPrice"], issue: "filled without a fill price" }] : []),
    ...(intent.updatedAt >= intent.createdAt ? [] : [{ path: ["updatedAt"], issue: "updated before it was created" }])
  ])
).annotate({ identifier: "OrderIntent" })
export type OrderIntent = typeof OrderIntent.Type

/** A trade whose orders are in flight (see the module header). */
export const PendingTrade = Schema.Struct({
  tradeId: TradeId,
  symbol: MarketSymbol,
  phase: Schema.Literals(["opening", "closing", "unwinding"]),
  /** Its legs' orders, oldest first (retries after the first attempt of a role). */
  intents: Schema.Array(OrderIntent),
  /** The spread it was entered on (opening), or the reason it is being closed. */
  entrySpreadBps: BasisPoints,
  closeReason: Schema.NullOr(Schema.String),
  /** The take profit and stop loss it opens with (opening). */
  takeProfitBps: BasisPoints,
  stopLossBps: BasisPoints,
  decidedAt: EpochMillis,
  /** An entry not filled on both legs by then is unwound. */
  deadlineAt: EpochMillis
}).check(
  Schema.makeFilter((trade) =>
    trade.intents.flatMap((intent, i) =>
      intent.symbol === trade.symbol ? [] : [{ path: ["intents", i, "symbol"], issue: `a leg of ${intent.symbol} in a trade of ${trade.symbol}` }]
    )
  )
).annotate({ identifier: "PendingTrade" })
export type PendingTrade = typeof PendingTrade.Type

/** What the venues held before the session traded there: net quantity by venue and symbol. */
export const VenueBaseline = Schema.Record(Venue, Schema.Record(MarketSymbol, Schema.Finite)).annotate({ identifier: "VenueBaseline" })
export type VenueBaseline = typeof VenueBaseline.Type

/** A 32-bit FNV-1a hash, in base 36: short, and the same for the same text in every process. */
const shortHash = (text: string): string => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
  return (hash >>> 0).toString(36)
}

/** The prefix of every client order id of a session: its orders are told from others by it. */
export const clientOrderPrefixOf = (sessionId: string): string => `s${shortHash(sessionId)}`

const roleCode: Record<LegRole, string> = { entry_buy: "eb", entry_sell: "es", exit_sell: "xs", exit_buy: "xb", unwind: "uw" }

/**
 * The client order id of a leg: the session's prefix, the trade, the role, the attempt
 * (deterministic; a trade id too long to fit is hashed, so the id never passes 64 characters).
 */
export const clientOrderIdOf = (sessionId: string, tradeId: string, role: LegRole, attempt: number): string => {
  const trade = tradeId.replace(/^trd_/, "")
  const suffix = `-${roleCode[role]}${attempt}`
  const prefix = clientOrderPrefixOf(sessionId)
  const fits = prefix.length + 1 + trade.length + suffix.length <= 64
  return `${prefix}-${fits ? trade : `h${shortHash(trade)}`}${suffix}`
}
