/**
 * The one place that reads the environment.
 *
 * | variable             | meaning                                                    | default          |
 * | -------------------- | ---------------------------------------------------------- | ---------------- |
 * | DATABASE_URL         | PostgreSQL for durable snapshots (secret: Redacted);       | embedded PGlite  |
 * |                      | a `postgres:` or `postgresql:` URL                         |                  |
 * | REDIS_URL            | Redis for the live state (secret: Redacted)                | in memory        |
 * | REDIS_CLUSTER_NODES  | a Redis Cluster instead: node URLs, comma-separated        | (none)           |
 * | STATE_ENV            | namespace of keys and rows (`dev`, `test`, `prod`, ...)    | `dev`            |
 * | SNAPSHOT_INTERVAL    | time between periodic snapshots                            | `5 minutes`      |
 * | PG_MAX_CONNECTIONS   | PostgreSQL pool size, at least 1                           | 10               |
 * | PGLITE_DATA_DIR      | where the embedded PostgreSQL keeps its files              | `.data/pglite`   |
 * | MIGRATE_ON_START     | apply pending migrations when the stores start             | true             |
 * | LEASE_TTL            | life of a session lease without renewal (a dead runner's   | `15 seconds`     |
 * |                      | session is free after it), at least 1 second               |                  |
 *
 * A value out of bounds is a `ConfigError` naming the variable; its message never holds the
 * value, which may be a secret.
 */
import { Config, Duration, Option, Redacted, Schema } from "effect"
import { Env } from "./domain/Ids.ts"

/**
 * The shortest lease: it is renewed every third of its life, so 1 second leaves a renewal
 * every ~333 ms, a few PostgreSQL round trips' worth of margin; shorter, and a runner under a
 * GC pause or a slow round trip loses its own session.
 */
export const minLeaseTtl = Duration.seconds(1)

/** A URL with one of `schemes` (`postgres:`, ...); the message says what is wrong without the value, which may hold a password. */
const isUrlWithScheme = (schemes: ReadonlyArray<string>) =>
  Schema.makeFilter<string>((text) => {
    const expected = `must be a ${schemes.join(" or ")} URL`
    if (!URL.canParse(text)) return `${expected} (it does not parse as a URL)`
    const { protocol } = new URL(text)
    return schemes.includes(protocol) || `${expected}, not ${protocol}`
  })

/** The secret connection URL in `name`, checked to be a URL with one of `schemes`. */
const connectionUrl = (name: string, schemes: ReadonlyArray<string>) =>
  Config.schema(Schema.Redacted(Schema.String.check(isUrlWithScheme(schemes))), name)

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
  databaseUrl: Config.option(connectionUrl("DATABASE_URL", ["postgres:", "postgresql:"])),
  redisUrl: Config.option(Config.Redacted("REDIS_URL")),
  redisClusterNodes: Config.Redacted("REDIS_CLUSTER_NODES").pipe(
    Config.map((nodes) => Redacted.value(nodes).split(",").map((node) => node.trim()).filter((node) => node !== "").map((node) => Redacted.make(node))),
    Config.withDefault([])
  ),
  env: Config.schema(Env, "STATE_ENV").pipe(Config.withDefault(Schema.decodeSync(Env)("dev"))),
  snapshotInterval: Config.Duration("SNAPSHOT_INTERVAL").pipe(Config.withDefault(Duration.minutes(5))),
  pgMaxConnections: Config.schema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)), "PG_MAX_CONNECTIONS").pipe(Config.withDefault(10)),
  pgliteDataDir: Config.String("PGLITE_DATA_DIR").pipe(Config.withDefault(".data/pglite")),
  migrateOnStart: Config.Boolean("MIGRATE_ON_START").pipe(Config.withDefault(true)),
  leaseTtl: Config.schema(
    Schema.DurationFromString.check(
      Schema.makeFilter((ttl) =>
        Duration.isGreaterThanOrEqualTo(ttl, minLeaseTtl) || "must be at least 1 second (the lease is renewed every third of it)"
      )
    ),
    "LEASE_TTL"
  ).pipe(Config.withDefault(Duration.seconds(15)))
})
