/**
 * LiveTrades: a live arbitrage trade's life in its orders, as pure functions
 * of the state (what a loop decides; `LiveRunner` does the I/O).
 *
 * - An entry becomes two order intents (buy on the cheaper venue, sell on
 *   the dearer), durable before either is sent; the trade opens when both
 *   have filled, at their average fill prices, with their fees.
 * - An entry that does not fill on both legs by its deadline, or whose leg
 *   the venue rejects, cancels what still works and is unwound: whatever
 *   filled is sold or bought back at market on the same venue, and the
 *   trade is closed with the reason `entry_unwound` and the PnL of its fills.
 *   A one-legged position is never dropped and never left standing.
 * - An open trade that reaches its take profit, stop loss or time limit gets
 *   two exit intents (sell back on the buy venue, buy back on the sell
 *   venue); a rejected or expired exit leg is sent again for what is left
 *   (the next attempt, a new client order id); the trade is closed when both
 *   have filled in full.
 *
 * Realized PnL is what the trade's fills moved in cash: the sells in, the
 * buys and every fee out. So the PnL the state counts is the PnL the
 * venues' fills make.
 *
 * @module
 */
import type { ArbitrageTrade } from "../domain/ArbitrageTrade.ts"
import { type ClosedTrade, closeOf } from "../domain/ClosedTrade.ts"
import type { EngineState } from "../domain/EngineState.ts"
import { type MarketSymbol, OrderId, TradeId, type Venue } from "../domain/Ids.ts"
import type { Order } from "../domain/Order.ts"
import { clientOrderIdOf, isSettled, type LegRole, type OrderIntent, type PendingTrade } from "../domain/OrderIntent.ts"
import { bookClose, closeTrade, openTrade } from "../runner/ArbitrageStrategy.ts"
import type { Campaign } from "../runner/Campaign.ts"
import { evaluateEntry, recordRejection } from "../runner/RiskGuard.ts"
import type { VenueOrder, VenueOrderStatus } from "../venue/Venue.ts"

/** How a live session trades. */
export interface LiveSettings {
  readonly campaign: Campaign
  /** The two venues it trades between. */
  readonly venues: readonly [Venue, Venue]
  /** How far past the quote a leg's limit price lets it fill, in bps (a marketable limit order). */
  readonly slippageBps: number
  /** An entry not filled on both legs within this long is unwound. */
  readonly legDeadlineMs: number
  /** Real time of one loop, for the campaign's time limit (its `maxHoldLoops`). */
  readonly loopMs: number
}

/** Both venues' quotes of one symbol. */
export interface QuotePair {
  readonly symbol: MarketSymbol
  readonly quotes: readonly [{ readonly bid: number; readonly ask: number }, { readonly bid: number; readonly ask: number }]
}

const epsilon = 1e-9

const statusOf = (status: VenueOrderStatus): OrderIntent["status"] => status

/** The intent as the venue's order of it says, its revision one up when anything changed. */
export const withVenueOrder = (intent: OrderIntent, order: VenueOrder, now: number): OrderIntent => {
  const next = {
    ...intent,
    status: statusOf(order.status),
    filledQuantity: Math.min(order.filledQuantity, intent.quantity),
    averageFillPrice: order.averageFillPrice,
    feesUsd: order.feesUsd,
    reason: order.reason
  }
  const changed = next.status !== intent.status || next.filledQuantity !== intent.filledQuantity || next.feesUsd !== intent.feesUsd ||
    next.averageFillPrice !== intent.averageFillPrice || next.reason !== intent.reason
  return changed ? { ...next, revision: intent.revision + 1, updatedAt: Math.max(now, intent.createdAt) } : intent
}

/** The intent once the venue says it never saw it: to be sent (again), under the same client order id. */
export const notAtVenue = (intent: OrderIntent, now: number): OrderIntent =>
  intent.status === "intended" ? intent : { ...intent, status: "intended", revision: intent.revision + 1, updatedAt: Math.max(now, intent.createdAt) }

/** The intent with a status the runner learned itself (an answer lost, a rejection, a leg it gave up). */
export const withStatus = (intent: OrderIntent, status: OrderIntent["status"], reason: string | null, now: number): OrderIntent =>
  intent.status === status && intent.reason === reason
    ? intent
    : { ...intent, status, reason, revision: intent.revision + 1, updatedAt: Math.max(now, intent.createdAt) }

/** A new intent, durable before it is sent. */
export const newIntent = (options: {
  readonly sessionId: string
  readonly tradeId: string
  readonly role: LegRole
  readonly attempt: number
  readonly venue: Venue
  readonly symbol: MarketSymbol
  readonly side: "buy" | "sell"
  readonly quantity: number
  readonly limitPrice: number
  readonly now: number
}): OrderIntent => ({
  clientOrderId: clientOrderIdOf(options.sessionId, options.tradeId, options.role, options.attempt),
  role: options.role,
  attempt: options.attempt,
  venue: options.venue,
  symbol: options.symbol,
  side: options.side,
  quantity: options.quantity,
  limitPrice: options.limitPrice,
  status: "intended",
  filledQuantity: 0,
  averageFillPrice: null,
  feesUsd: 0,
  reason: null,
  revision: 0,
  createdAt: options.now,
  updatedAt: options.now
})

/** Whether an intent may still fill (or be sent). */
export const isWorking = (intent: OrderIntent): boolean => !isSettled(intent.status)

/** What every attempt of one role filled: quantity, cash-weighted price, fees. */
const filledOf = (intents: ReadonlyArray<OrderIntent>, role: LegRole) => {
  const mine = intents.filter((intent) => intent.role === role)
  const quantity = mine.reduce((sum, intent) => sum + intent.filledQuantity, 0)
  const notional = mine.reduce((sum, intent) => sum + intent.filledQuantity * (intent.averageFillPrice ?? 0), 0)
  return { quantity, price: quantity > 0 ? notional / quantity : null, feesUsd: mine.reduce((sum, intent) => sum + intent.feesUsd, 0), intents: mine }
}

/** The cash a set of fills moved: sells in, buys and fees out. */
const cashOf = (intents: ReadonlyArray<OrderIntent>) =>
  intents.reduce((sum, intent) => sum + (intent.side === "sell" ? 1 : -1) * intent.filledQuantity * (intent.averageFillPrice ?? 0) - intent.feesUsd, 0)

const withPending = (state: EngineState, pending: PendingTrade): EngineState => ({
  ...state,
  positions: { ...state.positions, pendingTrades: { ...state.positions.pendingTrades, [pending.tradeId]: pending } }
})

const withoutPending = (state: EngineState, tradeId: string): EngineState => {
  const { [tradeId as TradeId]: _gone, ...rest } = state.positions.pendingTrades ?? {}
  const { pendingTrades: _all, ...positions } = state.positions
  return { ...state, positions: Object.keys(rest).length === 0 ? positions : { ...positions, pendingTrades: rest } }
}

/** The state with `intent` replaced (by client order id) in its pending trade. */
export const replaceIntent = (state: EngineState, tradeId: string, intent: OrderIntent): EngineState => {
  const pending = state.positions.pendingTrades?.[tradeId as TradeId]
  if (pending === undefined) return state
  return withPending(state, { ...pending, intents: pending.intents.map((i) => (i.clientOrderId === intent.clientOrderId ? intent : i)) })
}

/** An order of the trade as its filled legs make it (for the open trade and the ledger). */
const legOrder = (intent: OrderIntent, quantity: number, price: number, now: number): Order => ({
  orderId: OrderId.make(`ord_${intent.clientOrderId}`),
  venue: intent.venue,
  symbol: intent.symbol,
  side: intent.side,
  price,
  quantity,
  filledQuantity: quantity,
  status: "filled",
  createdAt: intent.createdAt,
  updatedAt: Math.max(now, intent.createdAt)
})

/**
 * What a loop's resolution did: the state after it, the trades it closed, the cancels to send, and
 * the intents of entries given up that are not to be sent (`held`: they may be at their venue already,
 * and are looked up before anything is decided of them).
 */
export interface Resolution {
  readonly state: EngineState
  readonly closed: ReadonlyArray<ClosedTrade>
  readonly cancels: ReadonlyArray<{ readonly tradeId: string; readonly intent: OrderIntent }>
  readonly held: ReadonlyArray<string>
}

/** The next attempt of `role` for what is left of `quantity`. */
const retry = (sessionId: string, pending: PendingTrade, last: OrderIntent, quantity: number, limitPrice: number, now: number): OrderIntent =>
  newIntent({
    sessionId,
    tradeId: pending.tradeId,
    role: last.role,
    attempt: Math.max(...pending.intents.filter((i) => i.role === last.role).map((i) => i.attempt)) + 1,
    venue: last.venue,
    symbol: last.symbol,
    side: last.side,
    quantity,
    limitPrice,
    now
  })

/**
 * Moves every pending trade on as its intents allow at `now` (loop `loop`): opens, unwinds, closes,
 * retries; `limitOf` prices a new leg (a marketable limit at the venue's quote). An intent still
 * `intended` that `mayBeAtVenue` says may have been sent (by a process that died before it recorded
 * the answer, and not looked up since) is never taken for one the venue does not have: an entry given
 * up waits for it to be looked up.
 */
export const resolve = (
  start: EngineState,
  now: number,
  loop: number,
  limitOf: (venue: Venue, symbol: MarketSymbol, side: "buy" | "sell") => number | undefined,
  mayBeAtVenue: (clientOrderId: string) => boolean = () => false
): Resolution => {
  let state = start
  const closed: Array<ClosedTrade> = []
  const cancels: Array<{ readonly tradeId: string; readonly intent: OrderIntent }> = []
  const held: Array<string> = []
  const sessionId = state.session.sessionId
  for (const pending of Object.values(start.positions.pendingTrades ?? {})) {
    if (pending.phase === "opening") {
      const buy = filledOf(pending.intents, "entry_buy")
      const sell = filledOf(pending.intents, "entry_sell")
      const want = pending.intents.find((i) => i.role === "entry_buy")!.quantity
      if (buy.quantity >= want * (1 - epsilon) && sell.quantity >= want * (1 - epsilon)) {
        const buyIntent = buy.intents[0]!
        const sellIntent = sell.intents[0]!
        const quantity = buy.quantity
        const trade: ArbitrageTrade = {
          tradeId: pending.tradeId,
          symbol: pending.symbol,
          buyLeg: legOrder(buyIntent, quantity, buy.price!, now),
          sellLeg: legOrder(sellIntent, quantity, sell.price!, now),
          entrySpreadBps: pending.entrySpreadBps,
          quantity,
          notionalUsd: quantity * (buy.price! + sell.price!),
          openedAt: Math.max(now, state.session.startTime),
          takeProfitBps: pending.takeProfitBps,
          stopLossBps: pending.stopLossBps,
          entryFeesUsd: buy.feesUsd + sell.feesUsd
        }
        state = openTrade(withoutPending(state, pending.tradeId), trade)
        continue
      }
      const failed = pending.intents.some((i) => isSettled(i.status) && i.filledQuantity < i.quantity * (1 - epsilon))
      if (!failed && now < pending.deadlineAt) continue
      const working = pending.intents.filter(isWorking)
      if (working.length > 0) {
        // Given up: what still works is cancelled; one never sent is simply not sent; one that may
        // have been sent is neither sent nor dropped until it is looked up.
        for (const intent of working) {
          if (intent.status !== "intended") cancels.push({ tradeId: pending.tradeId, intent })
          else if (mayBeAtVenue(intent.clientOrderId)) held.push(intent.clientOrderId)
          else state = replaceIntent(state, pending.tradeId, withStatus(intent, "cancelled", "entry given up before it was sent", now))
        }
        continue
      }
      if (buy.quantity + sell.quantity <= 0) {
        // Nothing filled: the entry never happened.
        state = { ...withoutPending(state, pending.tradeId), riskGuard: recordRejection(state.riskGuard, pending.symbol) }
        continue
      }
      const unwinds = [
        ...(buy.quantity > 0 ? [{ venue: buy.intents[0]!.venue, side: "sell" as const, quantity: buy.quantity }] : []),
        ...(sell.quantity > 0 ? [{ venue: sell.intents[0]!.venue, side: "buy" as const, quantity: sell.quantity }] : [])
      ]
      const prices = unwinds.map((leg) => limitOf(leg.venue, pending.symbol, leg.side))
      // No quote to price an unwind at this loop: it is tried again at the next, never skipped.
      if (prices.some((price) => price === undefined)) continue
      const unwindIntents = unwinds.map((leg, attempt) =>
        newIntent({
          sessionId,
          tradeId: pending.tradeId,
          role: "unwind",
          attempt,
          venue: leg.venue,
          symbol: pending.symbol,
          side: leg.side,
          quantity: leg.quantity,
          limitPrice: prices[attempt]!,
          now
        })
      )
      state = withPending(state, { ...pending, phase: "unwinding", closeReason: "entry_unwound", intents: [...pending.intents, ...unwindIntents] })
      continue
    }

    // Closing and unwinding: every leg to unwind (or exit) must fill in full; a leg the venue gave
    // up on is sent again for what is left.
    const legs = pending.phase === "closing"
      ? (["exit_sell", "exit_buy"] as const).map((role) => ({ role, venueOf: pending.intents.find((i) => i.role === role)! }))
      : []
    let allFilled = true
    let next = state.positions.pendingTrades?.[pending.tradeId as TradeId] ?? pending
    const targets = pending.phase === "closing"
      ? legs.map(({ role, venueOf }) => ({ intents: next.intents.filter((i) => i.role === role), quantity: venueOf.quantity }))
      : groupUnwinds(next.intents)
    for (const target of targets) {
      const filled = target.intents.reduce((sum, i) => sum + i.filledQuantity, 0)
      if (filled >= target.quantity * (1 - epsilon)) continue
      allFilled = false
      if (target.intents.some(isWorking)) continue
      const last = target.intents.at(-1)!
      const limit = limitOf(last.venue, last.symbol, last.side)
      if (limit === undefined) continue
      next = { ...next, intents: [...next.intents, retry(sessionId, next, last, target.quantity - filled, limit, now)] }
    }
    if (!allFilled) {
      if (next !== pending) state = withPending(state, next)
      continue
    }
    if (pending.phase === "closing") {
      const trade = state.positions.activeTrades[pending.tradeId as TradeId]!
      const exitSell = filledOf(next.intents, "exit_sell")
      const exitBuy = filledOf(next.intents, "exit_buy")
      const entryCash = trade.quantity * (trade.sellLeg.price - trade.buyLeg.price) - (trade.entryFeesUsd ?? 0)
      const realizedPnlUsd = entryCash + cashOf(next.intents)
      closed.push(closeOf(trade, {
        buyLegExitPrice: exitSell.price!,
        sellLegExitPrice: exitBuy.price!,
        feesUsd: (trade.entryFeesUsd ?? 0) + exitSell.feesUsd + exitBuy.feesUsd,
        realizedPnlUsd,
        reason: pending.closeReason ?? "closed",
        closedAt: Math.max(now, trade.openedAt),
        closedLoop: loop
      }))
      state = closeTrade(withoutPending(state, pending.tradeId), trade, realizedPnlUsd)
    } else {
      // Unwound: a trade that opened on one leg (or in part) and was closed at once, at the PnL of its fills.
      const buy = filledOf(next.intents, "entry_buy")
      const sell = filledOf(next.intents, "entry_sell")
      const buyIntent = next.intents.find((i) => i.role === "entry_buy")!
      const sellIntent = next.intents.find((i) => i.role === "entry_sell")!
      const unwoundSell = next.intents.filter((i) => i.role === "unwind" && i.side === "sell")
      const unwoundBuy = next.intents.filter((i) => i.role === "unwind" && i.side === "buy")
      const priceOf = (intents: ReadonlyArray<OrderIntent>, fallback: number) => {
        const q = intents.reduce((sum, i) => sum + i.filledQuantity, 0)
        return q > 0 ? intents.reduce((sum, i) => sum + i.filledQuantity * (i.averageFillPrice ?? 0), 0) / q : fallback
      }
      const buyPrice = buy.price ?? buyIntent.limitPrice
      const sellPrice = sell.price ?? sellIntent.limitPrice
      const quantity = Math.max(buy.quantity, sell.quantity)
      const realizedPnlUsd = cashOf(next.intents)
      const trade: ArbitrageTrade = {
        tradeId: pending.tradeId,
        symbol: pending.symbol,
        buyLeg: { ...legOrder(buyIntent, buy.quantity, buyPrice, now), quantity: buyIntent.quantity, status: buy.quantity > 0 ? "partially_filled" : "cancelled" },
        sellLeg: { ...legOrder(sellIntent, sell.quantity, sellPrice, now), quantity: sellIntent.quantity, status: sell.quantity > 0 ? "partially_filled" : "cancelled" },
        entrySpreadBps: pending.entrySpreadBps,
        quantity,
        notionalUsd: buy.quantity * buyPrice + sell.quantity * sellPrice,
        openedAt: Math.max(pending.decidedAt, state.session.startTime),
        takeProfitBps: pending.takeProfitBps,
        stopLossBps: pending.stopLossBps
      }
      closed.push(closeOf(trade, {
        buyLegExitPrice: priceOf(unwoundSell, buyPrice),
        sellLegExitPrice: priceOf(unwoundBuy, sellPrice),
        feesUsd: next.intents.reduce((sum, i) => sum + i.feesUsd, 0),
        realizedPnlUsd,
        reason: "entry_unwound",
        closedAt: Math.max(now, trade.openedAt),
        closedLoop: loop
      }))
      // Counted opened and closed at once; it never held a position the risk counters count.
      state = bookClose(withoutPending(state, pending.tradeId), pending.symbol, realizedPnlUsd, (withLoss) => ({
        ...withLoss,
        tradesAllowed: withLoss.tradesAllowed + 1
      }), { alsoOpened: true })
    }
  }
  return { state, closed, cancels, held }
}

/** The unwind legs of an unwinding trade, each with every attempt at it (one per venue and side). */
const groupUnwinds = (intents: ReadonlyArray<OrderIntent>) => {
  const groups = new Map<string, Array<OrderIntent>>()
  for (const intent of intents.filter((i) => i.role === "unwind")) {
    const key = `${intent.venue}|${intent.side}`
    groups.set(key, [...(groups.get(key) ?? []), intent])
  }
  return [...groups.values()].map((group) => ({ intents: group, quantity: group[0]!.quantity }))
}

/** The realized PnL an open trade would close at on `pair`'s quotes, in bps of its notional (fees of the exit estimated). */
const exitBps = (trade: ArbitrageTrade, pair: QuotePair, settings: LiveSettings): number => {
  const [first] = settings.venues
  const quoteOf = (venue: Venue) => (venue.toLowerCase() === first.toLowerCase() ? pair.quotes[0] : pair.quotes[1])
  const exitSell = quoteOf(trade.buyLeg.venue).bid
  const exitBuy = quoteOf(trade.sellLeg.venue).ask
  const gross = trade.quantity * (exitSell - trade.buyLeg.price) + trade.quantity * (trade.sellLeg.price - exitBuy)
  const fees = (trade.entryFeesUsd ?? 0) + (settings.campaign.feeBps / 10_000) * trade.quantity * (exitSell + exitBuy)
  return ((gross - fees) / trade.notionalUsd) * 10_000
}

/**
 * What a loop decides at `now` on the venues' quotes: exits for open trades that reached their take
 * profit, stop loss or time limit, and (when `canOpen`) entries where the spread crosses the
 * campaign's threshold and the risk guard allows; each becomes intents, not yet sent.
 */
export const decide = (
  start: EngineState,
  quotes: ReadonlyArray<QuotePair>,
  now: number,
  loop: number,
  settings: LiveSettings,
  canOpen: boolean
): EngineState => {
  let state = start
  const { campaign, venues } = settings
  const sessionId = state.session.sessionId
  const slip = settings.slippageBps / 10_000
  const pendingOf = (id: string) => state.positions.pendingTrades?.[id as TradeId]
  for (const trade of Object.values(start.positions.activeTrades)) {
    if (pendingOf(trade.tradeId) !== undefined) continue
    const pair = quotes.find((q) => q.symbol === trade.symbol)
    if (pair === undefined) continue
    const bps = exitBps(trade, pair, settings)
    const reason = bps >= trade.takeProfitBps
      ? "take_profit"
      : bps <= trade.stopLossBps
      ? "stop_loss"
      : now - trade.openedAt >= campaign.maxHoldLoops * settings.loopMs
      ? "timeout"
      : undefined
    if (reason === undefined) continue
    const quoteOf = (venue: Venue) => (venue.toLowerCase() === venues[0].toLowerCase() ? pair.quotes[0] : pair.quotes[1])
    const leg = (role: LegRole, venue: Venue, side: "buy" | "sell") =>
      newIntent({
        sessionId,
        tradeId: trade.tradeId,
        role,
        attempt: 0,
        venue,
        symbol: trade.symbol,
        side,
        quantity: trade.quantity,
        limitPrice: side === "buy" ? quoteOf(venue).ask * (1 + slip) : quoteOf(venue).bid * (1 - slip),
        now
      })
    state = withPending(state, {
      tradeId: trade.tradeId,
      symbol: trade.symbol,
      phase: "closing",
      intents: [leg("exit_sell", trade.buyLeg.venue, "sell"), leg("exit_buy", trade.sellLeg.venue, "buy")],
      entrySpreadBps: trade.entrySpreadBps,
      closeReason: reason,
      takeProfitBps: trade.takeProfitBps,
      stopLossBps: trade.stopLossBps,
      decidedAt: now,
      deadlineAt: now + settings.legDeadlineMs
    })
  }
  if (!canOpen) return state
  campaign.symbols.forEach((symbol, index) => {
    const pair = quotes.find((q) => q.symbol === symbol)
    if (pair === undefined) return
    const busy = Object.values(state.positions.pendingTrades ?? {}).some((p) => p.symbol === symbol && p.phase !== "closing")
    if (busy) return
    const [a, b] = pair.quotes
    const buyFirst = ((b.bid - a.ask) / a.ask) >= ((a.bid - b.ask) / b.ask)
    const [buyVenue, sellVenue] = buyFirst ? [venues[0], venues[1]] : [venues[1], venues[0]]
    const buyQuote = buyFirst ? a : b
    const sellQuote = buyFirst ? b : a
    const spreadBps = ((sellQuote.bid - buyQuote.ask) / buyQuote.ask) * 10_000
    if (spreadBps < campaign.entryThresholdBps) return
    const quantity = campaign.tradeNotionalUsd / (buyQuote.ask + sellQuote.bid)
    const decision = evaluateEntry(state, campaign, symbol, campaign.tradeNotionalUsd, true)
    if (!decision.allowed) {
      state = { ...state, riskGuard: recordRejection(state.riskGuard, symbol) }
      return
    }
    const tradeId = TradeId.make(`trd_l${loop.toString(36)}s${index}`)
    if (state.positions.activeTrades[tradeId] !== undefined || pendingOf(tradeId) !== undefined) return
    const leg = (role: LegRole, venue: Venue, side: "buy" | "sell", price: number) =>
      newIntent({ sessionId, tradeId, role, attempt: 0, venue, symbol, side, quantity, limitPrice: price, now })
    state = withPending(state, {
      tradeId,
      symbol,
      phase: "opening",
      intents: [leg("entry_buy", buyVenue, "buy", buyQuote.ask * (1 + slip)), leg("entry_sell", sellVenue, "sell", sellQuote.bid * (1 - slip))],
      entrySpreadBps: spreadBps,
      closeReason: null,
      takeProfitBps: campaign.takeProfitBps,
      stopLossBps: campaign.stopLossBps,
      decidedAt: now,
      deadlineAt: now + settings.legDeadlineMs
    })
  })
  return state
}

/** Every intent of the state, with its pending trade. */
export const intentsOf = (state: EngineState): ReadonlyArray<{ readonly tradeId: string; readonly intent: OrderIntent }> =>
  Object.values(state.positions.pendingTrades ?? {}).flatMap((pending) => pending.intents.map((intent) => ({ tradeId: pending.tradeId, intent })))

/**
 * What the state says each venue should hold, by symbol: what it held before the session, the open
 * trades' legs, and what the intents in flight have filled.
 */
export const expectedPositions = (state: EngineState, venues: ReadonlyArray<Venue>): Map<string, number> => {
  const expected = new Map<string, number>()
  const add = (venue: string, symbol: string, quantity: number) => {
    const key = `${venue.toLowerCase()}|${symbol}`
    expected.set(key, (expected.get(key) ?? 0) + quantity)
  }
  for (const venue of venues) {
    for (const [symbol, quantity] of Object.entries(state.positions.venueBaseline?.[venue] ?? {})) add(venue, symbol, quantity)
  }
  for (const trade of Object.values(state.positions.activeTrades)) {
    add(trade.buyLeg.venue, trade.symbol, trade.quantity)
    add(trade.sellLeg.venue, trade.symbol, -trade.quantity)
  }
  // A closing trade's pending legs are its exits (its entry legs are counted by the open trade); an
  // opening or unwinding one's are its entries and unwinds.
  for (const { intent } of intentsOf(state)) add(intent.venue, intent.symbol, (intent.side === "buy" ? 1 : -1) * intent.filledQuantity)
  return expected
}
