/**
 * ArbitrageStrategy: one loop of the paper arbitrage runner, as a pure
 * function of the state, the campaign and the market.
 *
 * Everything the next loop needs is in the state (the loop index gives the
 * time and the quotes), so a run resumed from any persisted state continues
 * exactly as the uninterrupted run would have.
 *
 * @module
 */
import type { ArbitrageTrade } from "../domain/ArbitrageTrade.ts"
import { type ClosedTrade, closeOf } from "../domain/ClosedTrade.ts"
import { empty, type EngineState } from "../domain/EngineState.ts"
import { type MarketSymbol, OrderId, type SessionId, TradeId, type Venue } from "../domain/Ids.ts"
import type { SymbolRiskState } from "../domain/RiskGuardState.ts"
import type { TradingMode } from "../domain/SessionState.ts"
import { maxEpochMillis } from "../domain/Units.ts"
import type { Campaign } from "./Campaign.ts"
import { type MarketQuote, quoteAt, venueQuote, venuesOf } from "./MarketFeed.ts"
import { evaluateEntry, recordRejection, type RejectionReason, symbolRisk } from "./RiskGuard.ts"

/** How the market and the clock behave for a run. */
export interface MarketSettings {
  readonly seed: number
  /** Simulated time between loops, in milliseconds. */
  readonly tickMs: number
  /** The names of the two venues (default: `A` and `B`); only the names differ, not the trading. */
  readonly venues?: readonly [Venue, Venue]
}

/** Why a trade was closed. */
export type CloseReason = "take_profit" | "stop_loss" | "timeout"

/** What one loop did: the trades it opened, those it closed (for the trade ledger, in the order it closed them), the entries refused. */
export interface LoopEvents {
  readonly opened: ReadonlyArray<ArbitrageTrade>
  readonly closed: ReadonlyArray<ClosedTrade>
  readonly rejected: ReadonlyArray<{ readonly symbol: MarketSymbol; readonly reason: RejectionReason }>
}

/** Whether a loop changed the set of open trades (and so must be made durable before the next). */
export const tradesChanged = (events: LoopEvents): boolean => events.opened.length > 0 || events.closed.length > 0

const dayMs = 86_400_000

/** Where simulated sessions start, so that two runs with one seed see the same clock. */
export const simulatedStart = Date.UTC(2026, 0, 1)

/**
 * The most loops a session started at `startTime` can run with a `tickMs` tick: its simulated clock
 * (start + loops x tick) stays within the latest time a state may hold (`maxEpochMillis`); past it,
 * the runner would build states the codec refuses.
 */
export const maxLoopsWithin = (startTime: number, tickMs: number): number => {
  const room = maxEpochMillis - startTime
  const loops = Math.floor(room / tickMs)
  // The division is in floating point: never let it round up past the room there is.
  return loops * tickMs > room ? loops - 1 : loops
}

/** The state of a session that has not run a loop yet. */
export const newSessionState = (options: {
  readonly sessionId: SessionId
  readonly campaign: Campaign
  readonly startTime: number
  readonly mode?: TradingMode
  /** The market it trades, recorded so that a resume needs nothing else (default: not recorded). */
  readonly market?: MarketSettings
}): EngineState =>
  empty({
    sessionId: options.sessionId,
    startTime: options.startTime,
    campaignId: options.campaign.id,
    initialCapitalUsd: options.campaign.initialCapitalUsd,
    symbols: options.campaign.symbols,
    ...(options.mode === undefined ? {} : { mode: options.mode }),
    ...(options.market === undefined ? {} : { market: options.market })
  })

/** The open trades in a fixed order (open time, then id), whatever order a store gave the keys back in. */
const openTradesInOrder = (state: EngineState) =>
  Object.values(state.positions.activeTrades).sort((x, y) => x.openedAt - y.openedAt || (x.tradeId < y.tradeId ? -1 : 1))

/** What closing `trade` at `quote` comes to: the price each leg unwinds at, the fees on both legs at entry and exit, the PnL after them. */
export const closingOf = (trade: ArbitrageTrade, quote: MarketQuote, feeBps: number, venues: readonly [Venue, Venue]) => {
  const q = trade.quantity
  // Closing sells what the buy leg bought, at its venue's bid, and buys back what the sell leg sold, at its venue's ask.
  const buyLegExitPrice = venueQuote(quote, trade.buyLeg.venue, venues).bid
  const sellLegExitPrice = venueQuote(quote, trade.sellLeg.venue, venues).ask
  const gross = q * (buyLegExitPrice - trade.buyLeg.price) + q * (trade.sellLeg.price - sellLegExitPrice)
  const feesUsd = (feeBps / 10_000) * (trade.notionalUsd + q * (buyLegExitPrice + sellLegExitPrice))
  return { buyLegExitPrice, sellLegExitPrice, feesUsd, realizedPnlUsd: gross - feesUsd }
}

/** The symbol's counters with capital and positions recounted from the open trades. */
const recount = (risk: SymbolRiskState, open: ReadonlyArray<ArbitrageTrade>, symbol: MarketSymbol): SymbolRiskState => {
  const mine = open.filter((trade) => trade.symbol === symbol)
  return { ...risk, positionCount: mine.length, capitalUsedUsd: mine.reduce((sum, trade) => sum + trade.notionalUsd, 0) }
}

const withoutTrade = (state: EngineState, trade: ArbitrageTrade): EngineState["positions"] => {
  const { [trade.tradeId]: _trade, ...activeTrades } = state.positions.activeTrades
  const { [trade.tradeId]: _time, ...positionOpenTimes } = state.positions.positionOpenTimes
  return { ...state.positions, activeTrades, positionOpenTimes }
}

/**
 * `state` with a close of `symbol` at a realized `pnlUsd` booked: counted closed (and opened too, for
 * a trade opened and closed at once), its PnL in the metrics and the equity, a loss in the day's and
 * the symbol's losses; `counters` makes the symbol's risk counters from theirs with the loss added.
 */
export const bookClose = (
  state: EngineState,
  symbol: MarketSymbol,
  pnlUsd: number,
  counters: (withLoss: SymbolRiskState) => SymbolRiskState,
  options: { readonly alsoOpened?: boolean } = {}
): EngineState => {
  const loss = pnlUsd < 0 ? -pnlUsd : 0
  const mine = symbolRisk(state.riskGuard, symbol)
  const totalPnlUsd = state.metrics.totalPnlUsd + pnlUsd
  return {
    ...state,
    metrics: {
      ...state.metrics,
      tradesOpened: state.metrics.tradesOpened + (options.alsoOpened === true ? 1 : 0),
      tradesClosed: state.metrics.tradesClosed + 1,
      winningTrades: state.metrics.winningTrades + (pnlUsd > 0 ? 1 : 0),
      totalPnlUsd,
      portfolioEquityUsd: state.metrics.initialCapitalUsd + totalPnlUsd
    },
    riskGuard: {
      ...state.riskGuard,
      dailyLossUsd: state.riskGuard.dailyLossUsd + loss,
      perSymbol: { ...state.riskGuard.perSymbol, [symbol]: counters({ ...mine, lossUsd: mine.lossUsd + loss }) }
    }
  }
}

/** `state` with `trade` closed at a realized `pnlUsd`: out of the positions, into the metrics and the risk counters. */
export const closeTrade = (state: EngineState, trade: ArbitrageTrade, pnlUsd: number): EngineState => {
  const positions = withoutTrade(state, trade)
  const open = Object.values(positions.activeTrades)
  return bookClose({ ...state, positions }, trade.symbol, pnlUsd, (withLoss) => recount(withLoss, open, trade.symbol))
}

/** `state` with `trade` open: in the positions, counted opened, its capital in its symbol's risk counters. */
export const openTrade = (state: EngineState, trade: ArbitrageTrade): EngineState => {
  const positions = {
    ...state.positions,
    activeTrades: { ...state.positions.activeTrades, [trade.tradeId]: trade },
    positionOpenTimes: { ...state.positions.positionOpenTimes, [trade.tradeId]: trade.openedAt }
  }
  const mine = symbolRisk(state.riskGuard, trade.symbol)
  return {
    ...state,
    positions,
    metrics: { ...state.metrics, tradesOpened: state.metrics.tradesOpened + 1 },
    riskGuard: {
      ...state.riskGuard,
      perSymbol: {
        ...state.riskGuard.perSymbol,
        [trade.symbol]: recount({ ...mine, tradesAllowed: mine.tradesAllowed + 1 }, Object.values(positions.activeTrades), trade.symbol)
      }
    }
  }
}

/** The trade the strategy would open on `quote` at loop `loop`, or nothing when the spread is too thin. */
const proposeTrade = (
  campaign: Campaign,
  quote: MarketQuote,
  venues: readonly [Venue, Venue],
  symbolIndex: number,
  loop: number,
  now: number
): ArbitrageTrade | undefined => {
  const buyASpreadBps = ((quote.b.bid - quote.a.ask) / quote.a.ask) * 10_000
  const buyBSpreadBps = ((quote.a.bid - quote.b.ask) / quote.b.ask) * 10_000
  // Buy where it is cheap, sell where it is dear.
  const [buyVenue, sellVenue] = buyASpreadBps >= buyBSpreadBps ? [venues[0], venues[1]] : [venues[1], venues[0]]
  const entrySpreadBps = Math.max(buyASpreadBps, buyBSpreadBps)
  if (entrySpreadBps < campaign.entryThresholdBps) return undefined
  const buyPrice = venueQuote(quote, buyVenue, venues).ask
  const sellPrice = venueQuote(quote, sellVenue, venues).bid
  const quantity = campaign.tradeNotionalUsd / (buyPrice + sellPrice)
  const tag = `l${loop.toString(36)}s${symbolIndex}`
  const leg = (venue: Venue, price: number, side: "buy" | "sell") => ({
    // The side's letter (the legs' ids differ whatever their venues are called), then the venue as
    // an order id may spell it (lower case, `.` as `-`).
    orderId: OrderId.make(`ord_${tag}${side[0]}${venue.toLowerCase().replaceAll(".", "-")}`),
    venue,
    symbol: quote.symbol,
    side,
    price,
    quantity,
    filledQuantity: quantity,
    status: "filled" as const,
    createdAt: now,
    updatedAt: now
  })
  return {
    tradeId: TradeId.make(`trd_${tag}`),
    symbol: quote.symbol,
    buyLeg: leg(buyVenue, buyPrice, "buy"),
    sellLeg: leg(sellVenue, sellPrice, "sell"),
    entrySpreadBps,
    quantity,
    notionalUsd: quantity * (buyPrice + sellPrice),
    openedAt: now,
    takeProfitBps: campaign.takeProfitBps,
    stopLossBps: campaign.stopLossBps
  }
}

/**
 * Runs loop number `state.session.loopCount`: closes the trades that hit take
 * profit, stop loss or their time limit, then opens trades where the spread
 * crosses the entry threshold and the risk guard allows it. `durable` is the
 * persistence-health gate: when false, no trade opens.
 */
export const runLoop = (
  state: EngineState,
  campaign: Campaign,
  market: MarketSettings,
  durable = true
): { readonly state: EngineState; readonly events: LoopEvents } => {
  const loop = state.session.loopCount
  const now = state.session.startTime + loop * market.tickMs
  let next = state
  if (loop > 0 && Math.floor((now - state.riskGuard.sessionStartTime) / dayMs) !== Math.floor((now - market.tickMs - state.riskGuard.sessionStartTime) / dayMs)) {
    next = { ...next, riskGuard: { ...next.riskGuard, dailyLossUsd: 0 } }
  }
  const venues = venuesOf(market)
  const closed: Array<ClosedTrade> = []
  for (const trade of openTradesInOrder(next)) {
    const quote = quoteAt(market.seed, trade.symbol, loop)
    const closing = closingOf(trade, quote, campaign.feeBps, venues)
    const pnlUsd = closing.realizedPnlUsd
    const pnlBps = (pnlUsd / trade.notionalUsd) * 10_000
    const reason: CloseReason | undefined = pnlBps >= campaign.takeProfitBps
      ? "take_profit"
      : pnlBps <= campaign.stopLossBps
      ? "stop_loss"
      : now - trade.openedAt >= campaign.maxHoldLoops * market.tickMs
      ? "timeout"
      : undefined
    if (reason !== undefined) {
      next = closeTrade(next, trade, pnlUsd)
      closed.push(closeOf(trade, { ...closing, reason, closedAt: now, closedLoop: loop }))
    }
  }
  const opened: Array<ArbitrageTrade> = []
  const rejected: Array<LoopEvents["rejected"][number]> = []
  campaign.symbols.forEach((symbol, index) => {
    const trade = proposeTrade(campaign, quoteAt(market.seed, symbol, loop), venues, index, loop, now)
    if (trade === undefined) return
    const decision = evaluateEntry(next, campaign, symbol, trade.notionalUsd, durable)
    if (decision.allowed) {
      next = openTrade(next, trade)
      opened.push(trade)
    } else {
      next = { ...next, riskGuard: recordRejection(next.riskGuard, symbol) }
      rejected.push({ symbol, reason: decision.reason })
    }
  })
  next = { ...next, session: { ...next.session, loopCount: loop + 1 } }
  return { state: next, events: { opened, closed, rejected } }
}
