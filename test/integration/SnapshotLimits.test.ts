/**
 * What a snapshot save writes, a restore reads: at the size limit exactly.
 * Positions stored gzipped are read back by their JSON text, inflated within
 * the limit, so the save measures them by that text (not by PostgreSQL's
 * text form of a JSONB, which is larger and is not what is stored): at a limit
 * of exactly their bytes they are written and read back; one byte less, they
 * are refused when written, and nothing is stored.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Result } from "effect"
import { randomBytes } from "node:crypto"
import { SessionId } from "../../src/domain/Ids.ts"
import { encodeEngineState } from "../../src/domain/StateCodec.ts"
import { jsonbTextBytes } from "../../src/store/internal/JsonbText.ts"
import { defaultCompressionThreshold } from "../../src/store/internal/PayloadCompression.ts"
import { migrated } from "../../src/store/Persistence.ts"
import * as PgSnapshotStore from "../../src/store/PgSnapshotStore.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import { testPostgres } from "../support/Backings.ts"
import { withoutNegativeZero } from "../support/Results.ts"
import { uniqueEnv } from "../support/Services.ts"
import { sampleStates } from "../support/States.ts"

const env = uniqueEnv("snaplimits")
const storeWithLimit = (maxSectionBytes: number) => PgSnapshotStore.layer(env, { maxSectionBytes }).pipe(Layer.provide(migrated(testPostgres)))

describe("snapshot size limit", () => {
  it.effect("gzipped positions at the limit exactly are written and read back; one byte over the limit, they are refused and nothing is stored", () =>
    Effect.gen(function*() {
      const sessionId = SessionId.make(`sess_snaplimit${randomBytes(3).toString("hex")}`)
      const [state] = yield* sampleStates(sessionId, { count: 1, seed: 12, minOpenTrades: 200, maxOpenTrades: 200 })
      const positions = (Result.getOrThrow(encodeEngineState(state!)) as { readonly positions: unknown }).positions
      const text = JSON.stringify(positions)
      const bytes = Buffer.byteLength(text)
      assert.isAbove(text.length, defaultCompressionThreshold, "the positions are stored gzipped")
      assert.isAbove(jsonbTextBytes(positions), bytes, "PostgreSQL's text form is larger than what is stored")

      const refused = yield* Effect.flip(
        Effect.flatMap(SnapshotStore, (store) => store.save({ sessionId, snapshotType: "trade", sequence: 1, fencingToken: 0, createdAt: 0 }, state!)).pipe(
          Effect.provide(storeWithLimit(bytes - 1))
        )
      )
      assert.include(refused.message, `positions is ${bytes} bytes, over the limit of ${bytes - 1} a restore reads; not written`)

      const read = yield* Effect.gen(function*() {
        const store = yield* SnapshotStore
        assert.isTrue(Option.isNone(yield* store.loadLatest(sessionId)), "the refused save stored nothing")
        yield* store.save({ sessionId, snapshotType: "trade", sequence: 1, fencingToken: 0, createdAt: 0 }, state!)
        return yield* store.loadLatest(sessionId)
      }).pipe(Effect.provide(storeWithLimit(bytes)))
      assert.isTrue(Option.isSome(read))
      assert.deepStrictEqual(Option.getOrThrow(read).snapshot.state, withoutNegativeZero(state!))
    }), 60_000)
})
