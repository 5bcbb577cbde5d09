/**
 * The canonical JSON of a checksum is written in one pass; what it writes is
 * what it always meant: `JSON.stringify` of the value with its object keys
 * sorted at every depth (the sorted copy below is that definition, kept as
 * the reference).
 */
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { canonicalJson, checksumOf } from "../../src/domain/Checksum.ts"

const sortedCopy = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(sortedCopy)
  if (value !== null && typeof value === "object") {
    const sorted: Record<string, unknown> = {}
    for (const key of Object.keys(value).sort()) {
      Object.defineProperty(sorted, key, { value: sortedCopy((value as Record<string, unknown>)[key]), enumerable: true, writable: true, configurable: true })
    }
    return sorted
  }
  return value
}
const reference = (value: unknown): string => JSON.stringify(sortedCopy(value))

describe("canonicalJson", () => {
  it.prop("is JSON.stringify of the value with its keys sorted at every depth", { value: Schema.Json }, ({ value }) => {
    assert.strictEqual(canonicalJson(value), reference(value))
  })

  it.prop("does not depend on the order keys were written in", { value: Schema.Json }, ({ value }) => {
    const reversed = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(reversed)
        : v !== null && typeof v === "object"
        ? Object.fromEntries(Object.entries(v).reverse().map(([k, item]) => [k, reversed(item)]))
        : v
    assert.strictEqual(checksumOf(reversed(value)), checksumOf(value))
  })

  it("writes what JSON leaves out or cannot hold as JSON.stringify does", () => {
    const awkward = JSON.parse('{"__proto__":{"b":1,"a":2},"z":[1,null,-0,1e21,"\\u2028\\"q"]}')
    const withGaps = { b: undefined, a: [undefined, () => 1, Number.NaN, Number.POSITIVE_INFINITY], c: new Date(0) }
    for (const value of [awkward, withGaps, "text", 3.25, true, null]) assert.strictEqual(canonicalJson(value), reference(value))
    assert.include(canonicalJson(awkward), '"__proto__":{"a":2,"b":1}')
    // Array-index keys are listed first by any object, so the digests stored so far were taken that way.
    assert.strictEqual(canonicalJson({ b: 1, "": 2, "10": 3, "9": 4, "01": 5 }), '{"9":4,"10":3,"":2,"01":5,"b":1}')
    assert.strictEqual(canonicalJson(undefined), JSON.stringify(undefined))
    assert.throws(() => canonicalJson({ big: 1n }))
  })
})
