/**
 * The venue simulator as its own process, and what `HttpVenue` concludes from
 * each way it fails: an answer withheld after the order was made
 * (`OutcomeUnknown`, resolved by its client order id), a rate limit, an
 * outage, a process that is gone (`Unreachable`, nothing made), a rejection.
 * Its book survives its own SIGKILL, it goes on filling while no runner asks,
 * a position can be changed by hand, and its data folder refuses what it
 * cannot trust.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { FetchHttpClient } from "effect/http"
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { MarketSymbol, Venue as VenueName } from "../../src/domain/Ids.ts"
import * as HttpVenue from "../../src/venue/HttpVenue.ts"
import { ClientOrderId, type OrderRequest } from "../../src/venue/Venue.ts"
import { eventually } from "../contract/VenueContract.ts"
import { runCli } from "../support/Cli.ts"
import { startSimulator } from "../support/VenueSimulator.ts"

const upbit = VenueName.make("upbit")
const symbol = MarketSymbol.make("BTC-USDT")
const order = (suffix: string, limitPrice = 10_000_000): OrderRequest => ({
  clientOrderId: ClientOrderId.make(`simtest-${suffix}`),
  venue: upbit,
  symbol,
  side: "buy",
  quantity: 0.01,
  limitPrice
})

/** A `Venue` over `url` that gives up on an answer after half a second. */
const venueAt = (url: string) => HttpVenue.make({ url, timeout: "500 millis" }).pipe(Effect.provide(FetchHttpClient.layer))

describe("venue simulator", () => {
  it.live("an answer withheld after the order was made is OutcomeUnknown; the order is then found by its id, and sending it again makes no second one", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulator(["--tick-ms", "20"])
      const venue = yield* venueAt(sim.url)
      yield* sim.faults({ dropResponses: 1 })
      const lost = yield* Effect.flip(venue.submit(order("dropped")))
      assert.strictEqual(lost.reason._tag, "OutcomeUnknown")
      const found = Option.getOrThrow(yield* venue.fetch(upbit, order("dropped").clientOrderId))
      const again = yield* venue.submit(order("dropped"))
      assert.strictEqual(again.venueOrderId, found.venueOrderId)
      assert.lengthOf((yield* (yield* sim.admin).orders()).filter((o) => o.clientOrderId === order("dropped").clientOrderId), 1)
      // A cancel whose answer is lost is OutcomeUnknown too.
      yield* venue.submit(order("resting", 1))
      yield* sim.faults({ dropResponses: 1 })
      assert.strictEqual((yield* Effect.flip(venue.cancel(upbit, order("resting").clientOrderId))).reason._tag, "OutcomeUnknown")
      assert.strictEqual(Option.getOrThrow(yield* venue.fetch(upbit, order("resting").clientOrderId)).status, "cancelled")
    }).pipe(Effect.scoped), 60_000)

  it.live("a rate limit is RateLimited with the wait it asks for; an outage and a gone process are Unreachable, and nothing is made", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulator()
      const venue = yield* venueAt(sim.url)
      yield* sim.faults({ rateLimitPerSecond: 1 })
      const limited = yield* Effect.flip(Effect.all([venue.balances(upbit), venue.balances(upbit), venue.balances(upbit)]))
      assert.strictEqual(limited.reason._tag, "RateLimited")
      if (limited.reason._tag === "RateLimited") assert.isTrue(limited.reason.retryAfterMs > 0 && limited.reason.retryAfterMs <= 1000)
      yield* sim.faults({ rateLimitPerSecond: null, down: true })
      assert.strictEqual((yield* Effect.flip(venue.submit(order("down")))).reason._tag, "Unreachable")
      yield* sim.faults({ down: false })
      assert.isTrue(Option.isNone(yield* venue.fetch(upbit, order("down").clientOrderId)), "an outage made nothing")
      yield* sim.stop()
      assert.strictEqual((yield* Effect.flip(venue.submit(order("gone")))).reason._tag, "Unreachable")
      assert.strictEqual((yield* Effect.flip(venue.balances(upbit))).reason._tag, "Unreachable")
    }).pipe(Effect.scoped), 60_000)

  it.live("a rejected order is Rejected, stays rejected for its id, and is listed", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulator()
      const venue = yield* venueAt(sim.url)
      yield* sim.faults({ rejectNext: 1 })
      assert.strictEqual((yield* Effect.flip(venue.submit(order("rejected")))).reason._tag, "Rejected")
      assert.strictEqual((yield* Effect.flip(venue.submit(order("rejected")))).reason._tag, "Rejected", "the same id is the same order")
      assert.strictEqual(Option.getOrThrow(yield* venue.fetch(upbit, order("rejected").clientOrderId)).status, "rejected")
      const refused = yield* Effect.flip(venue.submit({ ...order("elsewhere"), venue: VenueName.make("kraken") }))
      assert.strictEqual(refused.reason._tag, "Rejected")
    }).pipe(Effect.scoped), 60_000)

  it.live("its book survives a SIGKILL: a working order is there after the restart, and fills then; it fills while nobody asks", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulator(["--tick-ms", "20"])
      const venue = yield* venueAt(sim.url)
      yield* sim.faults({ matching: false })
      const placed = yield* venue.submit(order("survives"))
      yield* sim.stop("SIGKILL")
      yield* sim.start
      const after = yield* venueAt(sim.url)
      const found = Option.getOrThrow(yield* after.fetch(upbit, placed.clientOrderId))
      // The same order (it may have begun to fill since: matching is on after a restart).
      const identity = (o: typeof placed) => [o.venueOrderId, o.createdAt, o.quantity, o.limitPrice, o.side, o.symbol]
      assert.deepStrictEqual(identity(found), identity(placed), "the restarted book holds the order")
      // Matching is on again after a restart (the switches are not part of the book); nobody asks, it fills.
      const filled = yield* eventually((yield* sim.admin).orders(), (all) => all.some((o) => o.clientOrderId === placed.clientOrderId && o.status === "filled"))
      assert.isDefined(filled)
      const positions = yield* (yield* sim.admin).positions()
      assert.closeTo(positions.find((b) => b.venue === "upbit")!.positions[symbol] ?? 0, 0.01, 1e-12)
    }).pipe(Effect.scoped), 60_000)

  it.live("a position changed by hand shows in the balances; the CLI lists orders and positions", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulator(["--tick-ms", "20"])
      const venue = yield* venueAt(sim.url)
      yield* (yield* sim.admin).adjust({ payload: { venue: upbit, symbol, quantity: -0.5 } })
      assert.closeTo((yield* venue.balances(upbit)).positions[symbol]!, -0.5, 1e-12)
      yield* venue.submit(order("listed"))
      yield* eventually(venue.fetch(upbit, order("listed").clientOrderId), (o) => Option.isSome(o) && o.value.status === "filled")
      const orders = runCli(["venue", "orders", "--url", sim.url, "--json"])
      assert.strictEqual(orders.status, 0, orders.stderr)
      assert.deepStrictEqual(JSON.parse(orders.stdout).orders.map((o: { clientOrderId: string; status: string }) => [o.clientOrderId, o.status]), [
        ["simtest-listed", "filled"]
      ])
      const positions = runCli(["venue", "positions", "--url", sim.url, "--json"])
      const upbitNow = JSON.parse(positions.stdout).venues.find((b: { venue: string }) => b.venue === "upbit")
      assert.closeTo(upbitNow.positions[symbol], -0.49, 1e-9)
      yield* sim.stop()
      const gone = runCli(["venue", "orders", "--url", sim.url])
      assert.strictEqual(gone.status, 4)
      assert.lengthOf(gone.stderr.trim().split("\n"), 1, gone.stderr)
    }).pipe(Effect.scoped), 60_000)

  it("its data folder: other settings are refused, and a damaged line before the last is refused", () => {
    const dir = mkdtempSync(join(tmpdir(), "venue-sim-data-"))
    try {
      writeFileSync(join(dir, "settings.json"), JSON.stringify({ venues: ["upbit", "binance"], seed: 9, tickMs: 100, feeBps: 2, fillSlices: 2, orderTtlMs: 30000 }))
      const other = runCli(["venue", "serve", "--port", "0", "--data", dir, "--seed", "1"])
      assert.strictEqual(other.status, 2)
      assert.include(other.stderr, "holds a simulator with other settings")
      rmSync(join(dir, "settings.json"))
      writeFileSync(join(dir, "journal.jsonl"), "{\"type\":\"fill\"\n{}\n")
      const damaged = runCli(["venue", "serve", "--port", "0", "--data", dir])
      assert.strictEqual(damaged.status, 2)
      assert.include(damaged.stderr, "journal.jsonl line 1 is damaged")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it.live("a last journal line cut short by a kill is dropped and cut off: the orders after it survive the next restart", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulator()
      const venue = yield* venueAt(sim.url)
      yield* venue.submit(order("kept", 1))
      yield* sim.stop("SIGKILL")
      appendFileSync(join(sim.dataDir, "journal.jsonl"), "{\"type\":\"accepted\",\"order\":{\"clientOrd")
      yield* sim.start
      const restarted = yield* venueAt(sim.url)
      assert.isTrue(Option.isSome(yield* restarted.fetch(upbit, order("kept").clientOrderId)))
      assert.strictEqual((yield* (yield* sim.admin).info()).orders, 1)
      // An order made after the restart is a journal line of its own, whole after the next restart.
      yield* restarted.submit(order("after", 1))
      yield* sim.stop("SIGKILL")
      yield* sim.start
      const again = yield* venueAt(sim.url)
      assert.isTrue(Option.isSome(yield* again.fetch(upbit, order("after").clientOrderId)))
      assert.strictEqual((yield* (yield* sim.admin).info()).orders, 2)
    }).pipe(Effect.scoped), 60_000)

  it.live("one simulator at a time serves a data folder: a second one on it is refused, naming the holder", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulator()
      const second = runCli(["venue", "serve", "--port", "0", "--data", sim.dataDir])
      assert.strictEqual(second.status, 2, second.stderr)
      assert.include(second.stderr, `the venue simulator's data folder in ${sim.dataDir} is in use by process`)
      assert.lengthOf(second.stderr.trim().split("\n"), 1, second.stderr)
      // The first still serves its book.
      const venue = yield* venueAt(sim.url)
      yield* venue.submit(order("first", 1))
      assert.strictEqual((yield* (yield* sim.admin).info()).orders, 1)
    }).pipe(Effect.scoped), 60_000)

  it.live("a venue URL with credentials (an adapter behind HTTP Basic auth) works: they go in a header, not in the URL fetch refuses", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulator()
      const withCredentials = sim.url.replace("http://", "http://trader:s3cr%40t@")
      const venue = yield* venueAt(withCredentials)
      yield* venue.submit(order("authorized", 1))
      assert.isTrue(Option.isSome(yield* venue.fetch(upbit, order("authorized").clientOrderId)))
    }).pipe(Effect.scoped), 60_000)

  it.live("a Venue over a simulator that does not answer cannot be built: Unreachable", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulator()
      yield* sim.stop()
      const failure = yield* Effect.flip(venueAt(sim.url))
      assert.strictEqual(failure.reason._tag, "Unreachable")
    }).pipe(Effect.scoped), 60_000)
})
