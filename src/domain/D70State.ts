/**
 * D70State: the state as the D70 system (the one this project replaces)
 * stores it, read as version 0 of each section.
 *
 * D70 keeps four JSON objects per session in Redis, under
 * `arbitrage:state:{env}:{session_id}:session|positions|metrics|risk_guard`,
 * with snake_case keys, times in float seconds, and no version field. A
 * section without a `version` is read by the Schema here and upgraded
 * through the same path as every stored version: version 0 becomes version
 * 1 here (2 for the positions, whose legs are on D70's own venues), and that
 * version becomes the current one by its own upgrade.
 *
 * What D70 does not say is derived, and each derivation is named:
 * - metrics: the initial capital is equity minus PnL (as for version 1);
 * - risk guard: a symbol missing from one of the per-symbol maps holds 0 in
 *   it (D70 kept them as `defaultdict`s);
 * - positions: read into version 2 (legs by buy and sell side, on any venues);
 *   D70 wrote its open trades' fields in snake_case (its own
 *   report notes that its trade and order objects did not serialise at first;
 *   the form here is their fields, as its fixed serialiser writes them). A
 *   trade or order id that is not in this project's form (`trd_…`, `ord_…`)
 *   is kept under a prefix: `trd_d70_<id>`, `ord_d70_<id>`.
 *
 * What must come from the other sections (the risk guard's session start,
 * its per-symbol capital and position counts when D70 left them out) is not
 * a section's to guess: `completeD70Sections` fills it from the session and
 * the positions, and says what it filled.
 *
 * @module
 */
import { Schema } from "effect"
import { TradeDirectionV1 } from "./ArbitrageTrade.ts"
import { CampaignId, MarketSymbol, SessionId } from "./Ids.ts"
import type { MetricsStateV1 } from "./MetricsState.ts"
import { type Order, OrderSide, OrderStatus } from "./Order.ts"
import type { PositionsStateV2 } from "./PositionsState.ts"
import type { RiskGuardState } from "./RiskGuardState.ts"
import { SessionStatus, type SessionStateV1, TradingMode } from "./SessionState.ts"
import { BasisPoints, Count, maxEpochMillis, NonNegativeUsd, PositiveUsd, Price, Quantity, Usd } from "./Units.ts"

/** A D70 time: float seconds since the epoch, within the times a state may hold. */
export const EpochSeconds = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThanOrEqualTo(maxEpochMillis / 1000)).annotate({
  identifier: "EpochSeconds"
})

/** Float seconds as the integer milliseconds this project keeps (rounded to the nearest). */
export const millisOfSeconds = (seconds: number): number => Math.min(maxEpochMillis, Math.round(seconds * 1000))

/** A D70 id (a trade's or an order's): letters, digits, `_`, `-` or `.`, 48 chars at most. */
const D70Id = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$/))

/** The id of this project for a D70 id: the same when it is already in this project's form, else kept under `<prefix>d70_`. */
export const idOfD70 = (prefix: "trd_" | "ord_", id: string): string => {
  if (new RegExp(`^${prefix}[a-z0-9][a-z0-9_-]{0,58}$`).test(id)) return id
  return `${prefix}d70_${id.toLowerCase().replaceAll(".", "-")}`
}

/** Version 0 of the session section: D70's. */
export const SessionStateV0 = Schema.Struct({
  session_id: SessionId,
  start_time: EpochSeconds,
  mode: TradingMode,
  paper_campaign_id: CampaignId,
  loop_count: Count,
  status: SessionStatus
}).annotate({ identifier: "SessionStateV0" })
export type SessionStateV0 = typeof SessionStateV0.Type

/** D70's session section as the stored fields of version 1 (which its Schema then decodes). */
export const migrateSessionV0 = (v0: SessionStateV0): typeof SessionStateV1.Encoded => ({
  sessionId: v0.session_id,
  startTime: millisOfSeconds(v0.start_time),
  mode: v0.mode,
  campaignId: v0.paper_campaign_id,
  loopCount: v0.loop_count,
  status: v0.status
})

/** One leg order as D70 writes it. */
export const OrderV0 = Schema.Struct({
  order_id: D70Id,
  venue: Schema.String.check(Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/)),
  symbol: MarketSymbol,
  side: OrderSide,
  price: Price,
  quantity: Quantity,
  filled_quantity: Quantity,
  status: OrderStatus,
  created_at: EpochSeconds,
  updated_at: EpochSeconds
}).annotate({ identifier: "OrderV0" })
export type OrderV0 = typeof OrderV0.Type

/** One open trade as D70 writes it: its two legs A and B, and which one it bought. */
export const ArbitrageTradeV0 = Schema.Struct({
  trade_id: D70Id,
  symbol: MarketSymbol,
  direction: TradeDirectionV1,
  order_a: OrderV0,
  order_b: OrderV0,
  entry_spread_bps: BasisPoints,
  quantity: Quantity,
  notional_usd: PositiveUsd,
  open_time: EpochSeconds,
  take_profit_bps: BasisPoints,
  stop_loss_bps: BasisPoints
}).annotate({ identifier: "ArbitrageTradeV0" })
export type ArbitrageTradeV0 = typeof ArbitrageTradeV0.Type

/** Version 0 of the positions section: D70's open trades and their open times, by D70 trade id. */
export const PositionsStateV0 = Schema.Struct({
  active_orders: Schema.Record(D70Id, ArbitrageTradeV0),
  paper_position_open_times: Schema.Record(D70Id, EpochSeconds)
}).annotate({ identifier: "PositionsStateV0" })
export type PositionsStateV0 = typeof PositionsStateV0.Type

const migrateOrderV0 = (v0: OrderV0): typeof Order.Encoded => ({
  orderId: idOfD70("ord_", v0.order_id),
  venue: v0.venue,
  symbol: v0.symbol,
  side: v0.side,
  price: v0.price,
  quantity: v0.quantity,
  filledQuantity: v0.filled_quantity,
  status: v0.status,
  createdAt: millisOfSeconds(v0.created_at),
  updatedAt: millisOfSeconds(v0.updated_at)
})

/**
 * D70's positions section as the stored fields of version 2 (whose Schema then holds it: ids, times,
 * legs): a trade's legs A and B become its buy and sell legs by its direction, on the venues D70
 * named (version 1 was this project's paper runner, whose legs were on its venues A and B).
 */
export const migratePositionsV0 = (v0: PositionsStateV0): typeof PositionsStateV2.Encoded => ({
  activeTrades: Object.fromEntries(
    Object.entries(v0.active_orders).map(([key, trade]) => [idOfD70("trd_", key), {
      tradeId: idOfD70("trd_", trade.trade_id),
      symbol: trade.symbol,
      buyLeg: migrateOrderV0(trade.direction === "buy_a_sell_b" ? trade.order_a : trade.order_b),
      sellLeg: migrateOrderV0(trade.direction === "buy_a_sell_b" ? trade.order_b : trade.order_a),
      entrySpreadBps: trade.entry_spread_bps,
      quantity: trade.quantity,
      notionalUsd: trade.notional_usd,
      openedAt: millisOfSeconds(trade.open_time),
      takeProfitBps: trade.take_profit_bps,
      stopLossBps: trade.stop_loss_bps
    }])
  ),
  positionOpenTimes: Object.fromEntries(
    Object.entries(v0.paper_position_open_times).map(([key, seconds]) => [idOfD70("trd_", key), millisOfSeconds(seconds)])
  )
})

/** Version 0 of the metrics section: D70's. */
export const MetricsStateV0 = Schema.Struct({
  total_trades_opened: Count,
  total_trades_closed: Count,
  total_winning_trades: Count,
  total_pnl_usd: Usd,
  portfolio_equity: Usd
}).annotate({ identifier: "MetricsStateV0" })
export type MetricsStateV0 = typeof MetricsStateV0.Type

/** D70's metrics section as the stored fields of version 1 (whose upgrade derives the initial capital). */
export const migrateMetricsV0 = (v0: MetricsStateV0): typeof MetricsStateV1.Encoded => ({
  tradesOpened: v0.total_trades_opened,
  tradesClosed: v0.total_trades_closed,
  winningTrades: v0.total_winning_trades,
  totalPnlUsd: v0.total_pnl_usd,
  portfolioEquityUsd: v0.portfolio_equity
})

const perSymbol = <S extends Schema.Top>(value: S) => Schema.Record(MarketSymbol, value)

/** Version 0 of the risk guard section: D70's `RiskGuard.get_state()`, every map by symbol. */
export const RiskGuardStateV0 = Schema.Struct({
  session_start_time: EpochSeconds,
  daily_loss_usd: NonNegativeUsd,
  per_symbol_loss: perSymbol(NonNegativeUsd),
  per_symbol_trades_rejected: perSymbol(Count),
  per_symbol_trades_allowed: perSymbol(Count),
  per_symbol_capital_used: perSymbol(NonNegativeUsd),
  per_symbol_position_count: perSymbol(Count)
}).annotate({ identifier: "RiskGuardStateV0" })
export type RiskGuardStateV0 = typeof RiskGuardStateV0.Type

/** D70's risk guard section as the stored fields of the current version: one entry per symbol any map names, 0 where a map has none. */
export const migrateRiskGuardV0 = (v0: RiskGuardStateV0): typeof RiskGuardState.Encoded => {
  const maps: ReadonlyArray<Readonly<Record<string, number>>> = [
    v0.per_symbol_loss,
    v0.per_symbol_trades_rejected,
    v0.per_symbol_trades_allowed,
    v0.per_symbol_capital_used,
    v0.per_symbol_position_count
  ]
  const [loss, rejected, allowed, capital, positions] = maps
  const symbols = [...new Set(maps.flatMap((map) => Object.keys(map)))].sort()
  return {
    sessionStartTime: millisOfSeconds(v0.session_start_time),
    dailyLossUsd: v0.daily_loss_usd,
    perSymbol: Object.fromEntries(symbols.map((symbol) => [symbol, {
      lossUsd: loss?.[symbol] ?? 0,
      tradesRejected: rejected?.[symbol] ?? 0,
      tradesAllowed: allowed?.[symbol] ?? 0,
      capitalUsedUsd: capital?.[symbol] ?? 0,
      positionCount: positions?.[symbol] ?? 0
    }]))
  }
}

/** Whether a JSON value is an object (not an array, not `null`). */
export const isJsonObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value)

/** Whether a stored section is in D70's form: an object without a `version`. */
export const isD70Section = (value: unknown): value is Record<string, unknown> => isJsonObject(value) && !("version" in value)

/**
 * The D70 ids of `ids` (trade ids with `trd_`, order ids with `ord_`) that become the same id here
 * (`T-1` and `t-1` are both `trd_d70_t-1`), each group joined by `and`: a session holding any would
 * lose a trade, or mistake one leg's order for another's, so it is refused.
 */
export const collidingIds = (prefix: "trd_" | "ord_", ids: ReadonlyArray<string>): ReadonlyArray<string> => {
  const byId = new Map<string, Set<string>>()
  for (const id of ids) byId.set(idOfD70(prefix, id), (byId.get(idOfD70(prefix, id)) ?? new Set()).add(id))
  return [...byId].filter(([, group]) => group.size > 1).map(([mapped, group]) => `${[...group].join(" and ")} (all ${mapped})`)
}

/**
 * The four D70 sections of a session, completed where D70 leaves out what its risk guard's
 * `get_state()` holds (its Redis example does): the session start from the session section, no
 * capital used per symbol, and each symbol's open positions counted from the positions section.
 * Returns the sections and a line for each field it filled. Sections that are not objects are
 * left as they are, for their decoding to refuse.
 */
export const completeD70Sections = (sections: {
  readonly session: unknown
  readonly positions: unknown
  readonly metrics: unknown
  readonly riskGuard: unknown
}): { readonly sections: typeof sections; readonly derived: ReadonlyArray<string> } => {
  const { riskGuard, session, positions } = sections
  if (!isD70Section(riskGuard)) return { sections, derived: [] }
  const derived: Array<string> = []
  const filled: Record<string, unknown> = { ...riskGuard }
  if (!("session_start_time" in filled) && isD70Section(session) && "start_time" in session) {
    filled.session_start_time = session.start_time
    derived.push("risk guard session_start_time: the session's start_time (D70 left it out)")
  }
  if (!("per_symbol_capital_used" in filled)) {
    filled.per_symbol_capital_used = {}
    derived.push("risk guard per_symbol_capital_used: none recorded (D70 left it out), 0 for every symbol")
  }
  if (!("per_symbol_position_count" in filled)) {
    const counts: Record<string, number> = {}
    const trades = isD70Section(positions) ? positions.active_orders : undefined
    if (isJsonObject(trades)) {
      for (const trade of Object.values(trades)) {
        const symbol = isJsonObject(trade) ? trade.symbol : undefined
        if (typeof symbol === "string") counts[symbol] = (counts[symbol] ?? 0) + 1
      }
    }
    filled.per_symbol_position_count = counts
    derived.push(
      `risk guard per_symbol_position_count: counted from the open positions (D70 left it out): ${
        Object.entries(counts).map(([symbol, n]) => `${symbol} ${n}`).join(", ") || "none open"
      }`
    )
  }
  return { sections: { ...sections, riskGuard: filled }, derived }
}
