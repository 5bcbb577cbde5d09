/**
 * Campaign: a named preset of the strategy and its risk limits.
 *
 * @module
 */
import { Schema } from "effect"
import { CampaignId, MarketSymbol } from "../domain/Ids.ts"

/** The parameters of a paper arbitrage campaign. */
export interface Campaign {
  readonly id: CampaignId
  readonly symbols: ReadonlyArray<MarketSymbol>
  readonly initialCapitalUsd: number
  /** Open a trade when the cross-venue spread exceeds this. */
  readonly entryThresholdBps: number
  /** Close when the captured spread reaches this. */
  readonly takeProfitBps: number
  /** Close when the trade has lost this much (negative). */
  readonly stopLossBps: number
  /** Close after this many loops whatever the PnL. */
  readonly maxHoldLoops: number
  /** Notional of one trade (both legs), in USD. */
  readonly tradeNotionalUsd: number
  /** Fee per leg and side, in bps of the leg's notional. */
  readonly feeBps: number
  /** No new trade once the day's realized losses reach this. */
  readonly dailyLossLimitUsd: number
  /** No new trade on a symbol once its realized losses reach this. */
  readonly symbolLossLimitUsd: number
  /** At most this much capital in open trades per symbol. */
  readonly maxCapitalPerSymbolUsd: number
  /** At most this many open trades per symbol. */
  readonly maxPositionsPerSymbol: number
}

const symbols = (...names: ReadonlyArray<string>) => names.map((name) => Schema.decodeSync(MarketSymbol)(name))
const id = (name: string) => Schema.decodeSync(CampaignId)(name)

/** The presets, by id. */
export const campaigns: Readonly<Record<string, Campaign>> = {
  balanced: {
    id: id("balanced"),
    symbols: symbols("BTC-USDT", "ETH-USDT"),
    initialCapitalUsd: 10_000,
    entryThresholdBps: 18,
    takeProfitBps: 8,
    stopLossBps: -20,
    maxHoldLoops: 40,
    tradeNotionalUsd: 1_000,
    feeBps: 1,
    dailyLossLimitUsd: 150,
    symbolLossLimitUsd: 100,
    maxCapitalPerSymbolUsd: 3_000,
    maxPositionsPerSymbol: 3
  },
  aggressive: {
    id: id("aggressive"),
    symbols: symbols("BTC-USDT", "ETH-USDT", "SOL-USDT"),
    initialCapitalUsd: 25_000,
    entryThresholdBps: 12,
    takeProfitBps: 12,
    stopLossBps: -35,
    maxHoldLoops: 80,
    tradeNotionalUsd: 2_500,
    feeBps: 1,
    dailyLossLimitUsd: 600,
    symbolLossLimitUsd: 300,
    maxCapitalPerSymbolUsd: 10_000,
    maxPositionsPerSymbol: 4
  },
  cautious: {
    id: id("cautious"),
    symbols: symbols("BTC-USDT"),
    initialCapitalUsd: 5_000,
    entryThresholdBps: 30,
    takeProfitBps: 6,
    stopLossBps: -10,
    maxHoldLoops: 20,
    tradeNotionalUsd: 500,
    feeBps: 1,
    dailyLossLimitUsd: 25,
    symbolLossLimitUsd: 20,
    maxCapitalPerSymbolUsd: 1_000,
    maxPositionsPerSymbol: 2
  }
}

/** The campaign named `name`, if there is one. */
export const campaignNamed = (name: string): Campaign | undefined => campaigns[name]
