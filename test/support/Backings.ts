/**
 * The backings every contract suite runs against: memory, the real Redis,
 * the real PostgreSQL and the embedded PGlite. Each comes with raw access to
 * what it stores, so that tests can damage stored data the way a real fault
 * would, and removes its namespace when its layer is released.
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer } from "effect"
import type { SqlClient } from "effect/sql"
import type { SectionName } from "../../src/domain/EngineState.ts"
import type { Env } from "../../src/domain/Ids.ts"
import * as EmbeddedPostgres from "../../src/store/EmbeddedPostgres.ts"
import * as LiveStateStore from "../../src/store/LiveStateStore.ts"
import { migrate } from "../../src/store/Migrations.ts"
import { type DurableStores, durableOn, postgresLayer } from "../../src/store/Persistence.ts"
import * as RedisClient from "../../src/store/RedisClient.ts"
import * as RedisLiveStateStore from "../../src/store/RedisLiveStateStore.ts"
import type { SnapshotRow } from "../../src/store/internal/SnapshotRows.ts"
import * as SessionEvents from "../../src/store/SessionEvents.ts"
import * as SessionLease from "../../src/store/SessionLease.ts"
import * as SnapshotStore from "../../src/store/SnapshotStore.ts"
import type { StoreError } from "../../src/store/StoreError.ts"
import * as TradeLedger from "../../src/store/TradeLedger.ts"
import type { StateProtection } from "../../src/store/StateProtection.ts"
import { freshProtection } from "./Protection.ts"
import { testDatabaseUrl, testRedisUrl } from "./Services.ts"

/** Raw access to the live tier's keys, below the store's codecs. */
export class RawLive extends Context.Service<RawLive, {
  readonly set: (key: string, text: string) => Effect.Effect<void>
  readonly remove: (key: string) => Effect.Effect<void>
}>()("test/RawLive") {}

/** Raw access to stored snapshots, below the store's codecs. */
export class RawSnapshots extends Context.Service<RawSnapshots, {
  /** Replaces one stored section of a snapshot with `value` (a JSON value, anything). */
  readonly setSection: (snapshotId: number, section: SectionName, value: unknown) => Effect.Effect<void>
  /** Deletes the row of one section of a snapshot (a snapshot missing one of its four tables). */
  readonly dropSection: (snapshotId: number, section: Exclude<SectionName, "session">) => Effect.Effect<void>
  /** Replaces the runner's own sections of a snapshot with `value` (anything; `null`: none). */
  readonly setCustom: (snapshotId: number, value: unknown) => Effect.Effect<void>
  /** Rewrites the sequence of a snapshot (a damaged row: `sequence` may be beyond the safe integers). */
  readonly setSequence: (snapshotId: number, sequence: bigint) => Effect.Effect<void>
  /** Replaces the stored entry (its JSON, anything) of a session's standing trade ledger row `closeNumber`. */
  readonly setLedgerEntry: (sessionId: string, closeNumber: number, entry: unknown) => Effect.Effect<void>
}>()("test/RawSnapshots") {}

/** A backing of the live tier: the store of an env, and raw access to it. */
export interface LiveBacking {
  readonly name: string
  /** Whether it seals what it writes (STATE_KEYS set): a state damaged below it is then refused as not authentic. */
  readonly sealed?: boolean
  readonly layer: (env: Env) => Layer.Layer<LiveStateStore.LiveStateStore | RawLive, StoreError>
}

/** A backing of the durable tier: the snapshots, events and leases of an env, and raw access to its snapshots. */
export interface SnapshotBacking {
  readonly name: string
  readonly layer: (env: Env) => Layer.Layer<DurableStores | RawSnapshots, StoreError>
}

/** The memory backing of the live tier (sealed under `protection`, when given). */
const memoryLiveWith = (name: string, protection?: StateProtection): LiveBacking => ({
  name,
  sealed: protection !== undefined,
  layer: (env) => {
    const entries = new Map<string, string>()
    return Layer.mergeAll(
      Layer.succeed(LiveStateStore.LiveStateStore, LiveStateStore.makeMemory(env, entries, protection === undefined ? {} : { protection })),
      Layer.succeed(RawLive, {
        set: (key, text) => Effect.sync(() => void entries.set(key, text)),
        remove: (key) => Effect.sync(() => void entries.delete(key))
      })
    )
  }
})

export const memoryLive: LiveBacking = memoryLiveWith("memory")

/** One connection to the test Redis, shared by the tests of a file. */
export const redisClient = RedisClient.layer({ url: testRedisUrl })

/**
 * A Redis backing of the live tier on the `RedisClient` it is given (one server or a cluster): the
 * store of an env, raw access to its keys, and the env's keys removed when the layer is released.
 */
export const redisBackingOn = (env: Env, protection?: StateProtection) =>
  Layer.unwrap(Effect.gen(function*() {
    const redis = yield* RedisClient.RedisClient
    yield* Effect.addFinalizer(() => removeRedisNamespace(redis, env))
    return Layer.mergeAll(
      RedisLiveStateStore.layer(env, protection === undefined ? {} : { protection }),
      Layer.succeed(RawLive, {
        set: (key, text) => redis.use("SET", (c) => c.set(key, text)).pipe(Effect.asVoid, Effect.orDie),
        remove: (key) => redis.use("DEL", (c) => c.del(key)).pipe(Effect.asVoid, Effect.orDie)
      })
    )
  }))

export const redisLive: LiveBacking = {
  name: "redis",
  layer: (env) => redisBackingOn(env).pipe(Layer.provide(redisClient))
}

const removeRedisNamespace = (redis: RedisClient.RedisClient["Service"], env: Env) =>
  redis.use("SCAN+DEL", async () => {
    for (const node of redis.masters()) {
      let cursor = "0"
      do {
        const [next, keys] = await node.scan(cursor, "MATCH", `arbitrage:state:${env}:*`, "COUNT", 1000)
        for (const key of keys) await node.del(key)
        cursor = next
      } while (cursor !== "0")
    }
  }).pipe(Effect.ignore)

const sectionTable = {
  positions: ["position_snapshots", "positions"],
  metrics: ["metrics_snapshots", "metrics"],
  riskGuard: ["risk_guard_snapshots", "risk_guard"]
} as const

/** Raw snapshot access and namespace removal on a migrated PostgreSQL client. */
const pgRawAndCleanup = (env: Env) =>
  Layer.effect(RawSnapshots, Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    yield* Effect.addFinalizer(() =>
      Effect.all([
        sql`DELETE FROM session_snapshots WHERE env = ${env}`,
        sql`DELETE FROM trade_ledger WHERE env = ${env}`,
        sql`DELETE FROM session_events WHERE env = ${env}`,
        sql`DELETE FROM session_leases WHERE env = ${env}`
      ]).pipe(Effect.ignore)
    )
    return RawSnapshots.of({
      setSection: (snapshotId, section, value) =>
        (section === "session"
          ? sql`UPDATE session_snapshots SET session = ${sql.json(value)} WHERE snapshot_id = ${snapshotId}`
          : section === "positions"
          ? sql`UPDATE position_snapshots SET positions = ${sql.json(value)}, positions_gzip = NULL WHERE snapshot_id = ${snapshotId}`
          : sql`UPDATE ${sql(sectionTable[section][0])} SET ${sql(sectionTable[section][1])} = ${sql.json(value)}
                 WHERE snapshot_id = ${snapshotId}`).pipe(Effect.asVoid, Effect.orDie),
      dropSection: (snapshotId, section) =>
        sql`DELETE FROM ${sql(sectionTable[section][0])} WHERE snapshot_id = ${snapshotId}`.pipe(Effect.asVoid, Effect.orDie),
      setCustom: (snapshotId, value) =>
        sql`UPDATE session_snapshots SET custom = ${value === null ? null : sql.json(value)}::jsonb WHERE snapshot_id = ${snapshotId}`.pipe(
          Effect.asVoid,
          Effect.orDie
        ),
      setLedgerEntry: (sessionId, closeNumber, entry) =>
        sql`UPDATE trade_ledger SET entry = ${sql.json(entry)}
             WHERE env = ${env} AND session_id = ${sessionId} AND close_number = ${closeNumber} AND superseded_at IS NULL`.pipe(
          Effect.asVoid,
          Effect.orDie
        ),
      setSequence: (snapshotId, sequence) =>
        sql`UPDATE session_snapshots SET sequence = ${sequence.toString()}::bigint WHERE snapshot_id = ${snapshotId}`.pipe(
          Effect.asVoid,
          Effect.orDie
        )
    })
  }))

/** The PostgreSQL backing of an env on the client `sql` (the same client serves the raw access). */
const onDatabase = (sql: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, StoreError>, protection?: StateProtection) => (env: Env) =>
  Layer.mergeAll(durableOn(env, sql, { migrate: true, protection }), pgRawAndCleanup(env).pipe(Layer.provide(sql)))

/**
 * The durable tier in memory over `rows` (which a test may then damage or inspect directly), its
 * snapshot store checking the leases' tokens, appending to the ledger and recording its cuts among
 * the events.
 */
export const memoryDurableOver = (
  env: Env,
  rows: Array<SnapshotRow> = [],
  leases: SessionLease.MemoryLeases = new Map(),
  ledger: TradeLedger.MemoryLedger = [],
  protection?: StateProtection
): Layer.Layer<DurableStores> => {
  const events: SessionEvents.MemoryEvents = new Map()
  return Layer.mergeAll(
    Layer.succeed(SnapshotStore.SnapshotStore, SnapshotStore.makeMemory(env, rows, leases, events, ledger, protection)),
    Layer.succeed(TradeLedger.TradeLedger, TradeLedger.makeMemory(env, ledger, events)),
    Layer.succeed(SessionEvents.SessionEvents, SessionEvents.makeMemory(env, events)),
    Layer.succeed(SessionLease.SessionLease, SessionLease.makeMemory(env, leases))
  )
}

/** The memory backing of the durable tier (sealed under `protection`, when given). */
const memorySnapshotsWith = (name: string, protection?: StateProtection): SnapshotBacking => ({
  name,
  layer: (env) => {
    const rows: Array<SnapshotRow> = []
    const ledger: TradeLedger.MemoryLedger = []
    const update = (snapshotId: number, change: (row: SnapshotRow) => SnapshotRow) =>
      Effect.sync(() => {
        const index = rows.findIndex((row) => row.snapshotId === snapshotId)
        if (index >= 0) rows[index] = change(rows[index]!)
      })
    return Layer.mergeAll(
      memoryDurableOver(env, rows, new Map(), ledger, protection),
      Layer.succeed(RawSnapshots, {
        setSection: (snapshotId, section, value) => update(snapshotId, (row) => ({ ...row, [section]: value })),
        dropSection: (snapshotId, section) => update(snapshotId, (row) => ({ ...row, [section]: null })),
        setCustom: (snapshotId, value) => update(snapshotId, (row) => ({ ...row, custom: value })),
        setSequence: (snapshotId, sequence) => update(snapshotId, (row) => ({ ...row, sequence: Number(sequence) })),
        setLedgerEntry: (sessionId, closeNumber, entry) =>
          Effect.sync(() => {
            const index = ledger.findIndex((row) => row.sessionId === sessionId && row.closeNumber === closeNumber && row.supersededAt === null)
            if (index >= 0) ledger[index] = { ...ledger[index]!, entry: entry as TradeLedger.LedgerRow["entry"] }
          })
      })
    )
  }
})

export const memorySnapshots: SnapshotBacking = memorySnapshotsWith("memory")

/** One pooled client of the test database, shared by the tests of a file. */
export const testPostgres = postgresLayer(testDatabaseUrl, { maxConnections: 4 })

export const postgresSnapshots: SnapshotBacking = { name: "postgres", layer: onDatabase(testPostgres) }

/** An in-memory PGlite per layer: the embedded default without files. */
export const pgliteSnapshots: SnapshotBacking = {
  name: "pglite",
  layer: onDatabase(EmbeddedPostgres.layer({ dataDir: undefined }))
}

export const liveBackings: ReadonlyArray<LiveBacking> = [memoryLive, redisLive]
export const snapshotBackings: ReadonlyArray<SnapshotBacking> = [memorySnapshots, postgresSnapshots, pgliteSnapshots]

/** Keys two of the sealed backings share: sealed, and sealed and encrypted, under the same keys. */
const sealedKeys = freshProtection(["contract-old", "contract-new"])

/** The backings with STATE_KEYS set: they keep the same contract. */
export const sealedLiveBackings: ReadonlyArray<LiveBacking> = [
  memoryLiveWith("memory sealed", sealedKeys),
  {
    name: "redis sealed and encrypted",
    sealed: true,
    layer: (env) => redisBackingOn(env, { ...sealedKeys, encrypt: true }).pipe(Layer.provide(redisClient))
  }
]
export const sealedSnapshotBackings: ReadonlyArray<SnapshotBacking> = [
  memorySnapshotsWith("memory sealed and encrypted", { ...sealedKeys, encrypt: true }),
  { name: "postgres sealed and encrypted", layer: onDatabase(testPostgres, { ...sealedKeys, encrypt: true }) }
]

/** Migrates the test database once before the suites (vitest global setup calls this). */
export const migrateTestDatabase = migrate.pipe(Effect.provide(testPostgres))
