/**
 * The PostgreSQL backing measures a section on write as the server measures
 * it on read (`octet_length(value::text)`), so that it never writes what a
 * restore then refuses: the computed length equals the server's, for
 * arbitrary JSON and for the numbers whose text form grows (1e300 is 301
 * digits in PostgreSQL).
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { jsonbTextBytes } from "../../src/store/internal/JsonbText.ts"
import { testPostgres } from "../support/Backings.ts"

/** JSON values of every kind, nested a few levels (numbers finite, strings any text PostgreSQL takes). */
const text = Schema.String.check(Schema.isPattern(/^[^\u0000]*$/), Schema.isMaxLength(12)).pipe(
  Schema.check(Schema.makeFilter((s) => s.isWellFormed()))
)
const leaf = Schema.Union([Schema.Null, Schema.Boolean, Schema.Finite, text])
const level1 = Schema.Union([leaf, Schema.Array(leaf).check(Schema.isMaxLength(4)), Schema.Record(text, leaf)])
const JsonValue = Schema.Union([level1, Schema.Array(level1).check(Schema.isMaxLength(4)), Schema.Record(text, level1)])

layer(testPostgres, { timeout: "60 seconds" })("jsonb text length", (it) => {
  const serverBytes = (value: unknown) =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      // A JSON null as a parameter is SQL's NULL: sent as text, it is JSON's.
      const [row] = yield* sql<{ bytes: number }>`SELECT octet_length(${JSON.stringify(value)}::jsonb::text) AS bytes`
      return Number(row!.bytes)
    })

  it.effect("numbers whose text grows, and the edges of the decimal form", () =>
    Effect.gen(function*() {
      for (const value of [1e300, -1e300, 1.5e-7, 5e-324, 1e21, 1.2e21, 0.1, -0.25, 123.456, 100, 0, -0, 17.72, 1763629191208, { a: [1e22, "x"], b: null }]) {
        assert.strictEqual(jsonbTextBytes(value), yield* serverBytes(value), JSON.stringify(value))
      }
    }))

  it.effect.prop("equals the server's octet_length(value::text) for arbitrary JSON", { value: JsonValue }, ({ value }) =>
    Effect.gen(function*() {
      assert.strictEqual(jsonbTextBytes(value), yield* serverBytes(value), JSON.stringify(value))
    }), { arbitrary: { runs: 300 } })
})
