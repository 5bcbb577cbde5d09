/**
 * Incremental live writes on the real Redis: what a loop writes, measured in
 * payload bytes (a count, not a time).
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
import type { EngineState } from "../../src/domain/EngineState.ts"
import { SessionId } from "../../src/domain/Ids.ts"
import { LiveStateStore } from "../../src/store/LiveStateStore.ts"
import { redisLive } from "../support/Backings.ts"
import { withoutNegativeZero } from "../support/Results.ts"
import { uniqueEnv } from "../support/Services.ts"
import { sampleStates } from "../support/States.ts"

const env = uniqueEnv("incremental")

/** The bytes one save of `state` writes. */
const bytesOf = (state: EngineState) =>
  Effect.gen(function*() {
    const store = yield* LiveStateStore
    const before = yield* store.bytesWritten
    yield* store.save(state)
    return (yield* store.bytesWritten) - before
  })

layer(redisLive.layer(env))("incremental live writes on redis", (it) => {
  it.effect("a loop that changes no trade writes less than 10% of a full state of 10 open trades", () =>
    Effect.gen(function*() {
      const sessionId = SessionId.make("sess_bytes0001")
      const [state] = yield* sampleStates(sessionId, { count: 1, seed: 91, minOpenTrades: 10, maxOpenTrades: 10 })
      assert.lengthOf(Object.keys(state!.positions.activeTrades), 10)
      const full = yield* bytesOf(state!)
      const nextLoop = { ...state!, session: { ...state!.session, loopCount: state!.session.loopCount + 1 } }
      const quiet = yield* bytesOf(nextLoop)
      assert.isAbove(full, 0)
      assert.isBelow(quiet, full * 0.1, `quiet loop ${quiet} bytes vs full ${full}`)
      assert.deepStrictEqual(Option.getOrThrow(yield* (yield* LiveStateStore).load(sessionId)).state, withoutNegativeZero(nextLoop))
    }))

  it.effect("a loop that changes one trade writes that trade, not the other nine", () =>
    Effect.gen(function*() {
      const sessionId = SessionId.make("sess_bytes0002")
      const [state] = yield* sampleStates(sessionId, { count: 1, seed: 92, minOpenTrades: 10, maxOpenTrades: 10 })
      const full = yield* bytesOf(state!)
      const [id, trade] = Object.entries(state!.positions.activeTrades)[0]!
      const changed: EngineState = {
        ...state!,
        positions: {
          ...state!.positions,
          activeTrades: { ...state!.positions.activeTrades, [id]: { ...trade, buyLeg: { ...trade.buyLeg, updatedAt: trade.buyLeg.updatedAt + 1 } } }
        }
      }
      const one = yield* bytesOf(changed)
      assert.isBelow(one, full * 0.2, `one changed trade wrote ${one} bytes vs full ${full}`)
      assert.deepStrictEqual(Option.getOrThrow(yield* (yield* LiveStateStore).load(sessionId)).state, withoutNegativeZero(changed))
    }))
})
