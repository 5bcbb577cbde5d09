import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Effect, Result } from "effect"
import { sectionNames } from "../../src/domain/EngineState.ts"
import { MetricsStateV1 } from "../../src/domain/MetricsState.ts"
import {
  decodeEngineState,
  decodeEngineStateJson,
  decodeSectionJson,
  encodeEngineState,
  encodeEngineStateJson,
  encodeSectionJson,
  sectionCodecs
} from "../../src/domain/StateCodec.ts"
import { engineStateArbitrary } from "../support/StateArbitrary.ts"
import { expectCodecFailure, expectSuccess, withoutNegativeZero } from "../support/Results.ts"

describe("StateCodec", () => {
  it.effect.prop("decode(encode(state)) == state through JSON text", { state: engineStateArbitrary() }, ({ state }) =>
    Effect.sync(() => {
      const text = expectSuccess(encodeEngineStateJson(state))
      assert.deepStrictEqual(expectSuccess(decodeEngineStateJson(text)), withoutNegativeZero(state))
    }), { arbitrary: { runs: 200 } })

  it.effect.prop(
    "decode(encode(state)) == state through a JSON value with reordered keys (as JSONB returns it)",
    { state: engineStateArbitrary() },
    ({ state }) =>
      Effect.sync(() => {
        const encoded = expectSuccess(encodeEngineState(state))
        assert.deepStrictEqual(expectSuccess(decodeEngineState(reverseKeys(encoded))), state)
      }),
    { arbitrary: { runs: 200 } }
  )

  it.effect.prop("every section round-trips on its own (a Redis value each)", { state: engineStateArbitrary() }, ({ state }) =>
    Effect.sync(() => {
      for (const name of sectionNames) {
        const text = expectSuccess(encodeSectionJson(name, state[name]))
        assert.deepStrictEqual(expectSuccess(decodeSectionJson(name, text)), withoutNegativeZero(state[name]))
        assert.strictEqual(JSON.parse(text).version, sectionCodecs[name].currentVersion)
      }
    }), { arbitrary: { runs: 200 } })

  it.effect.prop("states with many open trades round-trip", { state: engineStateArbitrary({ minOpenTrades: 40, maxOpenTrades: 80 }) }, ({ state }) =>
    Effect.sync(() => {
      assert.isAtLeast(Object.keys(state.positions.activeTrades).length, 1)
      assert.deepStrictEqual(
        expectSuccess(decodeEngineStateJson(expectSuccess(encodeEngineStateJson(state)))),
        withoutNegativeZero(state)
      )
    }), { arbitrary: { runs: 20 } })

  it.effect.prop(
    "a v1 metrics value decodes exactly when its derived initial capital (equity - PnL) is positive, keeping every v1 field",
    { v1: MetricsStateV1 },
    ({ v1 }) =>
      Effect.sync(() => {
        const result = sectionCodecs.metrics.decode({ version: 1, ...v1 })
        const derived = v1.portfolioEquityUsd - v1.totalPnlUsd
        if (derived > 0 && Number.isFinite(derived)) {
          const current = expectSuccess(result)
          assert.deepStrictEqual(current, { ...v1, initialCapitalUsd: derived })
        } else {
          assert.include(expectCodecFailure(result).message, "metrics.initialCapitalUsd")
        }
      }),
    { arbitrary: { runs: 300 } }
  )

  it.effect.prop("every v1 metrics value a session wrote migrates to a valid current value", { state: engineStateArbitrary() }, ({ state }) =>
    Effect.sync(() => {
      const { initialCapitalUsd, ...v1 } = state.metrics
      const migrated = expectSuccess(sectionCodecs.metrics.decode({ version: 1, ...v1 }))
      assert.deepStrictEqual({ ...migrated, initialCapitalUsd }, { ...v1, initialCapitalUsd })
      assert.closeTo(migrated.initialCapitalUsd, initialCapitalUsd, 1e-6 * Math.max(1, Math.abs(initialCapitalUsd)))
      assert.isTrue(Result.isSuccess(sectionCodecs.metrics.encode(migrated)))
    }), { arbitrary: { runs: 200 } })

  it.effect("generated states are varied (the generator is not stuck on trivial values)", () =>
    Effect.gen(function*() {
      const states = yield* Arbitrary.sampleEffect(engineStateArbitrary(), { count: 50, seed: 7 })
      const openCounts = new Set(states.map((s) => Object.keys(s.positions.activeTrades).length))
      assert.isAtLeast(openCounts.size, 3)
      assert.isTrue(states.some((s) => s.metrics.tradesClosed > 0))
    }))
})

const reverseKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(reverseKeys)
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reverseKeys(v)]))
  }
  return value
}
