/**
 * RedisClient: one ioredis connection as a scoped resource.
 *
 * Connects on acquire (a refused or silent server is a typed `Unreachable`
 * within the connect timeout), quits on release, and never leaves an `error`
 * event unhandled. Commands do not queue while the connection is down: they
 * fail at once as `Unreachable`, so that a caller can fall back instead of
 * hanging. ioredis keeps reconnecting in the background, so the client
 * recovers by itself when the server comes back.
 */
import { Context, Duration, Effect, Layer, Redacted } from "effect"
import { Cluster, Redis as IORedis } from "ioredis"
import { redactPasswords } from "./internal/ConnectionString.ts"
import { errorCodeOf } from "./internal/ErrorCode.ts"
import { certificateFailure, redisTls } from "./internal/Tls.ts"
import { StoreError } from "./StoreError.ts"

/** A connection to one Redis server, or to a Redis Cluster. */
export type RedisConnection = IORedis | Cluster

/** Settings of the Redis connection. */
export interface RedisClientOptions {
  /** One server. */
  readonly url: Redacted.Redacted<string>
  /** A Redis Cluster: some of its nodes (`redis://host:port` each); `url` is then ignored. */
  readonly clusterNodes?: ReadonlyArray<Redacted.Redacted<string>>
  /** The CA (PEM) a `rediss:` server's certificate is verified against (default: the system's CAs). */
  readonly ca?: string
  /** How long connecting may take before the server counts as unreachable. */
  readonly connectTimeout?: Duration.Input
  /** How long one command may take before the server counts as unreachable. */
  readonly commandTimeout?: Duration.Input
  /**
   * Commands sent in the same tick go out in one write (ioredis' auto-pipelining; default off). It
   * saves system time (one syscall per tick, not per save) but measured no faster with 100 sessions
   * saving in one process, whose bound is the main thread's user time (`npm run bench`, 5b).
   */
  readonly autoPipelining?: boolean
}

/** A connected ioredis client and a way to run commands with typed failures. */
export class RedisClient extends Context.Service<RedisClient, {
  readonly client: RedisConnection
  /** The servers to run a command on once each (SCAN): the server, or every master of the cluster. */
  readonly masters: () => ReadonlyArray<IORedis>
  /** Runs `f` on the client; any failure becomes `Unreachable` (connection) or `StoreFailure` (a Redis error reply). */
  readonly use: <A>(command: string, f: (client: RedisConnection) => Promise<A>) => Effect.Effect<A, StoreError>
}>()("arbitrage-state/store/RedisClient") {}

/** Whether a failure from ioredis means the server could not be reached (as opposed to a Redis error reply). */
const isConnectionFailure = (cause: unknown): boolean => {
  if (!(cause instanceof Error)) return true
  if (cause.name === "ReplyError") return false
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|Connection is closed|Command timed out|Stream isn't writeable|connect|MaxRetriesPerRequest/i
    .test(`${errorCodeOf(cause) ?? ""} ${cause.message}`)
}

/** The password of a node URL, when it has one. */
const passwordOf = (node: Redacted.Redacted<string>): { readonly password?: string; readonly username?: string } => {
  const url = new URL(Redacted.value(node))
  return {
    ...(url.password === "" ? {} : { password: decodeURIComponent(url.password) }),
    ...(url.username === "" ? {} : { username: decodeURIComponent(url.username) })
  }
}

/** A failure's message, without the password of any URL it quotes; a certificate that did not verify, in words. */
const describe = (cause: unknown) =>
  certificateFailure(cause, "REDIS_CA_FILE") ?? redactPasswords(cause instanceof Error ? cause.message : String(cause))

/** ioredis' `tls` option for `url`: TLS for `rediss:`, verified against `ca` when given. */
const tlsOf = (url: Redacted.Redacted<string>, ca: string | undefined) => {
  const tls = redisTls(Redacted.value(url), ca)
  return tls === undefined ? {} : { tls }
}

/** Connects to Redis; the connection is closed when the scope closes. */
export const make = Effect.fnUntraced(function*(options: RedisClientOptions) {
  const connectTimeout = Duration.toMillis(Duration.fromInputUnsafe(options.connectTimeout ?? "3 seconds"))
  const commandTimeout = Duration.toMillis(Duration.fromInputUnsafe(options.commandTimeout ?? "3 seconds"))
  const client = yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const client: RedisConnection = options.clusterNodes !== undefined && options.clusterNodes.length > 0
          ? new Cluster(options.clusterNodes.map((node) => {
            const url = new URL(Redacted.value(node))
            return { host: url.hostname, port: Number(url.port || 6379) }
          }), {
            lazyConnect: true,
            enableOfflineQueue: false,
            enableAutoPipelining: options.autoPipelining ?? false,
            clusterRetryStrategy: (times) => Math.min(times * 100, 2_000),
            redisOptions: {
              connectTimeout,
              commandTimeout,
              maxRetriesPerRequest: 1,
              disconnectTimeout: 200,
              ...passwordOf(options.clusterNodes[0]!),
              ...tlsOf(options.clusterNodes[0]!, options.ca)
            }
          })
          : new IORedis(Redacted.value(options.url), {
            ...tlsOf(options.url, options.ca),
            lazyConnect: true,
            connectTimeout,
            commandTimeout,
            enableOfflineQueue: false,
            enableAutoPipelining: options.autoPipelining ?? false,
            maxRetriesPerRequest: 1,
            disconnectTimeout: 200,
            retryStrategy: (times) => Math.min(times * 100, 2_000)
          })
        let lastError: unknown
        // ioredis emits `error` on every failed (re)connect; without a listener Node would crash.
        client.on("error", (error) => {
          lastError = error
        })
        // A cluster whose ready check keeps failing (a refused CLUSTER INFO, a cluster not ok) never
        // settles its connect: it is given up after the connect timeout, three times over.
        let timer: NodeJS.Timeout | undefined
        const givenUp = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no ready connection within ${connectTimeout * 3} ms`)), connectTimeout * 3)
        })
        try {
          await Promise.race([client.connect(), givenUp])
        } catch (error) {
          client.disconnect()
          throw lastError ?? error
        } finally {
          clearTimeout(timer)
        }
        return client
      },
      catch: (cause) => {
        const plain = new URL(Redacted.value(options.clusterNodes?.[0] ?? options.url)).protocol === "redis:"
        const reset = errorCodeOf(cause) === "ECONNRESET"
        return StoreError.unreachable(
          "redis",
          `cannot connect to redis: ${describe(cause)}${reset && plain ? " (a server that speaks TLS only resets a plain connection: if it does, use a rediss: URL)" : ""}`
        )
      }
    }),
    (client) => Effect.promise(() => client.quit().catch(() => client.disconnect())).pipe(Effect.ignore)
  )
  // ioredis goes on in database 0 when the SELECT of the URL's database fails (a number the server
  // does not have): the keys would land where nobody looks. The connection says which it is in.
  const wanted = Number(new URL(Redacted.value(options.url)).pathname.slice(1) || "0")
  if (!(client instanceof Cluster) && wanted !== 0) {
    const info = yield* Effect.tryPromise({
      try: () => client.call("CLIENT", "INFO"),
      catch: (cause) => StoreError.unreachable("redis", `cannot connect to redis: ${describe(cause)}`)
    })
    const db = /\bdb=(\d+)/.exec(String(info))?.[1]
    if (db !== String(wanted)) {
      return yield* StoreError.failure("redis", `the Redis URL names database ${wanted}, which the server refused (it has fewer: see its "databases" setting)`)
    }
  }
  const use = <A>(command: string, f: (client: RedisConnection) => Promise<A>): Effect.Effect<A, StoreError> =>
    Effect.tryPromise({
      try: () => f(client),
      catch: (cause) =>
        isConnectionFailure(cause)
          ? StoreError.unreachable("redis", `${command} failed: ${describe(cause)}`)
          : StoreError.failure("redis", `${command} failed: ${describe(cause)}`)
    })
  const masters = () => (client instanceof Cluster ? client.nodes("master") : [client])
  return RedisClient.of({ client, masters, use })
})

/** A layer with one connection to `options.url`. */
export const layer = (options: RedisClientOptions): Layer.Layer<RedisClient, StoreError> =>
  Layer.effect(RedisClient, make(options))
