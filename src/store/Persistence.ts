/**
 * Persistence: the whole storage stack as one Layer, chosen by configuration.
 *
 * - DATABASE_URL set: snapshots in that PostgreSQL; unset: in an embedded
 *   PostgreSQL (PGlite) whose files live in PGLITE_DATA_DIR.
 * - REDIS_CLUSTER_NODES set: live state in that Redis Cluster;
 * - REDIS_URL set: live state in that Redis; unset: in memory, said once in
 *   the log, since the live tier then does not survive the process (restore
 *   falls back to the durable snapshots, which do).
 * - Migrations are applied on start unless MIGRATE_ON_START=false.
 *
 * The durable tier is four services on one database client: the snapshots,
 * the trade ledger they append to, the session events and the leases
 * (`durableOn`). Every command builds its
 * stack here (`layerLive`, `layerDurable`, `layerFrom`), so the choice is
 * made once; `layerMemory` is both tiers in memory.
 *
 * @module
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Option, Redacted } from "effect"
import type { SqlClient } from "effect/sql"
import type { ConnectionOptions } from "node:tls"
import { type PersistenceConfig, persistenceConfig } from "../config.ts"
import type { Env } from "../domain/Ids.ts"
import { maxSnapshotBytes } from "./internal/StateLimits.ts"
import { postgresTls, readCaFile } from "./internal/Tls.ts"
import * as EmbeddedPostgres from "./EmbeddedPostgres.ts"
import * as LiveStateStore from "./LiveStateStore.ts"
import { migrate } from "./Migrations.ts"
import { fromSqlError } from "./internal/SqlErrors.ts"
import * as PgSessionEvents from "./PgSessionEvents.ts"
import * as PgSessionLease from "./PgSessionLease.ts"
import * as PgSnapshotStore from "./PgSnapshotStore.ts"
import * as PgTradeLedger from "./PgTradeLedger.ts"
import * as RedisClient from "./RedisClient.ts"
import * as RedisLiveStateStore from "./RedisLiveStateStore.ts"
import * as SessionEvents from "./SessionEvents.ts"
import * as SessionLease from "./SessionLease.ts"
import * as SnapshotStore from "./SnapshotStore.ts"
import type { StoreError } from "./StoreError.ts"
import * as TradeLedger from "./TradeLedger.ts"
import type { StateProtection } from "./StateProtection.ts"

/** The services the stack provides. */
export type Stores = LiveStateStore.LiveStateStore | DurableStores

/** The services of the durable tier: snapshots, the trade ledger, session events, leases. */
export type DurableStores = SnapshotStore.SnapshotStore | TradeLedger.TradeLedger | SessionEvents.SessionEvents | SessionLease.SessionLease

/** A pooled client of the PostgreSQL at `url`; an unreachable server is a typed `Unreachable`. */
export const postgresLayer = (
  url: Redacted.Redacted<string>,
  options: { readonly maxConnections?: number } = {}
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, StoreError> =>
  PgClient.layerFrom(
    PgClient.make({
      url,
      ...tlsOption(postgresTls(Redacted.value(url))),
      maxConnections: options.maxConnections ?? 10,
      connectTimeout: "5 seconds",
      idleTimeout: "30 seconds",
      // A snapshot row carries five parts of up to `defaultMaxSectionBytes` each (`maxSnapshotBytes`).
      maxMessageSize: maxSnapshotBytes
    })
      .pipe(Effect.mapError(fromSqlError("connect")))
  )

/** Runs the migrations on the client of `sql` as soon as it is built. */
export const migrated = <E, R>(
  sql: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, E, R>
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, E | StoreError, R> =>
  sql.pipe(Layer.tap((context) => migrate.pipe(Effect.provide(context))))

/** How a durable tier is built: migrated first or not, and the keys its snapshots are sealed with. */
export interface DurableOptions {
  readonly migrate: boolean
  readonly protection?: StateProtection | undefined
}

const protectionOption = (protection: StateProtection | undefined) => (protection === undefined ? {} : { protection })

/** The durable tier of `env` on a database client (migrated first when asked). */
export const snapshotsOn = <E, R>(
  env: Env,
  sql: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, E, R>,
  options: DurableOptions = { migrate: true }
): Layer.Layer<SnapshotStore.SnapshotStore, E | StoreError, R> =>
  PgSnapshotStore.layer(env, protectionOption(options.protection)).pipe(Layer.provide(options.migrate ? migrated(sql) : sql))

/** The durable tier (snapshots, the trade ledger, session events, leases) of `env` on one database client (migrated first when asked). */
export const durableOn = <E, R>(
  env: Env,
  sql: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, E, R>,
  options: DurableOptions = { migrate: true }
): Layer.Layer<DurableStores, E | StoreError, R> =>
  Layer.mergeAll(
    PgSnapshotStore.layer(env, protectionOption(options.protection)),
    PgTradeLedger.layer(env),
    PgSessionEvents.layer(env),
    PgSessionLease.layer(env)
  ).pipe(Layer.provide(options.migrate ? migrated(sql) : sql))

const tlsOption = (ssl: ConnectionOptions | undefined) => (ssl === undefined ? {} : { ssl })

/**
 * The live tier of `env` on the Redis at `url` (or on the Redis Cluster of `clusterNodes`), a
 * `rediss:` one verified against `ca` when given, sealed under `protection` when given.
 */
export const redisLiveLayer = (
  env: Env,
  url: Redacted.Redacted<string>,
  clusterNodes?: ReadonlyArray<Redacted.Redacted<string>>,
  ca?: string,
  protection?: StateProtection
): Layer.Layer<LiveStateStore.LiveStateStore, StoreError> =>
  RedisLiveStateStore.layer(env, protectionOption(protection)).pipe(
    Layer.provide(RedisClient.layer({ url, ...(clusterNodes === undefined ? {} : { clusterNodes }), ...(ca === undefined ? {} : { ca }) }))
  )

/** The certificates of `REDIS_CA_FILE`, when set (the configuration checked that they read). */
const redisCaOf = (config: PersistenceConfig): string | undefined =>
  Option.match(config.redisCaFile, {
    onNone: () => undefined,
    onSome: (path) => {
      const read = readCaFile(path)
      return "ca" in read ? read.ca : undefined
    }
  })

/** The in-memory live tier, with the one warning that it does not survive the process. */
const memoryLiveLayer = (env: Env, protection: StateProtection | undefined): Layer.Layer<LiveStateStore.LiveStateStore> =>
  LiveStateStore.layerMemory(env, protection).pipe(
    Layer.tap(() =>
      Effect.logWarning("REDIS_URL is not set: live state is kept in memory and does not survive this process; restores use the durable snapshots")
    )
  )

/** The database client `config` asks for: DATABASE_URL, or the embedded PostgreSQL. */
export const databaseFrom = (config: PersistenceConfig): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, StoreError> =>
  Option.match(config.databaseUrl, {
    onNone: () => EmbeddedPostgres.layer({ dataDir: config.pgliteDataDir }),
    onSome: (url) => postgresLayer(url, { maxConnections: config.pgMaxConnections })
  })

/** The database client described by the environment (not migrated). */
export const databaseLayer = Layer.unwrap(Effect.gen(function*() {
  return databaseFrom(yield* persistenceConfig)
}))

/** Which backing `config` chooses for the live tier: a Redis Cluster, one Redis, or memory. */
export const liveKindOf = (config: PersistenceConfig): "redis-cluster" | "redis" | "memory" =>
  config.redisClusterNodes.length > 0 ? "redis-cluster" : Option.isSome(config.redisUrl) ? "redis" : "memory"

/** The live tier `config` describes: REDIS_CLUSTER_NODES first, then REDIS_URL, else memory. The one place that chooses it. */
export const layerLive = (config: PersistenceConfig): Layer.Layer<LiveStateStore.LiveStateStore, StoreError> => {
  const protection = Option.getOrUndefined(config.protection)
  return config.redisClusterNodes.length > 0
    ? redisLiveLayer(config.env, config.redisClusterNodes[0]!, config.redisClusterNodes, redisCaOf(config), protection)
    : Option.match(config.redisUrl, {
      onNone: () => memoryLiveLayer(config.env, protection),
      onSome: (url) => redisLiveLayer(config.env, url, undefined, redisCaOf(config), protection)
    })
}

/** The durable tier `config` describes: DATABASE_URL, else the embedded PostgreSQL. The one place that chooses it. */
export const layerDurable = (config: PersistenceConfig): Layer.Layer<DurableStores, StoreError> =>
  durableOn(config.env, databaseFrom(config), { migrate: config.migrateOnStart, protection: Option.getOrUndefined(config.protection) })

/** The stack described by `config`. */
export const layerFrom = (config: PersistenceConfig): Layer.Layer<Stores, StoreError> =>
  Layer.mergeAll(layerLive(config), layerDurable(config))

/** The stack described by the environment (see `config.ts`). */
export const layer = Layer.unwrap(Effect.gen(function*() {
  return layerFrom(yield* persistenceConfig)
}))

/** The stack described by the environment, never migrating: for commands that only read. */
export const layerReadOnly = Layer.unwrap(Effect.gen(function*() {
  return layerFrom({ ...(yield* persistenceConfig), migrateOnStart: false })
}))

/**
 * The durable tier in memory: the snapshot store checks the leases' tokens, appends to the
 * ledger and records its retention cuts among the session events, as PostgreSQL does.
 */
export const durableMemory = (env: Env, protection?: StateProtection): Layer.Layer<DurableStores> =>
  Layer.unwrap(Effect.sync(() => {
    const leases: SessionLease.MemoryLeases = new Map()
    const events: SessionEvents.MemoryEvents = new Map()
    const ledger: TradeLedger.MemoryLedger = []
    return Layer.mergeAll(
      SnapshotStore.layerMemory(env, leases, events, ledger, protection),
      TradeLedger.layerMemory(env, ledger, events),
      SessionEvents.layerMemory(env, events),
      SessionLease.layerMemory(env, leases)
    )
  }))

/** Both tiers in memory (sealed under `protection`, when given): for unit tests above the stores. */
export const layerMemory = (env: Env, protection?: StateProtection): Layer.Layer<Stores> =>
  Layer.merge(LiveStateStore.layerMemory(env, protection), durableMemory(env, protection))
