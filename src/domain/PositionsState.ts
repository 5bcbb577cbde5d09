/**
 * PositionsState: the open arbitrage trades of a session.
 *
 * Kept as in the original system: the active trades by trade id, and the time
 * each position was opened, by trade id. The two must describe the same set
 * of trades. Version 3 adds the trades whose orders are in flight at venues
 * (a live runner's) and what the venues held before the session; version 2
 * held trades by their buy and sell legs on any venues; version 1 held the
 * paper runner's A/B trades and upgrades trade by trade.
 *
 * @module
 */
import { Schema } from "effect"
import { ArbitrageTrade, ArbitrageTradeV1, migrateTradeV1 } from "./ArbitrageTrade.ts"
import { TradeId } from "./Ids.ts"
import { PendingTrade, VenueBaseline } from "./OrderIntent.ts"
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

/** The problems of a state's pending trades against its open ones, each with its path. */
export const pendingIssues = (positions: {
  readonly activeTrades: Readonly<Record<string, unknown>>
  readonly pendingTrades?: Readonly<Record<string, PendingTrade>>
}): Array<{ readonly path: ReadonlyArray<string>; readonly issue: string }> => {
  const issues: Array<{ path: ReadonlyArray<string>; issue: string }> = []
  for (const [key, pending] of Object.entries(positions.pendingTrades ?? {})) {
    if (pending.tradeId !== key) issues.push({ path: ["pendingTrades", key, "tradeId"], issue: `pending trade stored under ${key} has id ${pending.tradeId}` })
    const open = Object.hasOwn(positions.activeTrades, key)
    if (pending.phase === "closing" && !open) issues.push({ path: ["pendingTrades", key, "phase"], issue: `closing ${key}, which is not open` })
    if (pending.phase !== "closing" && open) issues.push({ path: ["pendingTrades", key, "phase"], issue: `${pending.phase} ${key}, which is open already` })
  }
  return issues
}

/**
 * The positions section (version 3): the open trades and their open times, as in version 2; the
 * trades whose orders are in flight at venues (`pendingTrades`, see `OrderIntent`); and what the
 * venues held before the session traded there (`venueBaseline`); both a live session's only, left
 * out by a paper one.
 */
export const PositionsState = Schema.Struct({
  activeTrades: Schema.Record(TradeId, ArbitrageTrade),
  positionOpenTimes: Schema.Record(TradeId, EpochMillis),
  pendingTrades: Schema.optionalKey(Schema.Record(TradeId, PendingTrade)),
  venueBaseline: Schema.optionalKey(VenueBaseline)
}).check(Schema.makeFilter((positions) => [...positionsIssues(positions), ...pendingIssues(positions)])).annotate({ identifier: "PositionsState" })
export type PositionsState = typeof PositionsState.Type

/** Version 2 of the positions section: open trades by buy and sell leg, nothing in flight. */
export const PositionsStateV2 = Schema.Struct({
  activeTrades: Schema.Record(TradeId, ArbitrageTrade),
  positionOpenTimes: Schema.Record(TradeId, EpochMillis)
}).check(Schema.makeFilter(positionsIssues)).annotate({ identifier: "PositionsStateV2" })
export type PositionsStateV2 = typeof PositionsStateV2.Type

/** Upgrades a version 2 positions section: no trade was in flight. */
export const migratePositionsV2 = (v2: PositionsStateV2): PositionsState => v2

/** Version 1 of the positions section: the paper runner's A/B trades. */
export const PositionsStateV1 = Schema.Struct({
  activeTrades: Schema.Record(TradeId, ArbitrageTradeV1),
  positionOpenTimes: Schema.Record(TradeId, EpochMillis)
}).check(Schema.makeFilter(positionsIssues)).annotate({ identifier: "PositionsStateV1" })
export type PositionsStateV1 = typeof PositionsStateV1.Type

/** Upgrades a version 1 positions section, trade by trade (nothing was in flight). */
export const migratePositionsV1 = (v1: PositionsStateV1): PositionsState => ({
  activeTrades: Object.fromEntries(Object.entries(v1.activeTrades).map(([id, trade]) => [id, migrateTradeV1(trade)])) as PositionsState["activeTrades"],
  positionOpenTimes: v1.positionOpenTimes
})

