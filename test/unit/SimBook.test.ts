/**
 * The venue simulator's book without a server: an order fills in slices at
 * the quote when the quote reaches its limit, expires when its time to live
 * is over, a client order id makes one order, and replaying the journal of
 * events rebuilds the same book.
 */
import { assert, describe, it } from "@effect/vitest"
import { MarketSymbol, Venue } from "../../src/domain/Ids.ts"
import { ClientOrderId, type OrderRequest } from "../../src/venue/Venue.ts"
import { apply, balancesOf, emptyBook, match, orderOf, quoteOf, type SimEvent, type SimSettings, submit } from "../../src/venue-sim/SimBook.ts"

const upbit = Venue.make("upbit")
const settings: SimSettings = { venues: [upbit, Venue.make("binance")], seed: 3, tickMs: 10, feeBps: 2, fillSlices: 3, orderTtlMs: 1_000 }
const symbol = MarketSymbol.make("ETH-USDT")
const request = (id: string, limitPrice: number, side: "buy" | "sell" = "buy"): OrderRequest => ({
  clientOrderId: ClientOrderId.make(id),
  venue: upbit,
  symbol,
  side,
  quantity: 0.3,
  limitPrice
})

/** Runs the book's clock from `from` to `to`, every tick, keeping every event. */
const runClock = (book: ReturnType<typeof emptyBook>, from: number, to: number, log: Array<SimEvent>) => {
  for (let now = from; now <= to; now += settings.tickMs) {
    for (const event of match(book, settings, now)) {
      apply(book, event)
      log.push(event)
    }
  }
}

describe("SimBook", () => {
  it("a marketable order fills in slices at the quote of each tick; the fills add up to it, and the balances follow", () => {
    const book = emptyBook()
    const log: Array<SimEvent> = []
    const placed = submit(book, settings, request("o1", 1_000_000), 0)
    assert.strictEqual(placed._tag, "new")
    if (placed._tag !== "new") return
    apply(book, placed.event)
    log.push(placed.event)
    runClock(book, 10, 100, log)
    const order = orderOf(book, "upbit", "o1")!
    assert.strictEqual(order.status, "filled")
    assert.lengthOf(book.fills, settings.fillSlices)
    assert.closeTo(book.fills.reduce((sum, f) => sum + f.quantity, 0), 0.3, 1e-12)
    for (const fill of book.fills) assert.strictEqual(fill.price, quoteOf(settings, upbit, symbol, fill.at)!.ask)
    const balances = balancesOf(book, upbit)
    assert.closeTo(balances.positions[symbol]!, 0.3, 1e-12)
    assert.closeTo(balances.cashUsd, -book.fills.reduce((sum, f) => sum + f.quantity * f.price + f.feeUsd, 0), 1e-9)

    // The journal rebuilds the same book.
    const replayed = emptyBook()
    for (const event of log) apply(replayed, event)
    assert.deepStrictEqual([...replayed.orders.values()], [...book.orders.values()])
    assert.deepStrictEqual(replayed.fills, book.fills)
  })

  it("an order whose limit the quote never reaches rests, then expires after its time to live", () => {
    const book = emptyBook()
    const placed = submit(book, settings, request("o2", 1), 0)
    if (placed._tag === "new") apply(book, placed.event)
    runClock(book, 10, settings.orderTtlMs - 10, [])
    assert.strictEqual(orderOf(book, "upbit", "o2")!.status, "open")
    runClock(book, settings.orderTtlMs, settings.orderTtlMs, [])
    assert.strictEqual(orderOf(book, "upbit", "o2")!.status, "expired")
    assert.lengthOf(book.fills, 0)
  })

  it("one client order id makes one order: the same terms answer it, other terms are refused", () => {
    const book = emptyBook()
    const placed = submit(book, settings, request("o3", 1), 0)
    if (placed._tag === "new") apply(book, placed.event)
    assert.strictEqual(submit(book, settings, request("o3", 1), 5)._tag, "existing")
    assert.strictEqual(submit(book, settings, request("o3", 2), 5)._tag, "refused")
    assert.strictEqual(submit(book, settings, { ...request("o4", 1), venue: Venue.make("kraken") }, 5)._tag, "refused")
  })

  it("a position changed by hand moves the balances, nothing else", () => {
    const book = emptyBook()
    apply(book, { type: "adjusted", venue: upbit, symbol, quantity: 2, at: 0 })
    assert.deepStrictEqual(balancesOf(book, upbit), { venue: upbit, positions: { [symbol]: 2 } as never, cashUsd: 0 })
    assert.deepStrictEqual(balancesOf(book, Venue.make("binance")).positions, {})
  })
})
