/**
 * SimBook: the venue simulator's order book, as pure state and the events
 * that change it.
 *
 * Every change is an event (an order accepted or rejected, a fill, a cancel,
 * an expiry, a position changed by hand): the simulator appends each one to
 * its journal before it answers, and rebuilds the book by replaying the
 * journal when it starts, so its book survives its own restart.
 *
 * Matching (`match`) runs on the simulator's own clock, whether or not any
 * runner is connected: a working order fills, a slice at a time (partial
 * fills), whenever the venue's quote reaches its limit, at that quote; one
 * that has not filled within its time to live expires. Quotes come from the
 * paper runner's deterministic feed, one tick of it per `tickMs` of the
 * simulator's clock, venue `i` of its list priced as feed venue A when `i`
 * is even and B when odd.
 */
import type { MarketSymbol, Venue as VenueName } from "../domain/Ids.ts"
import { quoteAt } from "../runner/MarketFeed.ts"
import {
  type ClientOrderId,
  isTerminal,
  type OrderRequest,
  type VenueBalances,
  type VenueFill,
  type VenueOrder,
  type VenueQuote
} from "../venue/Venue.ts"

/** How the simulated venues behave. */
export interface SimSettings {
  readonly venues: ReadonlyArray<VenueName>
  readonly seed: number
  /** Simulated time per tick of the feed, in milliseconds of the simulator's clock. */
  readonly tickMs: number
  /** Fee per fill, in bps of its notional. */
  readonly feeBps: number
  /** An order fills in at most this many slices (1: at once). */
  readonly fillSlices: number
  /** A working order expires after this long (milliseconds). */
  readonly orderTtlMs: number
}

/** One change of the book, as the journal keeps it. */
export type SimEvent =
  | { readonly type: "accepted"; readonly order: VenueOrder }
  | { readonly type: "rejected"; readonly order: VenueOrder }
  | { readonly type: "fill"; readonly fill: VenueFill }
  | { readonly type: "cancelled"; readonly venue: VenueName; readonly clientOrderId: ClientOrderId; readonly at: number; readonly byVenue?: boolean }
  | { readonly type: "expired"; readonly venue: VenueName; readonly clientOrderId: ClientOrderId; readonly at: number }
  | { readonly type: "adjusted"; readonly venue: VenueName; readonly symbol: MarketSymbol; readonly quantity: number; readonly at: number }

/** The book: every order it ever accepted or rejected, every fill, and hand changes of positions. */
export interface SimBook {
  readonly orders: Map<string, VenueOrder>
  readonly fills: Array<VenueFill>
  /** Positions changed by hand (an operator at the venue), by venue and symbol. */
  readonly adjustments: Map<string, number>
  nextOrderNumber: number
}

/** An empty book. */
export const emptyBook = (): SimBook => ({ orders: new Map(), fills: [], adjustments: new Map(), nextOrderNumber: 1 })

const keyOf = (venue: string, clientOrderId: string) => `${venue.toLowerCase()}|${clientOrderId}`

/** The order a client order id made on a venue, if any. */
export const orderOf = (book: SimBook, venue: string, clientOrderId: string): VenueOrder | undefined =>
  book.orders.get(keyOf(venue, clientOrderId))

/** Applies one event to the book (replay and live alike). */
export const apply = (book: SimBook, event: SimEvent): void => {
  switch (event.type) {
    case "accepted":
    case "rejected":
      book.orders.set(keyOf(event.order.venue, event.order.clientOrderId), event.order)
      book.nextOrderNumber = Math.max(book.nextOrderNumber, Number(event.order.venueOrderId.replace(/\D/g, "")) + 1)
      return
    case "fill": {
      const { fill } = event
      book.fills.push(fill)
      const order = orderOf(book, fill.venue, fill.clientOrderId)
      if (order === undefined) return
      const filledQuantity = order.filledQuantity + fill.quantity
      const averageFillPrice = ((order.averageFillPrice ?? 0) * order.filledQuantity + fill.price * fill.quantity) / filledQuantity
      const done = filledQuantity >= order.quantity * (1 - 1e-12)
      book.orders.set(keyOf(order.venue, order.clientOrderId), {
        ...order,
        filledQuantity: done ? order.quantity : filledQuantity,
        averageFillPrice,
        feesUsd: order.feesUsd + fill.feeUsd,
        status: done ? "filled" : "partially_filled",
        updatedAt: Math.max(order.updatedAt, fill.at)
      })
      return
    }
    case "cancelled":
    case "expired": {
      const order = orderOf(book, event.venue, event.clientOrderId)
      if (order === undefined || isTerminal(order.status)) return
      book.orders.set(keyOf(order.venue, order.clientOrderId), {
        ...order,
        status: event.type,
        reason: event.type === "expired"
          ? "not filled within its time to live"
          : event.byVenue === true
          ? "cancelled by the venue"
          : "cancelled by the client",
        updatedAt: Math.max(order.updatedAt, event.at)
      })
      return
    }
    case "adjusted": {
      const key = `${event.venue.toLowerCase()}|${event.symbol}`
      book.adjustments.set(key, (book.adjustments.get(key) ?? 0) + event.quantity)
      return
    }
  }
}

/** The venue's quote of `symbol` at `now`. */
export const quoteOf = (settings: SimSettings, venue: VenueName, symbol: MarketSymbol, now: number): VenueQuote | undefined => {
  const index = settings.venues.findIndex((v) => v.toLowerCase() === venue.toLowerCase())
  if (index < 0) return undefined
  const quote = quoteAt(settings.seed, symbol, Math.floor(now / settings.tickMs))
  const side = index % 2 === 0 ? quote.a : quote.b
  return { venue: settings.venues[index]!, symbol, bid: side.bid, ask: side.ask, at: now }
}

/** Whether two requests ask for the same order. */
const sameTerms = (order: VenueOrder, request: OrderRequest) =>
  order.symbol === request.symbol && order.side === request.side && order.quantity === request.quantity &&
  order.limitPrice === request.limitPrice && order.venue.toLowerCase() === request.venue.toLowerCase()

/**
 * What a submit does: the existing order of its client order id (the same terms), a refusal
 * (`refused`: other terms under a used id, a venue not served here), or the event that accepts it
 * (or rejects it, when `reject` says why: the event is journaled like any order).
 */
export const submit = (
  book: SimBook,
  settings: SimSettings,
  request: OrderRequest,
  now: number,
  reject?: string
): { readonly _tag: "existing"; readonly order: VenueOrder } | { readonly _tag: "refused"; readonly message: string } | {
  readonly _tag: "new"
  readonly event: SimEvent
} => {
  const existing = orderOf(book, request.venue, request.clientOrderId)
  if (existing !== undefined) {
    return sameTerms(existing, request)
      ? { _tag: "existing", order: existing }
      : { _tag: "refused", message: `client order id ${request.clientOrderId} was used on ${request.venue} for another order` }
  }
  const venue = settings.venues.find((v) => v.toLowerCase() === request.venue.toLowerCase())
  if (venue === undefined) return { _tag: "refused", message: `venue ${request.venue} is not served here (${settings.venues.join(", ")})` }
  const order: VenueOrder = {
    clientOrderId: request.clientOrderId,
    venueOrderId: `v${book.nextOrderNumber}`,
    venue,
    symbol: request.symbol,
    side: request.side,
    quantity: request.quantity,
    limitPrice: request.limitPrice,
    filledQuantity: 0,
    averageFillPrice: null,
    feesUsd: 0,
    status: reject === undefined ? "open" : "rejected",
    reason: reject ?? null,
    createdAt: now,
    updatedAt: now
  }
  return { _tag: "new", event: { type: reject === undefined ? "accepted" : "rejected", order } }
}

/**
 * The events the book's clock brings at `now`: for each working order, oldest first, a fill of its
 * next slice when the quote reaches its limit, or its expiry when its time to live is over.
 */
export const match = (book: SimBook, settings: SimSettings, now: number): ReadonlyArray<SimEvent> => {
  const events: Array<SimEvent> = []
  let cursor = book.fills.length
  for (const order of book.orders.values()) {
    if (isTerminal(order.status)) continue
    if (now - order.createdAt >= settings.orderTtlMs) {
      events.push({ type: "expired", venue: order.venue, clientOrderId: order.clientOrderId, at: now })
      continue
    }
    const quote = quoteOf(settings, order.venue, order.symbol, now)
    if (quote === undefined) continue
    const price = order.side === "buy" ? quote.ask : quote.bid
    if (order.side === "buy" ? price > order.limitPrice : price < order.limitPrice) continue
    const remaining = order.quantity - order.filledQuantity
    const slice = Math.min(remaining, order.quantity / Math.max(1, settings.fillSlices))
    // The last slice takes what is left exactly (no dust from dividing).
    const quantity = remaining - slice < order.quantity * 1e-9 ? remaining : slice
    cursor++
    events.push({
      type: "fill",
      fill: {
        cursor,
        fillId: `f${cursor}`,
        clientOrderId: order.clientOrderId,
        venue: order.venue,
        symbol: order.symbol,
        side: order.side,
        quantity,
        price,
        feeUsd: (settings.feeBps / 10_000) * quantity * price,
        at: now
      }
    })
  }
  return events
}

/** The balances of a venue: net quantity per symbol from its fills and hand changes, and the cash its fills moved. */
export const balancesOf = (book: SimBook, venue: VenueName): VenueBalances => {
  const positions: Record<string, number> = {}
  let cashUsd = 0
  for (const fill of book.fills) {
    if (fill.venue.toLowerCase() !== venue.toLowerCase()) continue
    const sign = fill.side === "buy" ? 1 : -1
    positions[fill.symbol] = (positions[fill.symbol] ?? 0) + sign * fill.quantity
    cashUsd += -sign * fill.quantity * fill.price - fill.feeUsd
  }
  for (const [key, quantity] of book.adjustments) {
    const [v, symbol] = key.split("|") as [string, string]
    if (v === venue.toLowerCase()) positions[symbol] = (positions[symbol] ?? 0) + quantity
  }
  return { venue, positions: positions as VenueBalances["positions"], cashUsd }
}
