/**
 * What a session trades, decided once for `run`, `resume-all` and the
 * examples: a resumed session's own campaign and market, which a request may
 * not contradict; a new one's from the request; a clock that stays within
 * what a state can hold.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { SessionId, Venue } from "../../src/domain/Ids.ts"
import { newSessionState, runLoop, simulatedStart } from "../../src/runner/ArbitrageStrategy.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import { planFor } from "../../src/runner/TradingPlan.ts"

const sessionId = SessionId.make("sess_plan00001")
const recorded = newSessionState({ sessionId, campaign: campaigns.aggressive!, startTime: simulatedStart, market: { seed: 7, tickMs: 500 } })
const unrecorded = newSessionState({ sessionId, campaign: campaigns.aggressive!, startTime: simulatedStart })
const refusal = (effect: ReturnType<typeof planFor>) => Effect.map(Effect.flip(effect), (error) => error.message)

/** `state` run (on its recorded market) until it holds an open trade. */
const runUntilOpen = (state: typeof recorded) => {
  let current = state
  while (Object.keys(current.positions.activeTrades).length === 0) current = runLoop(current, campaigns.aggressive!, current.session.market!).state
  return current
}

describe("TradingPlan.planFor", () => {
  it.effect("a resumed session trades what it recorded; a request that contradicts it is refused", () =>
    Effect.gen(function*() {
      const plan = yield* planFor(recorded, false, { targetLoops: 100 })
      assert.deepStrictEqual([plan.campaign.id, plan.market], ["aggressive", { seed: 7, tickMs: 500 }])
      assert.include(yield* refusal(planFor(recorded, false, { seed: 8, targetLoops: 100 })), "trades seed 7 with a 500 ms tick")
      assert.include(yield* refusal(planFor(recorded, false, { tickMs: 1000, targetLoops: 100 })), "trades seed 7")
      assert.include(yield* refusal(planFor(recorded, false, { campaign: "cautious", targetLoops: 100 })), "trades campaign aggressive, not cautious")
    }))

  it.effect("venues: a resumed session trades between the venues it recorded (A and B when none); others asked for are refused", () =>
    Effect.gen(function*() {
      const venues = [Venue.make("upbit"), Venue.make("binance")] as const
      const named = newSessionState({ sessionId, campaign: campaigns.aggressive!, startTime: simulatedStart, market: { seed: 7, tickMs: 500, venues } })
      assert.deepStrictEqual((yield* planFor(named, false, { venues, targetLoops: 100 })).market.venues, venues)
      assert.include(
        yield* refusal(planFor(named, false, { venues: [Venue.make("binance"), Venue.make("upbit")], targetLoops: 100 })),
        "trades between upbit and binance; --venues says otherwise"
      )
      assert.include(yield* refusal(planFor(recorded, false, { venues, targetLoops: 100 })), "trades between A and B")
      // Open trades on venues the market does not name cannot be priced: refused, never guessed.
      const [trade] = Object.values(runUntilOpen(recorded).positions.activeTrades)
      assert.isDefined(trade)
      const onA = runUntilOpen(recorded)
      assert.include(yield* refusal(planFor({ ...onA, session: { ...onA.session, market: { seed: 7, tickMs: 500, venues } } }, false, { targetLoops: 100_000 })), "has open trades on")
      // A new session trades the venues it is given.
      const fresh = yield* planFor(unrecorded, true, { marketForNew: { seed: 1, tickMs: 1000, venues }, venues, targetLoops: 100 })
      assert.deepStrictEqual(fresh.market, { seed: 1, tickMs: 1000, venues })
    }))

  it.effect("a new session trades the market asked for it; one that never recorded a market needs --seed, never a chosen one", () =>
    Effect.gen(function*() {
      const fresh = yield* planFor(unrecorded, true, { marketForNew: { seed: 123456, tickMs: 1000 }, targetLoops: 10 })
      assert.deepStrictEqual(fresh.market, { seed: 123456, tickMs: 1000 })
      assert.include(
        yield* refusal(planFor(unrecorded, false, { marketForNew: { seed: 123456, tickMs: 1000 }, targetLoops: 10 })),
        "did not record its market"
      )
      const given = yield* planFor(unrecorded, false, { seed: 9, tickMs: 250, targetLoops: 10 })
      assert.deepStrictEqual(given.market, { seed: 9, tickMs: 250 })
    }))

  it.effect("a live session is never traded by the paper runner, whatever market is given for it", () =>
    Effect.gen(function*() {
      const live = { ...unrecorded, session: { ...unrecorded.session, mode: "live" as const } }
      for (const request of [{ targetLoops: 100 }, { targetLoops: 100, seed: 7 }, { targetLoops: 100, seed: 7, tickMs: 500 }]) {
        assert.include(yield* refusal(planFor(live, false, request)), "is a live session: it trades only through its venues (run --venue-url URL)")
      }
      const plan = yield* planFor(recorded, false, { targetLoops: 100 })
      assert.strictEqual(plan.market.seed, 7, "a paper session still trades")
    }))

  it.effect("a clock the loops asked for would take past 9999 is refused, naming how many loops fit", () =>
    Effect.gen(function*() {
      const slow = newSessionState({ sessionId, campaign: campaigns.balanced!, startTime: simulatedStart, market: { seed: 1, tickMs: 1e12 } })
      assert.include(yield* refusal(planFor(slow, false, { targetLoops: 300 })), "at most 251 loops fit")
      assert.strictEqual((yield* planFor(slow, false, { targetLoops: 251 })).market.tickMs, 1e12)
    }))
})
