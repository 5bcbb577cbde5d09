/**
 * Trades in flight as a live runner makes them, for tests and benchmarks of
 * reconciliation: an entry with both legs intended, and a state whose
 * entries have been sent to the venues (each leg as the venue answered it).
 */
import { Effect } from "effect"
import type { EngineState } from "../../src/domain/EngineState.ts"
import { type MarketSymbol, TradeId, Venue as VenueName } from "../../src/domain/Ids.ts"
import type { PendingTrade, VenueBaseline } from "../../src/domain/OrderIntent.ts"
import { newIntent, withVenueOrder } from "../../src/orders/LiveTrades.ts"
import { type ClientOrderId, Venue } from "../../src/venue/Venue.ts"

export const upbit = VenueName.make("upbit")
export const binance = VenueName.make("binance")

/** A trade about to open: both entry legs intended, not sent, priced far from any market (they rest). */
export const openingTrade = (sessionId: string, tradeId: TradeId, symbol: MarketSymbol, now: number): PendingTrade => {
  const leg = (role: "entry_buy" | "entry_sell", venue: VenueName, side: "buy" | "sell", limitPrice: number) =>
    newIntent({ sessionId, tradeId, role, attempt: 0, venue, symbol, side, quantity: 0.02, limitPrice, now })
  return {
    tradeId,
    symbol,
    phase: "opening",
    intents: [leg("entry_buy", upbit, "buy", 1_000), leg("entry_sell", binance, "sell", 1_000_000)],
    entrySpreadBps: 12,
    closeReason: null,
    takeProfitBps: 20,
    stopLossBps: 30,
    decidedAt: now,
    deadlineAt: now + 2_000
  }
}

/**
 * `base` with `trades` entries opening on `symbols` (in turn) and nothing else open, the venues'
 * baseline all zero, every leg sent through the `Venue` and holding what it answered.
 */
export const entriesAtVenues = (base: EngineState, trades: number, symbols: ReadonlyArray<MarketSymbol>) =>
  Effect.gen(function*() {
    const venue = yield* Venue
    const sessionId = base.session.sessionId
    const now = Date.now()
    const pendingTrades: Record<string, PendingTrade> = {}
    for (let i = 0; i < trades; i++) {
      const tradeId = TradeId.make(`trd_entry${i}`)
      const trade = openingTrade(sessionId, tradeId, symbols[i % symbols.length]!, now)
      const intents = []
      for (const intent of trade.intents) {
        const order = yield* venue.submit({
          clientOrderId: intent.clientOrderId as ClientOrderId,
          venue: intent.venue,
          symbol: intent.symbol,
          side: intent.side,
          quantity: intent.quantity,
          limitPrice: intent.limitPrice
        })
        intents.push(withVenueOrder(intent, order, Date.now()))
      }
      pendingTrades[tradeId] = { ...trade, intents }
    }
    const venueBaseline = Object.fromEntries([upbit, binance].map((v) => [v, Object.fromEntries(symbols.map((s) => [s, 0]))])) as VenueBaseline
    return { ...base, positions: { activeTrades: {}, positionOpenTimes: {}, pendingTrades, venueBaseline } } satisfies EngineState
  })
