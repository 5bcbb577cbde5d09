/**
 * Generators of valid engine states, built from the domain Schemas.
 *
 * The cross-section invariants (every open trade counted in the metrics and
 * in its symbol's risk counters) cannot be met by filtering random values, so
 * the parts are generated from the Schemas and assembled into a consistent
 * whole.
 */
import { Arbitrary, Schema } from "effect"
import type { ArbitrageTrade } from "../../src/domain/ArbitrageTrade.ts"
import type { EngineState } from "../../src/domain/EngineState.ts"
import { CampaignId, MarketSymbol, OrderId, SessionId, TradeId, Venue } from "../../src/domain/Ids.ts"
import type { Order } from "../../src/domain/Order.ts"
import { OrderSide, OrderStatus } from "../../src/domain/Order.ts"
import { clientOrderIdOf, IntentStatus, LegRole, type OrderIntent, type PendingTrade, VenueBaseline } from "../../src/domain/OrderIntent.ts"
import type { SymbolRiskState } from "../../src/domain/RiskGuardState.ts"
import { PaperVenues, SessionStatus, TradingMode } from "../../src/domain/SessionState.ts"

const between = (minimum: number, maximum: number) =>
  Schema.Finite.check(Schema.isGreaterThanOrEqualTo(minimum), Schema.isLessThanOrEqualTo(maximum))
const intBetween = (minimum: number, maximum: number) =>
  Schema.Int.check(Schema.isGreaterThanOrEqualTo(minimum), Schema.isLessThanOrEqualTo(maximum))

const TradeSpec = Schema.Struct({
  tradeId: TradeId,
  buyOrderId: OrderId,
  sellOrderId: OrderId,
  symbolIndex: intBetween(0, 3),
  buyVenue: Venue,
  sellVenue: Venue,
  buyPrice: between(0.0001, 1e6),
  sellPrice: between(0.0001, 1e6),
  quantity: between(0.0001, 1e3),
  buyFill: between(0, 1),
  sellFill: between(0, 1),
  buyStatus: OrderStatus,
  sellStatus: OrderStatus,
  openedAfterStart: intBetween(0, 1e9),
  updatedAfterOpen: intBetween(0, 1e6),
  entrySpreadBps: between(-1e4, 1e4),
  takeProfitBps: between(0, 1e4),
  stopLossBps: between(-1e4, -0.01)
})

const IntentSpec = Schema.Struct({
  role: LegRole,
  attempt: intBetween(0, 5),
  venue: Venue,
  side: OrderSide,
  quantity: between(0.0001, 1e3),
  limitPrice: between(0.0001, 1e6),
  status: IntentStatus,
  fill: between(0, 1),
  feesUsd: between(0, 1e3),
  revision: intBetween(0, 100),
  updatedAfter: intBetween(0, 1e6)
})

const PendingSpec = Schema.Struct({
  tradeId: TradeId,
  /** Close one of the open trades instead (its index among them), when there is one. */
  closes: Schema.NullOr(intBetween(0, 100)),
  unwinding: Schema.Boolean,
  intents: Schema.Array(IntentSpec).check(Schema.isMinLength(1), Schema.isMaxLength(4)),
  entrySpreadBps: between(-1e4, 1e4),
  decidedAfterStart: intBetween(0, 1e9),
  deadlineAfter: intBetween(0, 1e7)
})

const RiskExtra = Schema.Struct({
  lossUsd: between(0, 1e6),
  tradesRejected: intBetween(0, 1e6),
  extraAllowed: intBetween(0, 1e6)
})

const StateSpec = Schema.Struct({
  sessionId: SessionId,
  startTime: intBetween(0, 2e12),
  mode: TradingMode,
  campaignId: CampaignId,
  loopCount: intBetween(0, 1e9),
  status: SessionStatus,
  symbols: Schema.Array(MarketSymbol).check(Schema.isMinLength(1), Schema.isMaxLength(4)),
  risk: Schema.Array(RiskExtra).check(Schema.isMinLength(4), Schema.isMaxLength(4)),
  closed: intBetween(0, 1e6),
  winningFraction: between(0, 1),
  totalPnlUsd: between(-1e6, 1e6),
  initialCapitalUsd: between(1, 1e9),
  dailyLossUsd: between(0, 1e6),
  market: Schema.NullOr(Schema.Struct({ seed: intBetween(-1e6, 1e6), tickMs: intBetween(1, 86_400_000), venues: Schema.optionalKey(PaperVenues) })),
  baseline: Schema.NullOr(VenueBaseline)
})
type TradeSpec = typeof TradeSpec.Type

const leg = (side: "buy" | "sell", venue: Venue, spec: TradeSpec, symbol: MarketSymbol, openedAt: number): Order => ({
  orderId: side === "buy" ? spec.buyOrderId : spec.sellOrderId,
  venue,
  symbol,
  side,
  price: side === "buy" ? spec.buyPrice : spec.sellPrice,
  quantity: spec.quantity,
  filledQuantity: spec.quantity * (side === "buy" ? spec.buyFill : spec.sellFill),
  status: side === "buy" ? spec.buyStatus : spec.sellStatus,
  createdAt: openedAt,
  updatedAt: openedAt + spec.updatedAfterOpen
})

/** A venue other than `venue`, names compared without case (the two legs of a trade are on two venues). */
const otherThan = (venue: Venue, candidate: Venue): Venue =>
  candidate.toLowerCase() !== venue.toLowerCase()
    ? candidate
    : Venue.make(`${venue.slice(0, 31)}${venue.toLowerCase().endsWith("x") ? "y" : "x"}`)

const toTrade = (spec: TradeSpec, symbol: MarketSymbol, startTime: number): ArbitrageTrade => {
  const openedAt = startTime + spec.openedAfterStart
  return {
    tradeId: spec.tradeId,
    symbol,
    buyLeg: leg("buy", spec.buyVenue, spec, symbol, openedAt),
    sellLeg: leg("sell", otherThan(spec.buyVenue, spec.sellVenue), spec, symbol, openedAt),
    entrySpreadBps: spec.entrySpreadBps,
    quantity: spec.quantity,
    notionalUsd: spec.quantity * (spec.buyPrice + spec.sellPrice),
    openedAt,
    takeProfitBps: spec.takeProfitBps,
    stopLossBps: spec.stopLossBps
  }
}

/** The intents of a pending trade of `symbol`, as the spec says (fills within each quantity). */
const toIntents = (sessionId: string, tradeId: string, symbol: MarketSymbol, specs: ReadonlyArray<typeof IntentSpec.Type>, at: number): Array<OrderIntent> =>
  specs.map((spec) => {
    const filledQuantity = spec.quantity * spec.fill
    return {
      clientOrderId: clientOrderIdOf(sessionId, tradeId, spec.role, spec.attempt),
      role: spec.role,
      attempt: spec.attempt,
      venue: spec.venue,
      symbol,
      side: spec.side,
      quantity: spec.quantity,
      limitPrice: spec.limitPrice,
      status: spec.status,
      filledQuantity,
      averageFillPrice: filledQuantity > 0 ? spec.limitPrice : null,
      feesUsd: spec.feesUsd,
      reason: spec.status === "rejected" ? "rejected by the venue" : null,
      revision: spec.revision,
      createdAt: at,
      updatedAt: at + spec.updatedAfter
    }
  })

/**
 * Valid engine states with up to `maxOpenTrades` open trades (several per symbol) and, unless
 * `withPending` is false, up to `maxPendingTrades` trades in flight (opening, closing an open one,
 * unwinding) and sometimes the venues' baseline.
 */
export const engineStateArbitrary = (
  options: { readonly maxOpenTrades?: number; readonly minOpenTrades?: number; readonly maxPendingTrades?: number } = {}
) =>
  Arbitrary.all({
    spec: Arbitrary.schema(StateSpec),
    trades: Arbitrary.array(Arbitrary.schema(TradeSpec), {
      minLength: options.minOpenTrades ?? 0,
      maxLength: options.maxOpenTrades ?? 8
    }),
    pending: Arbitrary.array(Arbitrary.schema(PendingSpec), { minLength: 0, maxLength: options.maxPendingTrades ?? 2 })
  }).pipe(Arbitrary.map(({ pending, spec, trades }): EngineState => {
    const activeTrades: Record<TradeId, ArbitrageTrade> = {}
    const positionOpenTimes: Record<TradeId, number> = {}
    for (const tradeSpec of trades) {
      if (tradeSpec.tradeId in activeTrades) continue
      const symbol = spec.symbols[tradeSpec.symbolIndex % spec.symbols.length]!
      const trade = toTrade(tradeSpec, symbol, spec.startTime)
      activeTrades[trade.tradeId] = trade
      positionOpenTimes[trade.tradeId] = trade.openedAt
    }
    const open = Object.values(activeTrades)
    const pendingTrades: Record<TradeId, PendingTrade> = {}
    for (const p of pending) {
      const closing = p.closes === null || open.length === 0 ? undefined : open[p.closes % open.length]!
      const tradeId = closing?.tradeId ?? p.tradeId
      if (tradeId in pendingTrades || (closing === undefined && tradeId in activeTrades)) continue
      const symbol = closing?.symbol ?? spec.symbols[0]!
      const decidedAt = spec.startTime + p.decidedAfterStart
      pendingTrades[tradeId] = {
        tradeId,
        symbol,
        phase: closing !== undefined ? "closing" : p.unwinding ? "unwinding" : "opening",
        intents: toIntents(spec.sessionId, tradeId, symbol, p.intents, decidedAt),
        entrySpreadBps: p.entrySpreadBps,
        closeReason: closing === undefined ? null : "take_profit",
        takeProfitBps: 10,
        stopLossBps: -10,
        decidedAt,
        deadlineAt: decidedAt + p.deadlineAfter
      }
    }
    const perSymbol: Record<MarketSymbol, SymbolRiskState> = {}
    spec.symbols.forEach((symbol, index) => {
      const mine = open.filter((trade) => trade.symbol === symbol)
      const extra = spec.risk[index]!
      perSymbol[symbol] = {
        lossUsd: extra.lossUsd,
        tradesRejected: extra.tradesRejected,
        tradesAllowed: mine.length + extra.extraAllowed,
        capitalUsedUsd: mine.reduce((sum, trade) => sum + trade.notionalUsd, 0),
        positionCount: mine.length
      }
    })
    return {
      session: {
        sessionId: spec.sessionId,
        startTime: spec.startTime,
        mode: spec.mode,
        campaignId: spec.campaignId,
        loopCount: spec.loopCount,
        status: spec.status,
        ...(spec.market === null ? {} : { market: spec.market })
      },
      positions: {
        activeTrades,
        positionOpenTimes,
        ...(Object.keys(pendingTrades).length === 0 ? {} : { pendingTrades }),
        ...(spec.baseline === null ? {} : { venueBaseline: spec.baseline })
      },
      metrics: {
        tradesOpened: spec.closed + open.length,
        tradesClosed: spec.closed,
        winningTrades: Math.floor(spec.closed * spec.winningFraction),
        totalPnlUsd: spec.totalPnlUsd,
        portfolioEquityUsd: spec.initialCapitalUsd + spec.totalPnlUsd,
        initialCapitalUsd: spec.initialCapitalUsd
      },
      riskGuard: { sessionStartTime: spec.startTime, dailyLossUsd: spec.dailyLossUsd, perSymbol }
    }
  }))
