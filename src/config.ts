/**
 * The one place that reads the environment.
 *
 * | variable             | meaning                                                    | default          |
 * | -------------------- | ---------------------------------------------------------- | ---------------- |
 * | DATABASE_URL         | PostgreSQL for durable snapshots (secret: Redacted);       | embedded PGlite  |
 * |                      | a `postgres:` or `postgresql:` URL                         |                  |
 * | REDIS_URL            | Redis for the live state (secret: Redacted); a `redis:`    | in memory        |
 * |                      | or `rediss:` URL                                           |                  |
 * | REDIS_CLUSTER_NODES  | a Redis Cluster instead: `redis:`/`rediss:` node URLs,     | (none)           |
 * |                      | comma-separated (secret: Redacted)                         |                  |
 * | STATE_ENV            | namespace of keys and rows (`dev`, `test`, `prod`, ...)    | `dev`            |
 * | SNAPSHOT_INTERVAL    | time between periodic snapshots, 1 second to 1 day         | `5 minutes`      |
 * | PG_MAX_CONNECTIONS   | PostgreSQL pool size, at least 1                           | 10               |
 * | PGLITE_DATA_DIR      | where the embedded PostgreSQL keeps its files              | `.data/pglite`   |
 * | MIGRATE_ON_START     | apply pending migrations when the stores start             | true             |
 * | LEASE_TTL            | life of a session lease without renewal (a dead runner's   | `15 seconds`     |
 * |                      | session is free after it), 1 second to 1 day               |                  |
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

/** The longest lease: a dead runner's session stays blocked this long, and PostgreSQL's intervals must hold it. */
export const maxLeaseTtl = Duration.days(1)

/** A duration setting within `[min, max]`, said in the words `bounds`. */
const boundedDuration = (name: string, min: Duration.Duration, max: Duration.Duration, bounds: string) =>
  Config.schema(
    Schema.DurationFromString.check(
      Schema.makeFilter((value) =>
        (Duration.isGreaterThanOrEqualTo(value, min) && Duration.isLessThanOrEqualTo(value, max)) || `must be ${bounds}`
      )
    ),
    name
  )

const postgresSchemes = ["postgres:", "postgresql:"]
const redisSchemes = ["redis:", "rediss:"]

/**
 * What is wrong with `text` as a URL with one of `schemes` (`postgres:`, ...), if anything; said
 * without the value, which may hold a password.
 */
const urlProblem = (text: string, schemes: ReadonlyArray<string>): string | undefined => {
  const expected = `must be a ${schemes.join(" or ")} URL`
  if (!URL.canParse(text)) return `${expected} (it does not parse as a URL)`
  const { protocol } = new URL(text)
  return schemes.includes(protocol) ? undefined : `${expected}, not ${protocol}`
}

/** The secret connection URL in `name`, checked to be a URL with one of `schemes`. */
const connectionUrl = (name: string, schemes: ReadonlyArray<string>) =>
  Config.schema(Schema.Redacted(Schema.String.check(Schema.makeFilter((text) => urlProblem(text, schemes) ?? true))), name)

/** The entries of a comma-separated list, trimmed, empty ones dropped. */
const listEntries = (text: string): Array<string> => text.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "")

/** The secret connection URLs listed in `name`, comma-separated, each checked to be a URL with one of `schemes`. */
const connectionUrls = (name: string, schemes: ReadonlyArray<string>) =>
  Config.schema(
    Schema.Redacted(Schema.String.check(Schema.makeFilter((text) =>
      listEntries(text).flatMap((entry, i) => {
        const problem = urlProblem(entry, schemes)
        return problem === undefined ? [] : [`entry ${i + 1} ${problem}`]
      })
    ))),
    name
  ).pipe(Config.map((nodes) => listEntries(Redacted.value(nodes)).map((node) => Redacted.make(node))))

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
  databaseUrl: Config.option(connectionUrl("DATABASE_URL", postgresSchemes)),
  redisUrl: Config.option(connectionUrl("REDIS_URL", redisSchemes)),
  redisClusterNodes: connectionUrls("REDIS_CLUSTER_NODES", redisSchemes).pipe(Config.withDefault([])),
  env: Config.schema(Env, "STATE_ENV").pipe(Config.withDefault(Schema.decodeSync(Env)("dev"))),
  snapshotInterval: boundedDuration("SNAPSHOT_INTERVAL", Duration.seconds(1), Duration.days(1), "between 1 second and 1 day").pipe(
    Config.withDefault(Duration.minutes(5))
  ),
  pgMaxConnections: Config.schema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)), "PG_MAX_CONNECTIONS").pipe(Config.withDefault(10)),
  pgliteDataDir: Config.String("PGLITE_DATA_DIR").pipe(Config.withDefault(".data/pglite")),
  migrateOnStart: Config.Boolean("MIGRATE_ON_START").pipe(Config.withDefault(true)),
  leaseTtl: boundedDuration(
    "LEASE_TTL",
    minLeaseTtl,
    maxLeaseTtl,
    "between 1 second (the lease is renewed every third of it) and 1 day"
  ).pipe(Config.withDefault(Duration.seconds(15)))
})
