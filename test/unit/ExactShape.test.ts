/**
 * The compiled exact-shape copy stands in for the Schema on the hot paths,
 * so it must never answer where the Schema would refuse, and must answer
 * exactly what the Schema would: whenever it gives a copy, the Schema decodes
 * the value (strictly, as a read does) to the same JSON, key order included.
 * It must also answer for the values the runner really writes, or the fast
 * path would be dead weight.
 */
import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Effect, Result, Schema } from "effect"
import { ArbitrageTrade } from "../../src/domain/ArbitrageTrade.ts"
import { compileExactShape, type ExactShapeCopy, inlinedFilters } from "../../src/domain/internal/ExactShape.ts"
import { MetricsState } from "../../src/domain/MetricsState.ts"
import { Order } from "../../src/domain/Order.ts"
import { PositionsState } from "../../src/domain/PositionsState.ts"
import { RiskGuardState } from "../../src/domain/RiskGuardState.ts"
import { SessionState } from "../../src/domain/SessionState.ts"
import { objectsOf, pick, type Rng, seededRandom } from "../support/Damage.ts"
import { engineStateArbitrary } from "../support/StateArbitrary.ts"

const schemas = { session: SessionState, positions: PositionsState, metrics: MetricsState, riskGuard: RiskGuardState } as const

const compiled = (schema: Schema.Top): ExactShapeCopy => {
  const copy = compileExactShape(schema)
  assert.isDefined(copy, "every section of the state compiles")
  return copy!
}

/** The same JSON text: equal values with their keys in the same order. */
const sameJson = (actual: unknown, expected: unknown, message: string) =>
  assert.strictEqual(JSON.stringify(actual), JSON.stringify(expected), message)

/** `value` with the keys of every object reversed: the same value, built in another order. */
/** `value` with every object's keys in reverse order (an array keeps its order: it is its meaning). */
const reordered = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(reordered)
    : value !== null && typeof value === "object"
    ? Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reordered(v)]))
    : value

class Boxed {
  readonly value: number
  constructor(value: number) {
    this.value = value
  }
}
/** Values a bug or a damaged store could leave in place of a field. */
const strangeValues: ReadonlyArray<() => unknown> = [
  () => null, () => undefined, () => "", () => "x", () => -1, () => 0, () => -0, () => 0.5, () => 1e308, () => NaN,
  () => Infinity, () => -Infinity, () => 2 ** 53 + 1, () => "12", () => true, () => [], () => ({}), () => [1],
  () => Object.create(null), () => new Boxed(1), () => new Date(0), () => "trd_other", () => "ord_x", () => "BTC-USD",
  () => "A", () => "B", () => "buy", () => "sell", () => "running", () => "filled", () => 1_700_000_000_000
]

/** One random damage to a copy of `value`: a field replaced, deleted, added, renamed, or its object re-prototyped. */
const damaged = (value: unknown, rng: Rng): unknown => {
  const copy = structuredClone(value)
  const objects = objectsOf(copy)
  const target = pick(rng, objects)
  const keys = Object.keys(target)
  const kind = keys.length === 0 ? "add" : pick(rng, ["replace", "replace", "replace", "delete", "add", "rename", "prototype", "swap"] as const)
  const key = keys.length === 0 ? "" : pick(rng, keys)
  switch (kind) {
    case "replace":
      target[key] = pick(rng, strangeValues)()
      break
    case "delete":
      delete target[key]
      break
    case "add":
      target[pick(rng, ["extra", "version", "trd_extra", "BTC-USD", "__proto__x"])] = pick(rng, strangeValues)()
      break
    case "rename":
      target[`${key}_`] = target[key]
      delete target[key]
      break
    case "prototype":
      Object.setPrototypeOf(target, pick(rng, [null, Boxed.prototype, Array.prototype]))
      break
    case "swap": {
      const other = pick(rng, keys)
      ;[target[key], target[other]] = [target[other], target[key]]
      break
    }
  }
  return copy
}

const strictDecoder = (schema: Schema.Top) => {
  const decode = Schema.decodeUnknownResult(schema as Schema.Codec<unknown, unknown>)
  return (value: unknown) => decode(value, { onExcessProperty: "error", errors: "first" })
}

describe("ExactShape", () => {
  it.effect("copies every valid section and trade exactly as the Schema encodes it, key order included, however it was built", () =>
    Effect.gen(function*() {
      const states = yield* Arbitrary.sampleEffect(engineStateArbitrary({ maxOpenTrades: 6 }), { count: 300, seed: 11 })
      const parts = [...Object.entries(schemas), ["trade", ArbitrageTrade]] as const
      for (const state of states) {
        for (const [part, schema] of parts) {
          const encode = Schema.encodeUnknownResult(schema as Schema.Codec<unknown, unknown>)
          const values = part === "trade" ? Object.values(state.positions.activeTrades) : [state[part as keyof typeof schemas]]
          for (const value of values) {
            for (const built of [value, reordered(value)]) {
              const copy = compiled(schema)(built)
              assert.isDefined(copy, `${part} is proven`)
              sameJson(copy!.value, Result.getOrThrow(encode(built)), `${part}: the Schema's own result`)
            }
            // A struct's fields come out in the Schema's order whatever order they were built in (a
            // record keeps its own order, as the Schema keeps it: positions and the risk guard hold records).
            if (part === "trade" || part === "session" || part === "metrics") {
              sameJson(compiled(schema)(reordered(value))!.value, compiled(schema)(value)!.value, `${part}: one order`)
            }
          }
        }
      }
    }))

  it.effect("never proves a value the Schema refuses, and never answers differently: 20,000 damaged sections", () =>
    Effect.gen(function*() {
      const states = yield* Arbitrary.sampleEffect(engineStateArbitrary({ minOpenTrades: 1, maxOpenTrades: 4 }), { count: 200, seed: 12 })
      const rng = seededRandom(12)
      const parts = [...Object.entries(schemas), ["trade", ArbitrageTrade], ["order", Order]] as const
      const tests = new Map(parts.map(([part, schema]) => [part, { exact: compiled(schema), decode: strictDecoder(schema) }]))
      let passed = 0
      let refused = 0
      for (let i = 0; i < 20_000; i++) {
        const state = states[i % states.length]!
        const [part] = pick(rng, parts)
        const trade = Object.values(state.positions.activeTrades)[0]!
        const original = part === "trade" ? trade : part === "order" ? trade.buyLeg : state[part as keyof typeof schemas]
        const value = damaged(original, rng)
        const { decode, exact } = tests.get(part)!
        const decoded = decode(value)
        const copy = exact(value)
        if (copy !== undefined) {
          passed++
          assert.isTrue(Result.isSuccess(decoded), `${part} was proven, so the Schema accepts it (case ${i})`)
          sameJson(copy.value, Result.getOrThrow(decoded), `and gives the same result (case ${i})`)
        } else if (Result.isFailure(decoded)) refused++
      }
      // Both answers occur: the damage reaches checks that pass as well as ones that fail.
      assert.isAbove(passed, 1_000)
      assert.isAbove(refused, 5_000)
    }))

  it("the Schema internals it relies on are those of the installed effect: each inlined filter's representation id and payload", () => {
    // If effect renames them, the fast path quietly gives way to the Schema's own filters (slower,
    // still correct); this says so at once.
    const samples: ReadonlyArray<readonly [keyof typeof inlinedFilters, Schema.Top]> = [
      ["effect/schema/isFinite", Schema.Finite],
      ["effect/schema/isInt", Schema.Int],
      ["effect/schema/isGreaterThan", Schema.Number.check(Schema.isGreaterThan(0))],
      ["effect/schema/isGreaterThanOrEqualTo", Schema.Number.check(Schema.isGreaterThanOrEqualTo(0))],
      ["effect/schema/isLessThanOrEqualTo", Schema.Number.check(Schema.isLessThanOrEqualTo(0))],
      ["effect/schema/isPattern", Schema.String.check(Schema.isPattern(/^a$/))]
    ]
    assert.deepStrictEqual(samples.map(([id]) => id).sort(), Object.keys(inlinedFilters).sort())
    for (const [id, schema] of samples) {
      const representations = (schema.ast.checks ?? []).flatMap((check) =>
        check._tag === "Filter" ? [check.annotations?.["representation"] as { id?: string; payload?: Record<string, unknown> } | undefined] : []
      )
      const found = representations.find((r) => r?.id === id)
      assert.isDefined(found, `no filter of ${id} in the installed effect`)
      for (const field of inlinedFilters[id].payload) assert.property(found!.payload ?? {}, field, `${id} has no payload.${field}`)
    }
  })

  it("a Schema with a node it does not compile (a transformation, an optional field) has no fast path", () => {
    assert.isUndefined(compileExactShape(Schema.Struct({ at: Schema.Date })))
    assert.isUndefined(compileExactShape(Schema.Struct({ note: Schema.optional(Schema.String) })))
    assert.isUndefined(compileExactShape(Schema.NumberFromString))
    assert.isDefined(compileExactShape(Schema.Struct({ n: Schema.Finite, tags: Schema.Record(Schema.String, Schema.Literals(["a", "b"])) })))
  })
})
