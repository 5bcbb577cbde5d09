/**
 * RiskGuardState: the counters the risk guard decides with.
 *
 * Restored exactly, so that a resumed session cannot trade past its daily
 * loss limit or its per-symbol limits because a restart forgot them.
 *
 * @module
 */
import { Schema } from "effect"
import { MarketSymbol } from "./Ids.ts"
import { Count, EpochMillis, NonNegativeUsd } from "./Units.ts"

/** What the risk guard counts for one symbol. */
export const SymbolRiskState = Schema.Struct({
  lossUsd: NonNegativeUsd,
  tradesRejected: Count,
  tradesAllowed: Count,
  capitalUsedUsd: NonNegativeUsd,
  positionCount: Count
}).check(
  Schema.makeFilter((symbol) =>
    symbol.positionCount <= symbol.tradesAllowed
      ? undefined
      : { path: ["positionCount"], issue: `${symbol.positionCount} open positions but only ${symbol.tradesAllowed} trades allowed` }
  )
).annotate({ identifier: "SymbolRiskState" })
export type SymbolRiskState = typeof SymbolRiskState.Type

/** The risk guard section. */
export const RiskGuardState = Schema.Struct({
  sessionStartTime: EpochMillis,
  dailyLossUsd: NonNegativeUsd,
  perSymbol: Schema.Record(MarketSymbol, SymbolRiskState)
}).annotate({ identifier: "RiskGuardState" })
export type RiskGuardState = typeof RiskGuardState.Type

/** Counters of a symbol the risk guard has not seen yet. */
export const emptySymbolRisk: SymbolRiskState = {
  lossUsd: 0,
  tradesRejected: 0,
  tradesAllowed: 0,
  capitalUsedUsd: 0,
  positionCount: 0
}
