/**
 * A runner's own sections: stored with the state in their versioned form,
 * read back typed and upgraded, covered by the snapshot's checksum, verified
 * by their Schemas when declared and kept as they are when not.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Result, Schema } from "effect"
import * as CustomSection from "../../src/domain/CustomSection.ts"
import { SessionId } from "../../src/domain/Ids.ts"
import { olderVersion } from "../../src/domain/VersionedSection.ts"
import { decodeSnapshot, encodeSnapshot } from "../../src/domain/Snapshot.ts"
import { decodeEngineState, decodeEngineStateJson, encodeEngineState, encodeEngineStateJson } from "../../src/domain/StateCodec.ts"
import { bookCursor, cooldown, declared, indicators, stateWithSectionsArbitrary, valuesOf } from "../support/CustomSections.ts"
import { expectCodecFailure, expectSuccess, withoutNegativeZero } from "../support/Results.ts"
import { sampleStates } from "../support/States.ts"

const metadata = (state: { readonly session: { readonly sessionId: any } }) => ({
  sessionId: state.session.sessionId,
  snapshotType: "periodic" as const,
  sequence: 3,
  fencingToken: 2,
  createdAt: 1_700_000_000_000
})

describe("custom sections", () => {
  it.effect.prop(
    "a state with any declared sections round-trips through JSON text and a sealed snapshot, and each reads back as set",
    { sample: stateWithSectionsArbitrary({ maxOpenTrades: 3 }) },
    ({ sample: { state, values } }) =>
      Effect.sync(() => {
        const expected = withoutNegativeZero(state)
        const viaText = expectSuccess(decodeEngineStateJson(expectSuccess(encodeEngineStateJson(state))))
        assert.deepStrictEqual(viaText, expected)
        const opened = expectSuccess(decodeSnapshot(JSON.parse(JSON.stringify(expectSuccess(encodeSnapshot(metadata(state), state))))))
        assert.deepStrictEqual(opened.state, expected)
        assert.deepStrictEqual(valuesOf(viaText), withoutNegativeZero(values))
        // Verifying by the declarations changes nothing in a state written at the current versions.
        assert.deepStrictEqual(expectSuccess(CustomSection.verify(viaText, declared)), viaText)
      }),
    { arbitrary: { runs: 200 } }
  )

  it.effect("a section stored at an older version is read upgraded, and a restore's verify stores it upgraded", () =>
    Effect.gen(function*() {
      const [base] = yield* sampleStates(SessionId.make("sess_custom01"), { count: 1, seed: 1 })
      const old = { ...base!, custom: { indicators: { version: 1, ema: 101.5 } } }
      const state = expectSuccess(decodeEngineState(expectSuccess(encodeEngineState(old))))
      assert.deepStrictEqual(Option.getOrThrow(expectSuccess(CustomSection.get(state, indicators))), { emaFast: 101.5, emaSlow: 101.5, window: [] })
      const verified = expectSuccess(CustomSection.verify(state, declared))
      assert.deepStrictEqual(verified.custom, { indicators: { version: 2, emaFast: 101.5, emaSlow: 101.5, window: [] } })
    }))

  it.effect("the snapshot's checksum covers the custom sections: a changed byte there is a ChecksumMismatch", () =>
    Effect.gen(function*() {
      const [base] = yield* sampleStates(SessionId.make("sess_custom02"), { count: 1, seed: 2 })
      const state = expectSuccess(CustomSection.set(base!, cooldown, { until: 5, symbols: ["BTC/KRW"] }))
      const sealed = JSON.parse(JSON.stringify(expectSuccess(encodeSnapshot(metadata(state), state))))
      sealed.payload.custom.cooldown.until = 6
      assert.strictEqual(expectCodecFailure(decodeSnapshot(sealed)).reason._tag, "ChecksumMismatch")
      const dropped = JSON.parse(JSON.stringify(expectSuccess(encodeSnapshot(metadata(state), state))))
      delete dropped.payload.custom
      assert.strictEqual(expectCodecFailure(decodeSnapshot(dropped)).reason._tag, "ChecksumMismatch")
    }))

  it.effect("a declared section its Schema refuses, or of a version the code does not know, fails verify naming it", () =>
    Effect.gen(function*() {
      const [base] = yield* sampleStates(SessionId.make("sess_custom03"), { count: 1, seed: 3 })
      const broken = { ...base!, custom: { book_cursor: { version: 1, venue: "", sequence: -1, stale: "no", note: null } } }
      const stored = expectSuccess(decodeEngineState(expectSuccess(encodeEngineState(broken))))
      const refused = expectCodecFailure(CustomSection.verify(stored, declared))
      assert.strictEqual(refused.reason._tag, "InvalidValue")
      assert.include(refused.message, "custom.book_cursor.sequence")
      const future = { ...base!, custom: { indicators: { version: 3, emaFast: 1 } } }
      const unknown = expectCodecFailure(CustomSection.verify(expectSuccess(decodeEngineState(expectSuccess(encodeEngineState(future)))), declared))
      assert.strictEqual(unknown.reason._tag, "UnsupportedVersion")
      assert.include(unknown.message, "custom.indicators has version 3")
      // Undeclared, it is kept as it is: the core checks only that it is versioned JSON.
      assert.deepStrictEqual(expectSuccess(CustomSection.verify(stored, [indicators])), stored)
    }))

  it.effect("the core refuses what no section can be: a bad name, a section without a version, a non-object", () =>
    Effect.gen(function*() {
      const [base] = yield* sampleStates(SessionId.make("sess_custom04"), { count: 1, seed: 4 })
      const encoded = expectSuccess(encodeEngineState(base!)) as any
      for (const custom of [{ "bad:name": { version: 1 } }, { cursor: { sequence: 1 } }, { cursor: { version: 0 } }, { cursor: [1] }, []]) {
        const error = expectCodecFailure(decodeEngineState({ ...encoded, custom }))
        assert.strictEqual(error.reason._tag, "InvalidValue", JSON.stringify(custom))
        assert.include(error.message, "custom")
      }
      // Writing refuses them too, before a store sees them.
      assert.strictEqual(expectCodecFailure(encodeEngineState({ ...base!, custom: { cursor: { sequence: 1 } } as any })).reason._tag, "InvalidValue")
    }))

  it.effect("what no store can hold is refused with a typed error, never a stack overflow: deep nesting, lone surrogates", () =>
    Effect.gen(function*() {
      const [base] = yield* sampleStates(SessionId.make("sess_custom06"), { count: 1, seed: 6 })
      let deep: unknown = 1
      for (let i = 0; i < 5_000; i++) deep = { a: deep }
      // Stored so (a damaged key, or another writer): the core refuses it when it reads it.
      const encoded = expectSuccess(encodeEngineState(base!)) as any
      const read = expectCodecFailure(decodeEngineState({ ...encoded, custom: { deep: { version: 1, v: deep } } }))
      assert.include(read.message, "nests deeper than")
      // A snapshot holding it fails as a snapshot, before its checksum walks it.
      const sealed = JSON.parse(JSON.stringify(expectSuccess(encodeSnapshot(metadata(base!), base!))))
      sealed.payload.custom = { deep: { version: 1, v: deep } }
      assert.include(expectCodecFailure(decodeSnapshot(sealed)).message, "nests deeper than")
      // Written through set: refused before any store sees it.
      const anything = CustomSection.make({ name: "memo", schema: Schema.Struct({ v: Schema.Unknown }), currentVersion: 1 })
      assert.include(expectCodecFailure(CustomSection.set(base!, anything, { v: deep })).message, "nests deeper than 64 levels")
      for (const text of ["\ud800", "a\udc00b"]) {
        assert.include(expectCodecFailure(CustomSection.set(base!, anything, { v: text })).message, "lone surrogate")
        assert.include(expectCodecFailure(decodeEngineState({ ...encoded, custom: { memo: { version: 1, v: text } } })).message, "lone surrogate")
      }
      // Well-formed text outside the Basic Multilingual Plane is fine.
      expectSuccess(CustomSection.set(base!, anything, { v: "\ud83d\ude80 BTC/KRW" }))
    }))

  it.effect("a key called __proto__ inside a section is stored and hashed like any other key: changing it fails the checksum", () =>
    Effect.gen(function*() {
      const [base] = yield* sampleStates(SessionId.make("sess_custom08"), { count: 1, seed: 8 })
      const anything = CustomSection.make({ name: "limits", schema: Schema.Struct({ d: Schema.Unknown }), currentVersion: 1 })
      const state = expectSuccess(CustomSection.set(base!, anything, { d: JSON.parse("{\"__proto__\":{\"limit\":5},\"ok\":1}") }))
      const sealed = JSON.parse(JSON.stringify(expectSuccess(encodeSnapshot(metadata(state), state))))
      assert.deepStrictEqual(Object.keys(sealed.payload.custom.limits.d), ["__proto__", "ok"])
      expectSuccess(decodeSnapshot(JSON.parse(JSON.stringify(sealed))))
      const tampered = JSON.parse(JSON.stringify(sealed).replace("\"limit\":5", "\"limit\":500000"))
      assert.strictEqual(expectCodecFailure(decodeSnapshot(tampered)).reason._tag, "ChecksumMismatch")
    }))

  it.effect("a section named like a property every object inherits (constructor, toString) is read by its own key only", () =>
    Effect.gen(function*() {
      const [base] = yield* sampleStates(SessionId.make("sess_custom07"), { count: 1, seed: 7 })
      for (const name of ["constructor", "toString", "valueOf", "hasOwnProperty"]) {
        const section = CustomSection.make({ name, schema: Schema.Struct({ seq: Schema.Int }), currentVersion: 1 })
        assert.isTrue(Option.isNone(expectSuccess(CustomSection.get(base!, section))), name)
        assert.deepStrictEqual(expectSuccess(CustomSection.verify(base!, [section])), base, name)
        const state = expectSuccess(CustomSection.set(base!, section, { seq: 3 }))
        const back = expectSuccess(decodeEngineState(expectSuccess(encodeEngineState(state))))
        assert.deepStrictEqual(Option.getOrThrow(expectSuccess(CustomSection.get(back, section))), { seq: 3 }, name)
        assert.notProperty(CustomSection.remove(back, section), "custom")
      }
    }))

  it.effect("set refuses a value its Schema refuses (nothing changes); remove takes a section out; none at all is no custom", () =>
    Effect.gen(function*() {
      const [base] = yield* sampleStates(SessionId.make("sess_custom05"), { count: 1, seed: 5 })
      const refused = CustomSection.set(base!, bookCursor, { venue: "", sequence: 1, stale: false, note: null })
      assert.include(expectCodecFailure(refused).message, "custom.book_cursor.venue")
      // A NUL character no store can hold is refused by set, and by a write, never by the database.
      const memo = CustomSection.make({ name: "memo", schema: Schema.Struct({ text: Schema.String }), currentVersion: 1 })
      assert.include(expectCodecFailure(CustomSection.set(base!, memo, { text: "a\u0000b" })).message, "custom.memo")
      const written = expectCodecFailure(encodeEngineState({ ...base!, custom: { memo: { version: 1, text: "a\u0000b" } } }))
      assert.include(written.message, "NUL character")
      const state = expectSuccess(CustomSection.set(base!, cooldown, { until: 1, symbols: [] }))
      assert.deepStrictEqual(Object.keys(state.custom ?? {}), ["cooldown"])
      const removed = CustomSection.remove(state, cooldown)
      assert.notProperty(removed, "custom")
      assert.deepStrictEqual(expectSuccess(decodeEngineState(expectSuccess(encodeEngineState(removed)))), base)
      assert.isTrue(Option.isNone(expectSuccess(CustomSection.get(removed, cooldown))))
    }))

  it("a declaration that could not be stored as declared is refused at once; two of one name are refused by a session", () => {
    const struct = Schema.Struct({ seq: Schema.Int })
    assert.throws(() => CustomSection.make({ name: "Bad Name", schema: struct, currentVersion: 1 }), /its name is a lower-case letter/)
    assert.throws(() => CustomSection.make({ name: "book", schema: Schema.Struct({ version: Schema.Int }), currentVersion: 1 }), /a field called version/)
    assert.throws(() => CustomSection.make({ name: "prices", schema: Schema.Array(Schema.Int), currentVersion: 1 }), /must be a struct/)
    assert.throws(() => CustomSection.make({ name: "limits", schema: Schema.Record(Schema.String, Schema.Int), currentVersion: 1 }), /must be a struct/)
    for (const currentVersion of [0, 1.5]) {
      assert.throws(() => CustomSection.make({ name: "book", schema: struct, currentVersion }), /current version must be a positive integer/)
    }
    assert.throws(
      () => CustomSection.make({ name: "book", schema: struct, currentVersion: 2, olderVersions: [olderVersion(2, struct, (v) => v)] }),
      /older versions must be distinct positive integers below the current one/
    )
    assert.isTrue(Result.isFailure(CustomSection.checkDeclarations([indicators, cooldown, indicators])))
    assert.include(expectCodecFailure(CustomSection.checkDeclarations([indicators, indicators])).message, "indicators is declared more than once")
  })
})
