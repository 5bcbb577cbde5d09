/**
 * ArbitrageTrade: an open arbitrage position with both of its leg orders.
 *
 * order_a is always the leg on venue A and order_b the leg on venue B; the
 * direction says which venue was bought (the cheap one) and which was sold.
 */
import { Schema } from "effect"
import { MarketSymbol, TradeId } from "./Ids.ts"
import { Order } from "./Order.ts"
import { BasisPoints, EpochMillis, PositiveUsd, Quantity } from "./Units.ts"

/** Buy on A and sell on B, or the reverse. */
export const TradeDirection = Schema.Literals(["buy_a_sell_b", "buy_b_sell_a"])
export type TradeDirection = typeof TradeDirection.Type

const legIssues = (trade: {
  readonly symbol: string
  readonly direction: TradeDirection
  readonly orderA: Order
  readonly orderB: Order
}) => {
  const issues: Array<Schema.FilterIssue> = []
  const [sideA, sideB] = trade.direction === "buy_a_sell_b" ? ["buy", "sell"] : ["sell", "buy"]
  if (trade.orderA.venue !== "A") issues.push({ path: ["orderA", "venue"], issue: "order_a must be on venue A" })
  if (trade.orderB.venue !== "B") issues.push({ path: ["orderB", "venue"], issue: "order_b must be on venue B" })
  if (trade.orderA.side !== sideA) {
    issues.push({ path: ["orderA", "side"], issue: `a ${trade.direction} trade must ${sideA} on venue A` })
  }
  if (trade.orderB.side !== sideB) {
    issues.push({ path: ["orderB", "side"], issue: `a ${trade.direction} trade must ${sideB} on venue B` })
  }
  if (trade.orderA.symbol !== trade.symbol) {
    issues.push({ path: ["orderA", "symbol"], issue: `leg symbol differs from the trade's ${trade.symbol}` })
  }
  if (trade.orderB.symbol !== trade.symbol) {
    issues.push({ path: ["orderB", "symbol"], issue: `leg symbol differs from the trade's ${trade.symbol}` })
  }
  return issues
}

/** An open arbitrage trade: both legs agree with its symbol and direction, and take profit lies above stop loss. */
export const ArbitrageTrade = Schema.Struct({
  tradeId: TradeId,
  symbol: MarketSymbol,
  direction: TradeDirection,
  orderA: Order,
  orderB: Order,
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
  stopLossBps: BasisPoints
}).check(
  Schema.makeFilter((trade) => {
    const issues = legIssues(trade)
    if (!(trade.takeProfitBps > trade.stopLossBps)) {
      issues.push({ path: ["takeProfitBps"], issue: "take profit must lie above stop loss" })
    }
    return issues
  })
).annotate({ identifier: "ArbitrageTrade" })
export type ArbitrageTrade = typeof ArbitrageTrade.Type
