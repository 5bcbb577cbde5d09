/**
 * RiskGuard: whether a new trade may open, and the counters that decide it.
 *
 * Pure functions over `RiskGuardState`, so the guard's memory is exactly what
 * is persisted: a resumed session refuses what the uninterrupted one would.
 */
import type { MarketSymbol } from "../domain/Ids.ts"
import type { EngineState } from "../domain/EngineState.ts"
import { emptySymbolRisk, type RiskGuardState, type SymbolRiskState } from "../domain/RiskGuardState.ts"
import type { Campaign } from "./Campaign.ts"

/** Why the guard refused a trade. */
export type RejectionReason =
  | "daily_loss_limit"
  | "symbol_loss_limit"
  | "capital_limit"
  | "position_limit"
  | "insufficient_equity"
  | "persistence_unhealthy"

/** The guard's verdict on a proposed trade. */
export type RiskDecision = { readonly allowed: true } | { readonly allowed: false; readonly reason: RejectionReason }

/** The counters of `symbol`, zero when the guard has not seen it. */
export const symbolRisk = (risk: RiskGuardState, symbol: MarketSymbol): SymbolRiskState =>
  risk.perSymbol[symbol] ?? emptySymbolRisk

/**
 * Decides whether a trade of `notionalUsd` on `symbol` may open. `durable`
 * says whether the session can currently make a trade durable: when it
 * cannot, no trade opens (a trade that could be lost in a crash is not taken).
 */
export const evaluateEntry = (
  state: EngineState,
  campaign: Campaign,
  symbol: MarketSymbol,
  notionalUsd: number,
  durable: boolean
): RiskDecision => {
  const risk = state.riskGuard
  const mine = symbolRisk(risk, symbol)
  if (!durable) return { allowed: false, reason: "persistence_unhealthy" }
  if (risk.dailyLossUsd >= campaign.dailyLossLimitUsd) return { allowed: false, reason: "daily_loss_limit" }
  if (mine.lossUsd >= campaign.symbolLossLimitUsd) return { allowed: false, reason: "symbol_loss_limit" }
  if (mine.positionCount >= campaign.maxPositionsPerSymbol) return { allowed: false, reason: "position_limit" }
  if (mine.capitalUsedUsd + notionalUsd > campaign.maxCapitalPerSymbolUsd) return { allowed: false, reason: "capital_limit" }
  const committed = Object.values(risk.perSymbol).reduce((sum, s) => sum + s.capitalUsedUsd, 0)
  if (committed + notionalUsd > state.metrics.portfolioEquityUsd) return { allowed: false, reason: "insufficient_equity" }
  return { allowed: true }
}

/** The counters after a refusal. */
export const recordRejection = (risk: RiskGuardState, symbol: MarketSymbol): RiskGuardState => {
  const mine = symbolRisk(risk, symbol)
  return { ...risk, perSymbol: { ...risk.perSymbol, [symbol]: { ...mine, tradesRejected: mine.tradesRejected + 1 } } }
}
