/**
 * MetricsState: the session's trade counters, PnL and equity, in two versions.
 *
 * Version 1 (the original system's shape) kept only the equity, so the
 * capital a session started with had to be guessed. Version 2 adds
 * `initialCapitalUsd`, which makes "equity = initial capital + realized PnL"
 * checkable. A v1 value migrates by deriving it: equity minus total PnL.
 *
 * @module
 */
import { Schema } from "effect"
import { Count, PositiveUsd, Usd } from "./Units.ts"

const counterIssues = (metrics: {
  readonly tradesOpened: number
  readonly tradesClosed: number
  readonly winningTrades: number
}) => [
  ...(metrics.tradesClosed <= metrics.tradesOpened ? [] : [{
    path: ["tradesClosed"],
    issue: `${metrics.tradesClosed} trades closed but only ${metrics.tradesOpened} opened`
  }]),
  ...(metrics.winningTrades <= metrics.tradesClosed ? [] : [{
    path: ["winningTrades"],
    issue: `${metrics.winningTrades} winning trades but only ${metrics.tradesClosed} closed`
  }])
]

/** Version 1 of the metrics section, as the original system kept it. */
export const MetricsStateV1 = Schema.Struct({
  tradesOpened: Count,
  tradesClosed: Count,
  winningTrades: Count,
  totalPnlUsd: Usd,
  portfolioEquityUsd: Usd
}).check(Schema.makeFilter(counterIssues)).annotate({ identifier: "MetricsStateV1" })
export type MetricsStateV1 = typeof MetricsStateV1.Type

/** How far equity may drift from initial capital + PnL through floating-point sums, relative to the capital. */
const equityTolerance = (initialCapitalUsd: number) => 1e-9 * Math.max(1, Math.abs(initialCapitalUsd))

/** The metrics section (version 2): counters are consistent and equity is initial capital plus realized PnL. */
export const MetricsState = Schema.Struct({
  tradesOpened: Count,
  tradesClosed: Count,
  winningTrades: Count,
  totalPnlUsd: Usd,
  portfolioEquityUsd: Usd,
  initialCapitalUsd: PositiveUsd
}).check(
  Schema.makeFilter((metrics) => {
    const issues: Array<Schema.FilterIssue> = counterIssues(metrics)
    const expected = metrics.initialCapitalUsd + metrics.totalPnlUsd
    if (Math.abs(metrics.portfolioEquityUsd - expected) > equityTolerance(metrics.initialCapitalUsd)) {
      issues.push({
        path: ["portfolioEquityUsd"],
        issue: `equity ${metrics.portfolioEquityUsd} is not initial capital ${metrics.initialCapitalUsd} + PnL ${metrics.totalPnlUsd}`
      })
    }
    return issues
  })
).annotate({ identifier: "MetricsState" })
export type MetricsState = typeof MetricsState.Type

/** Upgrades version 1 metrics: the initial capital is what equity was before the realized PnL. */
export const migrateMetricsV1 = (v1: MetricsStateV1): MetricsState => ({
  ...v1,
  initialCapitalUsd: v1.portfolioEquityUsd - v1.totalPnlUsd
})

/** Metrics of a session that has not traded yet. */
export const initialMetrics = (initialCapitalUsd: number): MetricsState => ({
  tradesOpened: 0,
  tradesClosed: 0,
  winningTrades: 0,
  totalPnlUsd: 0,
  portfolioEquityUsd: initialCapitalUsd,
  initialCapitalUsd
})
