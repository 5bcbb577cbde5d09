/**
 * The one place that reads the environment: the persistence stack's settings
 * (`persistenceConfig`), the metrics exporter's (`metricsExporterConfig`),
 * `import-d70`'s Redis (`d70RedisUrlConfig`) and the tests' crash point.
 * `settings` lists every variable read here with its meaning and default; the
 * CLI's root help (`npm run cli -- --help`) prints it, and a test holds it to
 * what the two configs actually read.
 *
 * A value out of bounds is a `ConfigError` naming the variable; its message never holds the
 * value, which may be a secret.
 *
 * @module
 */
import { errorCodeOf } from "./store/internal/ErrorCode.ts"
import { Config, ConfigProvider, Duration, Option, Redacted, Result, Schema } from "effect"
import { Env } from "./domain/Ids.ts"
import { readFileSync } from "node:fs"
import { postgresTlsProblem, readCaFile, redisTlsProblem } from "./store/internal/Tls.ts"
import { parseStateKeys, type StateProtection } from "./store/StateProtection.ts"

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
/** The URL schemes a Redis connection takes: plain or TLS. */
export const redisSchemes = ["redis:", "rediss:"]

/**
 * What is wrong with `text` as a URL with one of `schemes` (`postgres:`, ...), if anything; said
 * without the value, which may hold a password.
 */
export const urlProblem = (text: string, schemes: ReadonlyArray<string>): string | undefined => {
  const expected = `must be a ${schemes.join(" or ")} URL`
  // A URL holds no space or control character (RFC 3986): a password with one must be
  // percent-encoded. Refused here, such a password never reaches a driver's words, where no
  // redaction could tell where it ends.
  if (/[\s\p{Cc}]/u.test(text)) return `${expected} (it holds a space or a control character: percent-encode it, a space as %20)`
  if (!URL.canParse(text)) return `${expected} (it does not parse as a URL)`
  const url = new URL(text)
  if (!schemes.includes(url.protocol)) return `${expected}, not ${url.protocol}`
  // `redis:user:pw@host` parses too, as a path: a driver would take it for a socket's, and quote it.
  if (!text.toLowerCase().startsWith(`${url.protocol}//`) || url.hostname === "") return `${expected} with a host (${url.protocol}//HOST:PORT)`
  return undefined
}

/** What is wrong with `text` as a Redis URL: a URL's, or a path that is not a database number. */
export const redisUrlProblem = (text: string): string | undefined => {
  const problem = urlProblem(text, redisSchemes)
  if (problem !== undefined) return problem
  const path = new URL(text).pathname
  return path === "" || path === "/" || /^\/\d{1,5}$/.test(path) ? undefined : "must name its database by number, as redis://HOST:PORT/0, if at all"
}

/** What is wrong with `text` as a PostgreSQL URL, its TLS settings (`sslmode`, `sslrootcert`) included. */
const postgresUrlProblem = (text: string): string | undefined => urlProblem(text, postgresSchemes) ?? postgresTlsProblem(new URL(text))

/** The secret connection URL in `name`, checked by `problem`. */
const connectionUrl = (name: string, problem: (text: string) => string | undefined) =>
  Config.schema(Schema.Redacted(Schema.String.check(Schema.makeFilter((text) => problem(text) ?? true))), name)

/** A CA file's path in `name`, checked to hold PEM certificates. */
const caFile = (name: string) =>
  Config.schema(Schema.String.check(Schema.makeFilter((path) => {
    const read = readCaFile(path)
    return "problem" in read ? read.problem : true
  })), name)

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

/** A variable read from the environment: what it means and what holds without it. */
export interface Setting {
  readonly variable: string
  readonly meaning: string
  readonly default: string
}

/** Every variable read here, in the order the help lists them. */
export const settings: ReadonlyArray<Setting> = [
  {
    variable: "DATABASE_URL",
    meaning:
      "PostgreSQL for the durable snapshots, a postgres: or postgresql: URL (never printed); TLS by its sslmode (require, verify-ca, verify-full) and sslrootcert=CA-FILE",
    default: "the embedded PostgreSQL"
  },
  { variable: "REDIS_URL", meaning: "Redis for the live state, a redis: or rediss: URL (never printed)", default: "in memory" },
  { variable: "REDIS_CA_FILE", meaning: "the CA (PEM) a rediss: server's certificate is verified against", default: "the system's CAs" },
  { variable: "REDIS_CLUSTER_NODES", meaning: "a Redis Cluster for the live state instead: node URLs, comma-separated", default: "none" },
  {
    variable: "STATE_KEYS",
    meaning: "keys that seal every snapshot and live state against forgery: ID:BASE64-SECRET (32+ bytes), comma-separated, newest last (never printed)",
    default: "none: state is not sealed"
  },
  { variable: "STATE_KEYS_FILE", meaning: "a file holding STATE_KEYS instead, one key a line", default: "none" },
  { variable: "STATE_ENCRYPTION", meaning: "aes-256-gcm: store every section encrypted under the newest key (needs STATE_KEYS); off", default: "off" },
  { variable: "STATE_ENV", meaning: "namespace of keys and rows (dev, test, prod, ...)", default: "dev" },
  { variable: "SNAPSHOT_INTERVAL", meaning: "time between periodic snapshots, 1 second to 1 day", default: "5 minutes" },
  { variable: "PG_MAX_CONNECTIONS", meaning: "PostgreSQL pool size, at least 1", default: "10" },
  { variable: "PGLITE_DATA_DIR", meaning: "where the embedded PostgreSQL keeps its files", default: ".data/pglite" },
  { variable: "MIGRATE_ON_START", meaning: "apply pending migrations when the stores start", default: "true" },
  { variable: "LEASE_TTL", meaning: "life of a session lease without renewal (a dead runner's session is free after it), 1 second to 1 day", default: "15 seconds" },
  { variable: "METRICS_PROMETHEUS_PORT", meaning: "serve the metrics as Prometheus text at http://HOST:PORT/metrics, 1 to 65535", default: "off" },
  { variable: "METRICS_PROMETHEUS_HOST", meaning: "the address the metrics are served on", default: "127.0.0.1" },
  { variable: "D70_REDIS_URL", meaning: "import-d70: the D70 deployment's Redis, when --redis-url is not given (never printed)", default: "none" },
  {
    variable: "ARBITRAGE_STATE_CRASH_AT",
    meaning: "for tests: a live run kills itself with SIGKILL at this stage of an order's life (STAGE or STAGE:N, the Nth time)",
    default: "never"
  }
]

/** For `import-d70`: the D70 deployment's Redis, when `--redis-url` does not name it (a command line shows a password to `ps`). */
export const d70RedisUrlConfig: Config.Config<Option.Option<string>> = Config.option(Config.String("D70_REDIS_URL"))

/** For tests: where a live run kills itself (`STAGE` or `STAGE:N`, the Nth time it reaches STAGE). */
export const crashPointConfig: Config.Config<Option.Option<string>> = Config.option(Config.String("ARBITRAGE_STATE_CRASH_AT"))

/** Everything the persistence stack reads from the environment. */
export interface PersistenceConfig {
  readonly databaseUrl: Option.Option<Redacted.Redacted<string>>
  readonly redisUrl: Option.Option<Redacted.Redacted<string>>
  readonly redisClusterNodes: ReadonlyArray<Redacted.Redacted<string>>
  /** The CA a `rediss:` server's certificate is verified against (else the system's). */
  readonly redisCaFile: Option.Option<string>
  readonly env: Env
  readonly snapshotInterval: Duration.Duration
  readonly pgMaxConnections: number
  readonly pgliteDataDir: string
  readonly migrateOnStart: boolean
  readonly leaseTtl: Duration.Duration
  /** The keys state is sealed (and maybe encrypted) with; `None`: state is neither. */
  readonly protection: Option.Option<StateProtection>
}

/** The keys of `STATE_KEYS` or `STATE_KEYS_FILE` (not both), and `STATE_ENCRYPTION`. */
const protectionConfig: Config.Config<Option.Option<StateProtection>> = Config.flatMap(
  Config.all({
    inline: Config.option(Config.Redacted("STATE_KEYS")),
    file: Config.option(Config.String("STATE_KEYS_FILE")),
    encryption: Config.schema(Schema.Literals(["off", "aes-256-gcm"]), "STATE_ENCRYPTION").pipe(Config.withDefault("off" as const))
  }),
  ({ encryption, file, inline }) => {
    const refuse = (message: string) => Config.fail(new ConfigProvider.SourceError({ message }))
    if (Option.isSome(inline) && Option.isSome(file)) return refuse("STATE_KEYS and STATE_KEYS_FILE are both set: set one")
    let text: string | undefined
    let variable = "STATE_KEYS"
    if (Option.isSome(inline)) text = Redacted.value(inline.value)
    if (Option.isSome(file)) {
      variable = "STATE_KEYS_FILE"
      try {
        text = readFileSync(file.value, "utf8")
      } catch (error) {
        return refuse(`STATE_KEYS_FILE: cannot read ${file.value}: ${errorCodeOf(error) ?? "unreadable"}`)
      }
    }
    if (text === undefined) {
      return encryption === "off" ? Config.succeed(Option.none()) : refuse("STATE_ENCRYPTION=aes-256-gcm needs STATE_KEYS (or STATE_KEYS_FILE): there is no key to encrypt with")
    }
    const keys = parseStateKeys(text)
    if (Result.isFailure(keys)) return refuse(`${variable}: ${keys.failure}`)
    return Config.succeed(Option.some({ keys: keys.success, encrypt: encryption === "aes-256-gcm", source: variable === "STATE_KEYS" ? "STATE_KEYS" as const : "STATE_KEYS_FILE" as const }))
  }
)

/** Reads `PersistenceConfig`; a malformed value is a `ConfigError` naming the variable. */
export const persistenceConfig: Config.Config<PersistenceConfig> = Config.flatMap(Config.all({
  databaseUrl: Config.option(connectionUrl("DATABASE_URL", postgresUrlProblem)),
  redisUrl: Config.option(connectionUrl("REDIS_URL", redisUrlProblem)),
  redisCaFile: Config.option(caFile("REDIS_CA_FILE")),
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
  ).pipe(Config.withDefault(Duration.seconds(15))),
  protection: protectionConfig
}), (config) => {
  // The live tier's URLs and its CA file, together: one choice of TLS for all of them.
  const urls = config.redisClusterNodes.length > 0 ? config.redisClusterNodes : Option.toArray(config.redisUrl)
  const problem = redisTlsProblem(urls.map((url) => Redacted.value(url)), Option.isSome(config.redisCaFile))
  const variable = config.redisClusterNodes.length > 0 ? "REDIS_CLUSTER_NODES" : "REDIS_URL"
  return problem === undefined ? Config.succeed(config) : Config.fail(new ConfigProvider.SourceError({ message: `${variable}: ${problem}` }))
})

/** Where the metrics exporter listens: no port, no exporter. */
export interface MetricsExporterConfig {
  readonly port: Option.Option<number>
  readonly host: string
}

/** Reads `MetricsExporterConfig`; a port that is not one is a `ConfigError` naming the variable. */
export const metricsExporterConfig: Config.Config<MetricsExporterConfig> = Config.all({
  port: Config.option(Config.Port("METRICS_PROMETHEUS_PORT")),
  host: Config.String("METRICS_PROMETHEUS_HOST").pipe(Config.withDefault("127.0.0.1"))
})
