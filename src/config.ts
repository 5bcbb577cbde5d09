/**
 * The one place that reads the environment.
 *
 * | variable             | meaning                                                    | default          |
 * | -------------------- | ---------------------------------------------------------- | ---------------- |
 * | DATABASE_URL         | PostgreSQL for durable snapshots (secret: Redacted)        | embedded PGlite  |
 * | REDIS_URL            | Redis for the live state (secret: Redacted)                | in memory        |
 * | REDIS_CLUSTER_NODES  | a Redis Cluster instead: node URLs, comma-separated        | (none)           |
 * | STATE_ENV            | namespace of keys and rows (`dev`, `test`, `prod`, ...)    | `dev`            |
 * | SNAPSHOT_INTERVAL    | time between periodic snapshots                            | `5 minutes`      |
 * | PG_MAX_CONNECTIONS   | PostgreSQL pool size                                       | 10               |
 * | PGLITE_DATA_DIR      | where the embedded PostgreSQL keeps its files              | `.data/pglite`   |
 * | MIGRATE_ON_START     | apply pending migrations when the stores start             | true             |
 * | LEASE_TTL            | life of a session lease without renewal (a dead runner's   | `15 seconds`     |
 * |                      | session is free after it)                                  |                  |
 */
import { Config, Duration, Option, Redacted, Schema } from "effect"
import { Env } from "./domain/Ids.ts"

/** Everything the persistence stack reads from the environment. */
export interface PersistenceConfig {
  readonly databaseUrl: Option.Option<Redacted.Redacted<string>>
  readonly redisUrl: Option.Option<Redacted.Redacted<string>>
  readonly redisClusterNodes: ReadonlyArray<Redacted.Redacted<string>>
  readonly env: Env
  readonly snapshotInterval: Duration.Duration
  readonly pgMaxConnections: number
  readonly pgliteDataDir: string
  readonly migrateOnStart: boolean
  readonly leaseTtl: Duration.Duration
}

/** Reads `PersistenceConfig`; a malformed value is a `ConfigError` naming the variable. */
export const persistenceConfig: Config.Config<PersistenceConfig> = Config.all({
  databaseUrl: Config.option(Config.Redacted("DATABASE_URL")),
  redisUrl: Config.option(Config.Redacted("REDIS_URL")),
  redisClusterNodes: Config.Redacted("REDIS_CLUSTER_NODES").pipe(
    Config.map((nodes) => Redacted.value(nodes).split(",").map((node) => node.trim()).filter((node) => node !== "").map((node) => Redacted.make(node))),
    Config.withDefault([])
  ),
  env: Config.schema(Env, "STATE_ENV").pipe(Config.withDefault(Schema.decodeSync(Env)("dev"))),
  snapshotInterval: Config.Duration("SNAPSHOT_INTERVAL").pipe(Config.withDefault(Duration.minutes(5))),
  pgMaxConnections: Config.Int("PG_MAX_CONNECTIONS").pipe(Config.withDefault(10)),
  pgliteDataDir: Config.String("PGLITE_DATA_DIR").pipe(Config.withDefault(".data/pglite")),
  migrateOnStart: Config.Boolean("MIGRATE_ON_START").pipe(Config.withDefault(true)),
  leaseTtl: Config.Duration("LEASE_TTL").pipe(Config.withDefault(Duration.seconds(15)))
})
