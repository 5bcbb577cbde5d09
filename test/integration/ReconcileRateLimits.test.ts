/**
 * Reconciliation under a venue's rate limit, against the simulator (its own
 * process): a request the venue refuses for the rate is asked again after
 * the wait it gives, so the plan is the one an unlimited venue gives (an
 * order refused for the rate is never taken for one the venue does not
 * have, which would send it again); a venue that goes on refusing makes the
 * plan fail with `RateLimited`, typed, and decides nothing.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Ref } from "effect"
import { randomInt } from "node:crypto"
import { EngineState } from "../../src/index.ts"
import { CampaignId, SessionId } from "../../src/domain/Ids.ts"
import * as Reconcile from "../../src/orders/Reconcile.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import * as HttpVenue from "../../src/venue/HttpVenue.ts"
import { Venue, type VenueError } from "../../src/venue/Venue.ts"
import { binance, entriesAtVenues, upbit } from "../support/PendingTrades.ts"
import { startSimulator } from "../support/VenueSimulator.ts"

const symbols = campaigns.aggressive!.symbols
const venues = [upbit, binance] as const

/** `HttpVenue` at `url`, counting the requests the venue refused for the rate into `refused`. */
const countingVenue = (url: string, refused: Ref.Ref<number>) =>
  Layer.effect(
    Venue,
    Effect.map(Venue, (venue) => {
      const counted = <A>(request: Effect.Effect<A, VenueError>) =>
        Effect.tapError(request, (error) => (error.reason._tag === "RateLimited" ? Ref.update(refused, (n) => n + 1) : Effect.void))
      return Venue.of({
        ...venue,
        fetch: (name, id) => counted(venue.fetch(name, id)),
        orders: (name, options) => counted(venue.orders(name, options)),
        balances: (name) => counted(venue.balances(name))
      })
    })
  ).pipe(Layer.provide(HttpVenue.layer({ url })))

describe("reconciliation under rate limits", () => {
  it.live("waits out the venue's limit and gives the plan an unlimited venue gives; a venue that never lets it through fails it with RateLimited", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulator(["--venues", "upbit,binance", "--seed", "3"])
      yield* sim.faults({ matching: false })
      const sessionId = SessionId.make(`sess_ratelimit${randomInt(1e9).toString(36)}`)
      const empty = EngineState.empty({
        sessionId,
        startTime: Date.now(),
        mode: "live",
        campaignId: CampaignId.make("live"),
        initialCapitalUsd: 10_000,
        symbols
      })
      const refused = yield* Ref.make(0)
      const venueLayer = countingVenue(sim.url, refused)
      const state = yield* entriesAtVenues(empty, 12, symbols).pipe(Effect.provide(venueLayer))
      const now = Date.now()
      const unlimited = yield* Reconcile.plan(state, venues, symbols, now).pipe(Effect.provide(venueLayer))
      assert.lengthOf(unlimited.intents, 24)
      assert.isTrue(unlimited.intents.every((i) => i.action === "none" && i.atVenue !== null), "every leg found as the state holds it")
      assert.isTrue(unlimited.agrees)
      assert.strictEqual(yield* Ref.get(refused), 0)

      // 28 requests at 6 a second: most of them are refused at first.
      yield* sim.faults({ rateLimitPerSecond: 6 })
      const limited = yield* Reconcile.plan(state, venues, symbols, now).pipe(Effect.provide(venueLayer))
      assert.isAbove(yield* Ref.get(refused), 0, "the venue refused requests for the rate")
      assert.deepStrictEqual(limited, unlimited)

      yield* sim.faults({ rateLimitPerSecond: 0 })
      const failure = yield* Effect.flip(Reconcile.plan(state, venues, symbols, now).pipe(Effect.provide(venueLayer)))
      assert.strictEqual(failure._tag, "VenueError")
      assert.strictEqual(failure.reason._tag, "RateLimited")
    }).pipe(Effect.scoped), 90_000)
})
