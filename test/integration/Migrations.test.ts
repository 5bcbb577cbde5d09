/**
 * The migrations applied to an empty database give the schema the stores
 * need, and applying them again changes nothing. Run against a database
 * created for this test on the real PostgreSQL, and against an empty PGlite.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import { Migrator, SqlClient } from "effect/sql"
import { migrations } from "../../migrations/index.ts"
import { randomBytes } from "node:crypto"
import { Env, SessionId } from "../../src/domain/Ids.ts"
import * as EmbeddedPostgres from "../../src/store/EmbeddedPostgres.ts"
import { migrate, migrationsTable } from "../../src/store/Migrations.ts"
import { fromSqlError } from "../../src/store/internal/SqlErrors.ts"
import { postgresLayer } from "../../src/store/Persistence.ts"
import * as PgSnapshotStore from "../../src/store/PgSnapshotStore.ts"
import { fixtureJson } from "../support/Fixtures.ts"
import { testDatabaseUrl } from "../support/Services.ts"

const adminUrl = Redacted.make(Redacted.value(testDatabaseUrl).replace(/\/[^/?]*(\?.*)?$/, "/postgres$1"))

/** A database made for one test and dropped after it. */
const freshDatabase = Layer.unwrap(Effect.gen(function*() {
  const name = `arbitrage_state_mig_${randomBytes(4).toString("hex")}`
  const admin = yield* Effect.acquireRelease(
    Effect.succeed(name),
    () => Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`
    }).pipe(Effect.provide(postgresLayer(adminUrl, { maxConnections: 1 })), Effect.ignore)
  )
  yield* Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE DATABASE ${sql(admin)}`
  }).pipe(Effect.provide(postgresLayer(adminUrl, { maxConnections: 1 })))
  return postgresLayer(Redacted.make(Redacted.value(adminUrl).replace(/\/postgres(\?.*)?$/, `/${name}$1`)), { maxConnections: 2 })
}))

const schemaChecks = Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const first = yield* migrate
  assert.deepStrictEqual(first.map(([id, name]) => [id, name]), [
    [1, "snapshot_tables"],
    [2, "session_leases"],
    [3, "compressed_positions"],
    [4, "session_events"],
    [5, "retention_plan"],
    [6, "custom_sections"],
    [7, "trade_ledger"],
    [8, "snapshot_headers"],
    [9, "runner_role"],
    [10, "snapshot_seals"]
  ])
  assert.deepStrictEqual(yield* migrate, [])

  const tables = yield* sql<{ table_name: string }>`
    SELECT table_name FROM information_schema.tables
     WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`
  assert.includeMembers(tables.map((t) => t.table_name), [
    "metrics_snapshots",
    "position_snapshots",
    "risk_guard_snapshots",
    "session_events",
    "session_leases",
    "session_snapshots",
    "trade_ledger",
    migrationsTable
  ])
  const columns = yield* sql<{ column_name: string }>`
    SELECT column_name FROM information_schema.columns WHERE table_name = 'session_snapshots'`
  assert.includeMembers(columns.map((c) => c.column_name), [
    "snapshot_id", "env", "session_id", "sequence", "snapshot_type", "envelope_version", "fencing_token",
    "created_at_ms", "checksum", "loop_count", "session_status", "session", "recorded_at", "header_checksum", "seal"
  ])
  // The runner's role reads every table and the view, and may delete or truncate none (a later table must be granted too).
  const grants = yield* sql<{ table_name: string; reads: boolean; removes: boolean }>`
    SELECT table_name,
           has_table_privilege('arbitrage_state_runner', quote_ident(table_name), 'SELECT') AS reads,
           has_table_privilege('arbitrage_state_runner', quote_ident(table_name), 'DELETE, TRUNCATE') AS removes
      FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`
  assert.deepStrictEqual(grants.filter((g) => !g.reads || g.removes).map((g) => g.table_name), [])
  const views = yield* sql<{ table_name: string }>`SELECT table_name FROM information_schema.views WHERE table_schema = 'public'`
  assert.deepStrictEqual(views.map((v) => v.table_name), ["v_latest_snapshots"])
  const [cleanup] = yield* sql<{ removed: number }>`SELECT cleanup_old_snapshots(30) AS removed`
  assert.strictEqual(Number(cleanup!.removed), 0)
  const refused = yield* Effect.flip(sql`SELECT cleanup_old_snapshots(-1)`.pipe(Effect.mapError(fromSqlError("cleanup"))))
  assert.include(refused.message, "days_to_keep must be a non-negative number of days")
  const indexes = yield* sql<{ indexdef: string }>`SELECT indexdef FROM pg_indexes WHERE tablename = 'session_snapshots'`
  assert.isTrue(indexes.some((i) => /\(env, session_id, sequence\)/.test(i.indexdef)), "an index serves the latest-snapshot query")
})

/** The migrations numbered below `n`: a database as it was before migration `n` was released. */
const migrationsBefore = (n: number) => Object.fromEntries(Object.entries(migrations).filter(([name]) => Number(name.slice(0, 4)) < n))

/** The ids of the migrations numbered `n` and above, in order: what a database before `n` is brought up by. */
const migrationIdsFrom = (n: number) => Object.keys(migrations).map((name) => Number(name.slice(0, 4))).filter((id) => id >= n)

/** Applies the migrations numbered below `n`. */
const migrateBefore = (n: number) => Migrator.make({})({ loader: Migrator.fromRecord(migrationsBefore(n)), table: migrationsTable })

/** A snapshot row as 0001 defines it, recorded `daysAgo` days ago (what the retention functions read). */
const insertSnapshot = (env: string, sessionId: string, sequence: number, daysAgo: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`
      INSERT INTO session_snapshots (env, session_id, sequence, snapshot_type, envelope_version, fencing_token,
                                     created_at_ms, checksum, loop_count, session_status, session, recorded_at)
      VALUES (${env}, ${sessionId}, ${sequence}, 'periodic', 1, 1, 0, 'x', ${sequence * 10}, 'running', '{}'::jsonb,
              now() - make_interval(days => ${daysAgo}))`
  })

describe("migrations", () => {
  it.live("0005 on a database at 0004 holding snapshots: the plan names what cleanup_old_snapshots then removes, as 0001 did, and the cut is recorded", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const earlier = yield* migrateBefore(5)
      assert.deepStrictEqual(earlier.map(([id]) => id), [1, 2, 3, 4])
      for (const sequence of [1, 2, 3, 4, 5]) yield* insertSnapshot("e", "sess_old", sequence, 10)
      for (const sequence of [1, 2]) yield* insertSnapshot("e", "sess_new", sequence, 0)
      yield* insertSnapshot("other", "sess_old", 1, 10)
      yield* insertSnapshot("other", "sess_old", 2, 10)

      assert.deepStrictEqual((yield* migrate).map(([id]) => id), migrationIdsFrom(5))
      const plan = yield* sql<{ session_id: string; removed: unknown; oldest_sequence: unknown; newest_sequence: unknown; newest_loop_count: unknown }>`
        SELECT * FROM retention_plan(7, 1, 'e', '{}')`
      assert.deepStrictEqual(
        plan.map((r) => [r.session_id, Number(r.removed), Number(r.oldest_sequence), Number(r.newest_sequence), Number(r.newest_loop_count)]),
        [["sess_old", 4, 1, 4, 40]]
      )
      const [removed] = yield* sql<{ removed: number }>`SELECT cleanup_old_snapshots(7, 1, 'e') AS removed`
      assert.strictEqual(Number(removed!.removed), 4)
      const left = yield* sql<{ env: string; sequence: unknown }>`SELECT env, sequence FROM session_snapshots WHERE session_id = 'sess_old' ORDER BY env, sequence`
      assert.deepStrictEqual(left.map((r) => [r.env, Number(r.sequence)]), [["e", 5], ["other", 1], ["other", 2]])
      const events = yield* sql<{ env: string; session_id: string; kind: string; loop_count: unknown; detail: unknown }>`
        SELECT env, session_id, kind, loop_count, detail FROM session_events`
      assert.deepStrictEqual(events.map((e) => [e.env, e.session_id, e.kind, Number(e.loop_count), e.detail]), [
        ["e", "sess_old", "history_cut", 40, { removed: 4, oldestSequence: 1, newestSequence: 4, olderThanDays: 7, keepLatest: 1 }]
      ])
      const refused = yield* Effect.flip(sql`SELECT cleanup_old_snapshots(7, 0)`.pipe(Effect.mapError(fromSqlError("cleanup"))))
      assert.include(refused.message, "keep_latest must be at least 1")
    }).pipe(Effect.provide(freshDatabase)), { timeout: 60_000 })


  it.live("0006 on a database at 0005 holding a sealed snapshot of the stored form before it: it still verifies and decodes, with no custom sections", () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      yield* migrateBefore(6)
      const stored = fixtureJson("v2/snapshot-trade.json")
      const [head] = yield* sql<{ snapshot_id: string }>`
        INSERT INTO session_snapshots (env, session_id, sequence, snapshot_type, envelope_version, fencing_token,
                                       created_at_ms, checksum, loop_count, session_status, session)
        VALUES ('old', ${stored.sessionId}, ${stored.sequence}, ${stored.snapshotType}, ${stored.envelopeVersion}, ${stored.fencingToken},
                ${stored.createdAt}, ${stored.checksum}, ${stored.payload.session.loopCount}, ${stored.payload.session.status},
                ${sql.json(stored.payload.session)})
        RETURNING snapshot_id`
      const id = head!.snapshot_id
      yield* sql`INSERT INTO position_snapshots (snapshot_id, open_trade_count, positions) VALUES (${id}, 1, ${sql.json(stored.payload.positions)})`
      yield* sql`INSERT INTO metrics_snapshots (snapshot_id, metrics) VALUES (${id}, ${sql.json(stored.payload.metrics)})`
      yield* sql`INSERT INTO risk_guard_snapshots (snapshot_id, risk_guard) VALUES (${id}, ${sql.json(stored.payload.riskGuard)})`

      assert.deepStrictEqual((yield* migrate).map(([id]) => id), migrationIdsFrom(6))
      const store = yield* PgSnapshotStore.make(Env.make("old"))
      const latest = Option.getOrThrow(yield* store.loadLatest(SessionId.make(stored.sessionId)))
      assert.strictEqual(latest.snapshot.checksum, stored.checksum)
      assert.notProperty(latest.snapshot.state, "custom")
      assert.strictEqual(latest.snapshot.state.session.loopCount, stored.payload.session.loopCount)
    }).pipe(Effect.provide(freshDatabase)), { timeout: 60_000 })

  it.live("on an empty PostgreSQL database: the schema appears, and a second run is a no-op", () =>
    schemaChecks.pipe(Effect.provide(freshDatabase)), { timeout: 60_000 })

  it.live("on an empty embedded PGlite: the same", () =>
    schemaChecks.pipe(Effect.provide(EmbeddedPostgres.layer({ dataDir: undefined }))), { timeout: 60_000 })

  it.live("two migrations started at once both succeed and apply each migration once", () =>
    Effect.gen(function*() {
      const results = yield* Effect.all([migrate, migrate], { concurrency: 2 })
      assert.deepStrictEqual(results.flat().map(([id]) => id).sort((a, b) => a - b), migrationIdsFrom(1))
    }).pipe(Effect.provide(freshDatabase)), { timeout: 60_000 })
})
