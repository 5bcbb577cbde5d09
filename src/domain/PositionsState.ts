/**
 * PositionsState: the open arbitrage trades of a session.
 *
 * Kept as in the original system: the active trades by trade id, and the time
 * each position was opened, by trade id. The two must describe the same set
 * of trades. Version 2 holds trades by their buy and sell legs on any
 * venues; version 1 held the paper runner's A/B trades and upgrades trade by
 * trade.
 *
 * @module
 */
import { Schema } from "effect"
import { ArbitrageTrade, ArbitrageTradeV1, migrateTradeV1 } from "./ArbitrageTrade.ts"
import { TradeId } from "./Ids.ts"
import { EpochMillis } from "./Units.ts"

/** The problems of a positions section, each with its path: a key that does not name its trade, an open time missing or wrong. */
export const positionsIssues = (positions: {
  readonly activeTrades: Readonly<Record<string, { readonly tradeId: string; readonly openedAt: number }>>
  readonly positionOpenTimes: Readonly<Record<string, number>>
}): Array<{ readonly path: ReadonlyArray<string>; readonly issue: string }> => {
  const issues: Array<{ path: ReadonlyArray<string>; issue: string }> = []
  for (const [key, trade] of Object.entries(positions.activeTrades)) {
    if (trade.tradeId !== key) {
      issues.push({ path: ["activeTrades", key, "tradeId"], issue: `trade stored under ${key} has id ${trade.tradeId}` })
    }
    const openedAt = positions.positionOpenTimes[key]
    if (openedAt === undefined) {
      issues.push({ path: ["positionOpenTimes", key], issue: `open trade ${key} has no open time` })
    } else if (openedAt !== trade.openedAt) {
      issues.push({ path: ["positionOpenTimes", key], issue: `open time ${openedAt} differs from the trade's ${trade.openedAt}` })
    }
  }
  for (const key of Object.keys(positions.positionOpenTimes)) {
    if (!(key in positions.activeTrades)) {
      issues.push({ path: ["positionOpenTimes", key], issue: `open time recorded for ${key}, which is not open` })
    }
  }
  return issues
}

/** The positions section (version 2): every key names its own trade, and every open trade has its open time. */
export const PositionsState = Schema.Struct({
  activeTrades: Schema.Record(TradeId, ArbitrageTrade),
  positionOpenTimes: Schema.Record(TradeId, EpochMillis)
}).check(Schema.makeFilter(positionsIssues)).annotate({ identifier: "PositionsState" })
export type PositionsState = typeof PositionsState.Type

/** Version 1 of the positions section: the paper runner's A/B trades. */
export const PositionsStateV1 = Schema.Struct({
  activeTrades: Schema.Record(TradeId, ArbitrageTradeV1),
  positionOpenTimes: Schema.Record(TradeId, EpochMillis)
}).check(Schema.makeFilter(positionsIssues)).annotate({ identifier: "PositionsStateV1" })
export type PositionsStateV1 = typeof PositionsStateV1.Type

/** Upgrades a version 1 positions section, trade by trade. */
export const migratePositionsV1 = (v1: PositionsStateV1): PositionsState => ({
  activeTrades: Object.fromEntries(Object.entries(v1.activeTrades).map(([id, trade]) => [id, migrateTradeV1(trade)])) as PositionsState["activeTrades"],
  positionOpenTimes: v1.positionOpenTimes
})

