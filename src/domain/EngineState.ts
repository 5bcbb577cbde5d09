/**
 * EngineState: the four sections of a runner's state, and the invariants
 * that tie them together; a runner's own sections ride along (`custom`).
 *
 * Each section checks itself; this module checks what only the whole can
 * tell: every open trade is counted once in the metrics and once in its
 * symbol's risk counters, with its capital, and none predates its session.
 *
 * @module
 */
import { Schema } from "effect"
import { CustomSections } from "./CustomSection.ts"
import type { CampaignId, MarketSymbol, SessionId } from "./Ids.ts"
import { initialMetrics, MetricsState } from "./MetricsState.ts"
import { PositionsState } from "./PositionsState.ts"
import { emptySymbolRisk, RiskGuardState } from "./RiskGuardState.ts"
import { type MarketSettings, SessionState, type TradingMode } from "./SessionState.ts"

/** How far a symbol's capital used may drift from the sum of its open notionals through floating-point sums. */
const capitalTolerance = (capital: number) => 1e-9 * Math.max(1, Math.abs(capital))

/** The cross-section problems of a state, each with its path; empty when the state is consistent. */
export const engineStateIssues = (state: {
  readonly session: SessionState
  readonly positions: PositionsState
  readonly metrics: MetricsState
  readonly riskGuard: RiskGuardState
}): Array<{ readonly path: ReadonlyArray<string>; readonly issue: string }> => {
  const issues: Array<{ path: ReadonlyArray<string>; issue: string }> = []
  const trades = Object.values(state.positions.activeTrades)
  const openCount = state.metrics.tradesOpened - state.metrics.tradesClosed
  if (trades.length !== openCount) {
    issues.push({
      path: ["positions", "activeTrades"],
      issue: `${trades.length} open trades, but metrics count ${state.metrics.tradesOpened} opened - ${state.metrics.tradesClosed} closed = ${openCount}`
    })
  }
  const bySymbol = new Map<MarketSymbol, { count: number; notional: number }>()
  for (const trade of trades) {
    const entry = bySymbol.get(trade.symbol) ?? { count: 0, notional: 0 }
    bySymbol.set(trade.symbol, { count: entry.count + 1, notional: entry.notional + trade.notionalUsd })
    if (trade.openedAt < state.session.startTime) {
      issues.push({
        path: ["positions", "activeTrades", trade.tradeId, "openedAt"],
        issue: `trade opened at ${trade.openedAt}, before its session started at ${state.session.startTime}`
      })
    }
  }
  const symbols = new Set([...bySymbol.keys(), ...(Object.keys(state.riskGuard.perSymbol) as Array<MarketSymbol>)])
  for (const symbol of symbols) {
    const open = bySymbol.get(symbol) ?? { count: 0, notional: 0 }
    const risk = state.riskGuard.perSymbol[symbol]
    if (risk === undefined) {
      issues.push({ path: ["riskGuard", "perSymbol", symbol], issue: `${open.count} open trades of ${symbol} have no risk counters` })
      continue
    }
    if (risk.positionCount !== open.count) {
      issues.push({
        path: ["riskGuard", "perSymbol", symbol, "positionCount"],
        issue: `position count ${risk.positionCount}, but ${open.count} trades of ${symbol} are open`
      })
    }
    if (Math.abs(risk.capitalUsedUsd - open.notional) > capitalTolerance(open.notional)) {
      issues.push({
        path: ["riskGuard", "perSymbol", symbol, "capitalUsedUsd"],
        issue: `capital used ${risk.capitalUsedUsd}, but open trades of ${symbol} hold ${open.notional}`
      })
    }
  }
  return issues
}

/**
 * The whole state of a runner: each section valid on its own and all of them consistent with each
 * other; and, when the runner has any, its own sections (`CustomSection`), by name, in stored form.
 */
export const EngineState = Schema.Struct({
  session: SessionState,
  positions: PositionsState,
  metrics: MetricsState,
  riskGuard: RiskGuardState,
  custom: Schema.optionalKey(CustomSections)
}).check(Schema.makeFilter(engineStateIssues)).annotate({ identifier: "EngineState" })
export type EngineState = typeof EngineState.Type

/** The names of the four built-in sections, in storage order (a runner's own sections are `custom`). */
export const sectionNames = ["session", "positions", "metrics", "riskGuard"] as const
/** One of the four built-in sections. */
export type SectionName = typeof sectionNames[number]

/** What a runner says of a session that has not run a loop yet. */
export interface EmptyStateOptions {
  readonly sessionId: SessionId
  /** Epoch ms the session starts at (its trades cannot be older). */
  readonly startTime: number
  /** The strategy preset (or configuration name) it trades with. */
  readonly campaignId: CampaignId
  /** The capital it starts with, in USD: its equity before any trade. */
  readonly initialCapitalUsd: number
  /** `paper` (default) or `live`. */
  readonly mode?: TradingMode
  /** The symbols it may trade: each starts with empty risk counters (others get theirs when first traded). */
  readonly symbols?: ReadonlyArray<MarketSymbol>
  /** The bundled paper runner's market (its feed's seed and tick); a runner of its own leaves it out. */
  readonly market?: MarketSettings
}

/** A copy of `market` with exactly its own fields (an object built elsewhere may carry more). */
const marketOf = (market: MarketSettings): MarketSettings => ({
  seed: market.seed,
  tickMs: market.tickMs,
  ...(market.venues === undefined ? {} : { venues: [market.venues[0], market.venues[1]] })
})

/**
 * The state of a session before its first loop: no trades, no PnL, equity at the initial
 * capital, loop 0, running. Any runner starts here (the bundled paper runner does).
 */
export const empty = (options: EmptyStateOptions): EngineState => ({
  session: {
    sessionId: options.sessionId,
    startTime: options.startTime,
    mode: options.mode ?? "paper",
    campaignId: options.campaignId,
    loopCount: 0,
    status: "running",
    ...(options.market === undefined ? {} : { market: marketOf(options.market) })
  },
  positions: { activeTrades: {}, positionOpenTimes: {} },
  metrics: initialMetrics(options.initialCapitalUsd),
  riskGuard: {
    sessionStartTime: options.startTime,
    dailyLossUsd: 0,
    perSymbol: Object.fromEntries((options.symbols ?? []).map((symbol) => [symbol, emptySymbolRisk]))
  }
})
