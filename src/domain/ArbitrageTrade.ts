/**
 * ArbitrageTrade: an open arbitrage position with both of its leg orders.
 *
 * A trade buys the base asset on one venue (its `buyLeg`, where it was
 * cheap) and sells it on another (its `sellLeg`); each leg names its venue,
 * which may be any venue the runner is configured with. Version 1 (the
 * positions section's version 1) named the legs by the paper runner's two
 * venues instead: `orderA` on venue `A`, `orderB` on venue `B`, and a
 * `direction` saying which was bought; it upgrades by that direction.
 *
 * @module
 */
import { Schema } from "effect"
import { MarketSymbol, TradeId } from "./Ids.ts"
import { Order } from "./Order.ts"
import { BasisPoints, EpochMillis, NonNegativeUsd, PositiveUsd, Quantity } from "./Units.ts"

type Issues = Array<Schema.FilterIssue>

const symbolIssues = (symbol: string, legs: ReadonlyArray<readonly [string, Order]>): Issues =>
  legs.flatMap(([name, order]) =>
    order.symbol === symbol ? [] : [{ path: [name, "symbol"], issue: `leg symbol differs from the trade's ${symbol}` }]
  )

const exitIssues = (trade: { readonly takeProfitBps: number; readonly stopLossBps: number }): Issues =>
  trade.takeProfitBps > trade.stopLossBps ? [] : [{ path: ["takeProfitBps"], issue: "take profit must lie above stop loss" }]

/** What identifies a trade, in every version: it comes before the legs. */
const tradeIdentity = {
  tradeId: TradeId,
  symbol: MarketSymbol
}

/** The terms of a trade, in every version: they come after the legs. */
const tradeTerms = {
  /** Spread between the venues when the trade was opened. */
  entrySpreadBps: BasisPoints,
  /** Base-asset quantity traded on each leg. */
  quantity: Quantity,
  /** Capital committed to the trade (both legs), in USD. */
  notionalUsd: PositiveUsd,
  openedAt: EpochMillis,
  /** Close when the captured spread reaches this many bps. */
  takeProfitBps: BasisPoints,
  /** Close when the trade has lost this many bps (a negative number). */
  stopLossBps: BasisPoints,
  /** What its entry fills cost in fees, when a venue charged them (a live trade's; a paper trade's are in its PnL). */
  entryFeesUsd: Schema.optionalKey(NonNegativeUsd)
}

/**
 * An open arbitrage trade: a buy leg and a sell leg on two different venues, both of the trade's
 * symbol, and take profit above stop loss.
 */
export const ArbitrageTrade = Schema.Struct({
  ...tradeIdentity,
  /** The order that buys the base asset, on the venue where it was cheaper. */
  buyLeg: Order,
  /** The order that sells it, on the other venue. */
  sellLeg: Order,
  ...tradeTerms
}).check(
  Schema.makeFilter((trade) => [
    ...(trade.buyLeg.side === "buy" ? [] : [{ path: ["buyLeg", "side"], issue: "the buy leg must buy" }]),
    ...(trade.sellLeg.side === "sell" ? [] : [{ path: ["sellLeg", "side"], issue: "the sell leg must sell" }]),
    // Venue names are compared without case: `Upbit` and `upbit` are one venue.
    ...(trade.buyLeg.venue.toLowerCase() !== trade.sellLeg.venue.toLowerCase()
      ? []
      : [{ path: ["sellLeg", "venue"], issue: `both legs are on venue ${trade.sellLeg.venue}: an arbitrage trades between two` }]),
    ...symbolIssues(trade.symbol, [["buyLeg", trade.buyLeg], ["sellLeg", trade.sellLeg]]),
    ...exitIssues(trade)
  ])
).annotate({ identifier: "ArbitrageTrade" })
export type ArbitrageTrade = typeof ArbitrageTrade.Type

/** The venues the legs of `trades` are on, each once, in the order the trades name them (buy leg first). */
export const legVenues = (trades: Iterable<ArbitrageTrade>): Array<string> =>
  [...new Set([...trades].flatMap((trade) => [trade.buyLeg.venue, trade.sellLeg.venue]))]

/** Version 1: buy on A and sell on B, or the reverse. */
export const TradeDirectionV1 = Schema.Literals(["buy_a_sell_b", "buy_b_sell_a"])
export type TradeDirectionV1 = typeof TradeDirectionV1.Type

/** Version 1 of a trade: `orderA` on venue `A`, `orderB` on venue `B`, sides as `direction` says. */
export const ArbitrageTradeV1 = Schema.Struct({
  ...tradeIdentity,
  direction: TradeDirectionV1,
  orderA: Order,
  orderB: Order,
  ...tradeTerms
}).check(
  Schema.makeFilter((trade) => {
    const [sideA, sideB] = trade.direction === "buy_a_sell_b" ? ["buy", "sell"] : ["sell", "buy"]
    return [
      ...(trade.orderA.venue === "A" ? [] : [{ path: ["orderA", "venue"], issue: "order_a must be on venue A" }]),
      ...(trade.orderB.venue === "B" ? [] : [{ path: ["orderB", "venue"], issue: "order_b must be on venue B" }]),
      ...(trade.orderA.side === sideA ? [] : [{ path: ["orderA", "side"], issue: `a ${trade.direction} trade must ${sideA} on venue A` }]),
      ...(trade.orderB.side === sideB ? [] : [{ path: ["orderB", "side"], issue: `a ${trade.direction} trade must ${sideB} on venue B` }]),
      ...symbolIssues(trade.symbol, [["orderA", trade.orderA], ["orderB", trade.orderB]]),
      ...exitIssues(trade)
    ]
  })
).annotate({ identifier: "ArbitrageTradeV1" })
export type ArbitrageTradeV1 = typeof ArbitrageTradeV1.Type

/** Upgrades a version 1 trade: the leg its direction bought is the buy leg. */
export const migrateTradeV1 = ({ direction, orderA, orderB, symbol, tradeId, ...terms }: ArbitrageTradeV1): ArbitrageTrade => {
  const [buyLeg, sellLeg] = direction === "buy_a_sell_b" ? [orderA, orderB] : [orderB, orderA]
  // In the current version's field order: identity, legs, terms.
  return { tradeId, symbol, buyLeg, sellLeg, ...terms }
}
