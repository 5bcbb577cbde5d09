/**
 * The contract every `Venue` adapter must pass (the simulator's `HttpVenue`
 * does; a user's adapter for a real exchange runs the same suite against a
 * sandbox of that exchange):
 *
 * - a submit makes one order, whatever number of times it is sent with the
 *   same client order id; the same id with other terms is `Rejected`;
 * - an order is found by its client order id, an id never sent is `None`;
 * - a marketable order fills (possibly in parts), its fills add up to its
 *   filled quantity at its average price, and the balances follow the fills;
 * - fills are paged by cursor, none given twice;
 * - a cancel stops what is left, a second cancel answers the same, and an id
 *   never sent cannot be cancelled;
 * - the orders of a prefix are only those of the prefix.
 *
 * The adapter is given with the name of two venues it reaches, a symbol both
 * quote, and a prefix of client order ids of the suite's own.
 */
import { assert, layer } from "@effect/vitest"
import { Duration, Effect, type Layer, Option } from "effect"
import type { MarketSymbol, Venue as VenueName } from "../../src/domain/Ids.ts"
import { ClientOrderId, isTerminal, Venue, type VenueOrder } from "../../src/venue/Venue.ts"

/** What the suite runs against. */
export interface VenueUnderTest {
  readonly name: string
  readonly layer: Layer.Layer<Venue, unknown>
  readonly venues: readonly [VenueName, VenueName]
  readonly symbol: MarketSymbol
  /** Client order ids of this run start with it (so that reruns never collide). */
  readonly prefix: string
}

/** Polls `read` until `done` holds, for at most `seconds` (a venue fills on its own clock). */
export const eventually = <A, E, R>(read: Effect.Effect<A, E, R>, done: (a: A) => boolean, seconds = 15) =>
  Effect.gen(function*() {
    const deadline = Date.now() + seconds * 1000
    while (true) {
      const value = yield* read
      if (done(value)) return value
      if (Date.now() > deadline) return yield* Effect.die(new Error(`not within ${seconds} s: ${JSON.stringify(value)}`))
      yield* Effect.sleep(Duration.millis(25))
    }
  })

/** Registers the contract for `adapter`. */
export const venueContract = (adapter: VenueUnderTest) => {
  const [first, second] = adapter.venues
  const id = (suffix: string) => ClientOrderId.make(`${adapter.prefix}-${suffix}`)
  const marketable = (suffix: string, side: "buy" | "sell", quantity = 0.02) =>
    Effect.flatMap(Venue, (venue) =>
      Effect.map(venue.quote(first, adapter.symbol), (quote) => ({
        clientOrderId: id(suffix),
        venue: first,
        symbol: adapter.symbol,
        side,
        quantity,
        // Far through the market: it fills at the quote, whatever the quote does meanwhile.
        limitPrice: side === "buy" ? quote.ask * 1.05 : quote.bid * 0.95
      })))
  const fetched = (suffix: string) => Effect.flatMap(Venue, (venue) => Effect.map(venue.fetch(first, id(suffix)), Option.getOrThrow))
  // Until none of the suite's orders is working: an order an earlier test left filling would move
  // the balances a test reads (it did: a part of one filled between a test's two reads).
  const settled = Effect.flatMap(Venue, (venue) => eventually(venue.orders(first, { prefix: adapter.prefix }), (working) => working.length === 0))

  // The real clock: a venue fills on its own time.
  layer(adapter.layer, { timeout: "90 seconds", excludeTestServices: true })(`Venue contract on ${adapter.name}`, (it) => {
    it.effect("reaches the venues it says, and quotes them", () =>
      Effect.gen(function*() {
        const venue = yield* Venue
        for (const name of adapter.venues) assert.isTrue(venue.venues.some((v) => v.toLowerCase() === name.toLowerCase()), name)
        const quote = yield* venue.quote(second, adapter.symbol)
        assert.isBelow(quote.bid, quote.ask)
      }))

    it.effect("the same client order id sent three times makes one order; with other terms it is Rejected", () =>
      Effect.gen(function*() {
        const venue = yield* Venue
        const request = yield* marketable("once", "buy")
        const answers = [yield* venue.submit(request), yield* venue.submit(request), yield* venue.submit(request)]
        assert.deepStrictEqual(new Set(answers.map((o) => o.venueOrderId)).size, 1)
        const all = yield* venue.orders(first, { prefix: id("once"), all: true })
        assert.lengthOf(all, 1)
        const other = yield* Effect.flip(venue.submit({ ...request, quantity: request.quantity * 2 }))
        assert.strictEqual(other.reason._tag, "Rejected")
        assert.lengthOf(yield* venue.orders(first, { prefix: id("once"), all: true }), 1)
        yield* eventually(fetched("once"), (o) => isTerminal(o.status))
      }))

    it.effect("an id never sent is None, and cannot be cancelled", () =>
      Effect.gen(function*() {
        const venue = yield* Venue
        assert.isTrue(Option.isNone(yield* venue.fetch(first, id("never"))))
        const refused = yield* Effect.flip(venue.cancel(first, id("never")))
        assert.strictEqual(refused.reason._tag, "Rejected")
      }))

    it.effect("a marketable order fills; its fills add up to it, and the balances move by them", () =>
      Effect.gen(function*() {
        const venue = yield* Venue
        yield* settled
        const before = yield* venue.balances(first)
        const start = (yield* venue.fillsSince(first, 0)).cursor
        const request = yield* marketable("fills", "buy")
        yield* venue.submit(request)
        const order = yield* eventually(fetched("fills"), (o) => o.status === "filled")
        assert.closeTo(order.filledQuantity, request.quantity, 1e-12)
        const fills = (yield* venue.fillsSince(first, start, 10_000)).fills.filter((f) => f.clientOrderId === request.clientOrderId)
        assert.isAtLeast(fills.length, 1)
        assert.closeTo(fills.reduce((sum, f) => sum + f.quantity, 0), order.filledQuantity, 1e-12)
        const notional = fills.reduce((sum, f) => sum + f.quantity * f.price, 0)
        assert.closeTo(order.averageFillPrice!, notional / order.filledQuantity, 1e-6)
        assert.closeTo(order.feesUsd, fills.reduce((sum, f) => sum + f.feeUsd, 0), 1e-9)
        for (const fill of fills) assert.isAtMost(fill.price, request.limitPrice)
        const after = yield* venue.balances(first)
        const moved = (after.positions[adapter.symbol] ?? 0) - (before.positions[adapter.symbol] ?? 0)
        assert.closeTo(moved, request.quantity, 1e-9)
        assert.closeTo(after.cashUsd - before.cashUsd, -notional - order.feesUsd, 1e-6)
      }))

    it.effect("fills are paged by cursor, each given once, oldest first", () =>
      Effect.gen(function*() {
        const venue = yield* Venue
        const start = (yield* venue.fillsSince(first, 0)).cursor
        for (const n of [1, 2, 3]) yield* venue.submit(yield* marketable(`page${n}`, n % 2 === 0 ? "sell" : "buy", 0.01))
        for (const n of [1, 2, 3]) yield* eventually(fetched(`page${n}`), (o) => o.status === "filled")
        const seen: Array<string> = []
        let cursor = start
        while (true) {
          const page = yield* venue.fillsSince(first, cursor, 2)
          if (page.fills.length === 0) break
          assert.isAbove(page.cursor, cursor)
          seen.push(...page.fills.map((f) => f.fillId))
          cursor = page.cursor
        }
        assert.strictEqual(new Set(seen).size, seen.length, "a fill given twice")
        const ours = (yield* venue.fillsSince(first, start, 10_000)).fills.filter((f) => f.clientOrderId.startsWith(id("page")))
        assert.includeMembers(seen, ours.map((f) => f.fillId))
      }))

    it.effect("a cancel stops what is left of a working order; a second cancel answers the same", () =>
      Effect.gen(function*() {
        const venue = yield* Venue
        const quote = yield* venue.quote(first, adapter.symbol)
        // Far from the market: it rests.
        const request = { clientOrderId: id("rest"), venue: first, symbol: adapter.symbol, side: "buy" as const, quantity: 0.02, limitPrice: quote.bid * 0.5 }
        const placed = yield* venue.submit(request)
        assert.isFalse(isTerminal(placed.status))
        const working = yield* venue.orders(first, { prefix: id("rest") })
        assert.deepStrictEqual(working.map((o: VenueOrder) => o.clientOrderId), [request.clientOrderId])
        const cancelled = yield* venue.cancel(first, request.clientOrderId)
        assert.strictEqual(cancelled.status, "cancelled")
        assert.strictEqual(cancelled.filledQuantity, 0)
        assert.deepStrictEqual(yield* venue.cancel(first, request.clientOrderId), cancelled)
        assert.lengthOf(yield* venue.orders(first, { prefix: id("rest") }), 0)
        assert.lengthOf(yield* venue.orders(first, { prefix: id("rest"), all: true }), 1)
      }))

    it.effect("the orders of a prefix are only those of the prefix", () =>
      Effect.gen(function*() {
        const venue = yield* Venue
        yield* venue.submit(yield* marketable("mine-a", "buy", 0.01))
        const other = ClientOrderId.make(`x${adapter.prefix}-theirs`)
        yield* venue.submit({ ...(yield* marketable("ignored", "buy", 0.01)), clientOrderId: other })
        const mine = yield* venue.orders(first, { prefix: `${adapter.prefix}-mine`, all: true })
        assert.deepStrictEqual(mine.map((o) => o.clientOrderId), [id("mine-a")])
      }))
  })
}
