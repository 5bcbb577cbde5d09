/**
 * A snapshot is written in one transaction: when the database fails in the
 * middle of the four inserts, none of them stays. The failure is real: a
 * trigger on `metrics_snapshots` (the third insert) raises for one session.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import type { SqlClient } from "effect/sql"
import { SessionId } from "../../src/domain/Ids.ts"
import * as EmbeddedPostgres from "../../src/store/EmbeddedPostgres.ts"
import { migrated } from "../../src/store/Persistence.ts"
import * as PgSnapshotStore from "../../src/store/PgSnapshotStore.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import type { StoreError } from "../../src/store/StoreError.ts"
import { testPostgres } from "../support/Backings.ts"
import { withoutNegativeZero } from "../support/Results.ts"
import { uniqueEnv } from "../support/Services.ts"
import { sampleStates } from "../support/States.ts"

const doomed = SessionId.make(`sess_atomic${Date.now().toString(36)}`)

/** Installs (and on release removes) a trigger that fails the metrics insert of `doomed`'s snapshots. */
const failingTrigger = Layer.effectDiscard(Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const fn = `fail_metrics_${doomed}`
  yield* sql`CREATE FUNCTION ${sql(fn)}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (SELECT session_id FROM session_snapshots WHERE snapshot_id = NEW.snapshot_id) = ${sql.literal(`'${doomed}'`)} THEN
        RAISE EXCEPTION 'injected failure on the metrics insert';
      END IF;
      RETURN NEW;
    END $$`
  yield* sql`CREATE TRIGGER ${sql(fn)} BEFORE INSERT ON metrics_snapshots FOR EACH ROW EXECUTE FUNCTION ${sql(fn)}()`
  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      yield* sql`DROP TRIGGER IF EXISTS ${sql(fn)} ON metrics_snapshots`
      yield* sql`DROP FUNCTION IF EXISTS ${sql(fn)}()`
    }).pipe(Effect.ignore)
  )
}))

const onDatabase = (name: string, sql: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, StoreError>) =>
  layer(Layer.mergeAll(PgSnapshotStore.layer(uniqueEnv(`atomic${name}`)), failingTrigger).pipe(Layer.provideMerge(migrated(sql))), {
    timeout: "60 seconds"
  })(`snapshot atomicity on ${name}`, (it) => {
    it.effect("a failure on the third insert leaves no row of the snapshot in any table", () =>
      Effect.gen(function*() {
        const store = yield* SnapshotStore
        const pg = yield* PgClient.PgClient
        const [state] = yield* sampleStates(doomed, { count: 1, seed: 31 })
        const metadata = { sessionId: doomed, snapshotType: "trade" as const, sequence: 1, fencingToken: 1, createdAt: 1 }
        const error = yield* Effect.flip(store.save(metadata, state!))
        assert.include(error.message, "injected failure on the metrics insert")
        const [counts] = yield* pg<{ sessions: number; positions: number }>`
          SELECT (SELECT count(*) FROM session_snapshots WHERE session_id = ${doomed})::int AS sessions,
                 (SELECT count(*) FROM position_snapshots p
                    WHERE NOT EXISTS (SELECT 1 FROM session_snapshots s WHERE s.snapshot_id = p.snapshot_id))::int AS positions`
        assert.deepStrictEqual(counts, { sessions: 0, positions: 0 })
        assert.isTrue(Option.isNone(yield* store.loadLatest(doomed)))
      }))

    it.effect("other sessions still save and load while one session's writes fail", () =>
      Effect.gen(function*() {
        const store = yield* SnapshotStore
        const healthy = SessionId.make("sess_healthy01")
        const [state] = yield* sampleStates(healthy, { count: 1, seed: 32 })
        yield* store.save({ sessionId: healthy, snapshotType: "trade", sequence: 1, fencingToken: 1, createdAt: 1 }, state!)
        const latest = Option.getOrThrow(yield* store.loadLatest(healthy))
        assert.deepStrictEqual(latest.snapshot.state, withoutNegativeZero(state!))
      }))
  })

describe("snapshot atomicity", () => {
  onDatabase("postgres", testPostgres)
  onDatabase("pglite", EmbeddedPostgres.layer({ dataDir: undefined }))
})
