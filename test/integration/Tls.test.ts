/**
 * Encrypted connections to both tiers, against servers of the test's own
 * that speak TLS only (a redis-server with `--tls-port`, a PostgreSQL whose
 * pg_hba.conf takes `hostssl` only) with certificates the test makes: a run
 * over TLS, verified against the test's CA, works and restores; a CA that
 * did not sign the server's certificate, or a certificate issued to another
 * host, is refused naming the cause; a plain connection fails saying the
 * server wants TLS; settings that cannot work are configuration errors.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import { randomInt } from "node:crypto"
import { type CliRun, runCli } from "../support/Cli.ts"
import { testDatabaseUrl, uniqueEnv } from "../support/Services.ts"
import { type Certificates, certificates, tlsPostgres, tlsRedis, tlsRedisCluster } from "../support/TlsServers.ts"

class Servers extends Context.Service<Servers, {
  readonly certs: Certificates
  readonly redisPort: number
  /** A TLS Redis whose certificate the CA signed for another host. */
  readonly elsewhereRedisPort: number
  readonly postgresUrl: (query: string) => string
  readonly clusterPorts: ReadonlyArray<number>
}>()("test/TlsServers") {}

const servers = Layer.effect(
  Servers,
  Effect.gen(function*() {
    const certs = yield* certificates
    const [redis, elsewhere, postgres, cluster] = yield* Effect.all(
      [tlsRedis(certs), tlsRedis(certs, { elsewhere: true }), tlsPostgres(certs), tlsRedisCluster(certs)],
      { concurrency: 4 }
    )
    return { certs, redisPort: redis.port, elsewhereRedisPort: elsewhere.port, postgresUrl: postgres.url, clusterPorts: cluster.ports }
  })
)

/** Asserts the run ended with `code` and said `says` (on stderr, or stdout for a report). */
const assertRun = (run: CliRun, code: number, ...says: ReadonlyArray<string>) => {
  const output = run.stderr + run.stdout
  assert.strictEqual(run.status, code, output)
  for (const words of says) assert.include(output, words)
  assert.notInclude(output, "    at ")
}

// The real clock: the servers start on their own time.
layer(servers, { timeout: "120 seconds", excludeTestServices: true })("TLS to both tiers", (it) => {
  const verified = (s: Servers["Service"]) => ({
    DATABASE_URL: s.postgresUrl(`?sslmode=verify-full&sslrootcert=${s.certs.caFile}`),
    REDIS_URL: `rediss://127.0.0.1:${s.redisPort}`,
    REDIS_CA_FILE: s.certs.caFile,
    STATE_ENV: uniqueEnv("tls")
  })

  it.effect("a run over TLS to both, each server verified against the test's CA, runs and restores", () =>
    Effect.gen(function*() {
      const s = yield* Servers
      const env = verified(s)
      const session = `sess_tls${randomInt(1e9).toString(36)}`
      assertRun(runCli(["run", "--mode", "clean", "--session", session, "--loops", "5", "--seed", "1"], env), 0)
      const restored = runCli(["restore", "--session", session, "--dry-run", "--json"], env)
      assertRun(restored, 0)
      const report = JSON.parse(restored.stdout.trim().split("\n").at(-1)!)
      assert.strictEqual(report.state.session.loopCount, 5)
      // libpq's other modes: require encrypts without checking the certificate, verify-ca checks its CA, not its host.
      for (const query of ["?sslmode=require", `?sslmode=verify-ca&sslrootcert=${s.certs.caFile}`, `?sslmode=require&sslrootcert=${s.certs.caFile}`]) {
        assertRun(runCli(["sessions"], { ...env, DATABASE_URL: s.postgresUrl(query) }), 0, session)
      }
    }))

  it.effect("a Redis Cluster over TLS (rediss: nodes, checked against the CA): a run and its restore; plain nodes fail", () =>
    Effect.gen(function*() {
      const s = yield* Servers
      const nodes = (scheme: string) => s.clusterPorts.map((port) => `${scheme}://127.0.0.1:${port}`).join(",")
      const env = { ...verified(s), REDIS_CLUSTER_NODES: nodes("rediss") }
      const session = `sess_tlsc${randomInt(1e9).toString(36)}`
      assertRun(runCli(["run", "--mode", "clean", "--session", session, "--loops", "5", "--seed", "2"], env), 0)
      const restored = runCli(["restore", "--session", session, "--dry-run", "--json"], env)
      assertRun(restored, 0)
      assert.strictEqual(JSON.parse(restored.stdout.trim().split("\n").at(-1)!).state.session.loopCount, 5)
      const { REDIS_CA_FILE: _ca, ...plain } = env
      assertRun(runCli(["sessions"], { ...plain, REDIS_CLUSTER_NODES: nodes("redis") }), 4, "cannot connect to redis")
    }))

  it.effect("a CA that did not sign the server's certificate is refused, naming the cause and the setting; so is a certificate for another host", () =>
    Effect.gen(function*() {
      const s = yield* Servers
      const env = verified(s)
      assertRun(
        runCli(["sessions"], { ...env, DATABASE_URL: s.postgresUrl(`?sslmode=verify-full&sslrootcert=${s.certs.otherCaFile}`) }),
        4,
        "TLS refused the server: its certificate is not signed by a trusted CA",
        "sslrootcert in DATABASE_URL names the CA to trust"
      )
      // Without sslrootcert, verify-full trusts the system's CAs, which did not sign it either.
      assertRun(runCli(["sessions"], { ...env, DATABASE_URL: s.postgresUrl("?sslmode=verify-full") }), 4, "TLS refused the server")
      assertRun(runCli(["sessions"], { ...env, REDIS_CA_FILE: s.certs.otherCaFile }), 4, "TLS refused the server: its certificate chain ends in a CA that is not trusted", "REDIS_CA_FILE")
      assertRun(
        runCli(["sessions"], { ...env, REDIS_URL: `rediss://127.0.0.1:${s.elsewhereRedisPort}` }),
        4,
        "TLS refused the server: its certificate is not issued to the host connected to (ERR_TLS_CERT_ALTNAME_INVALID)"
      )
    }))

  it.effect("a plain connection to a server that takes TLS only fails, saying to ask for TLS", () =>
    Effect.gen(function*() {
      const s = yield* Servers
      const env = verified(s)
      const { REDIS_CA_FILE: _ca, ...plain } = env
      assertRun(runCli(["sessions"], { ...plain, REDIS_URL: `redis://127.0.0.1:${s.redisPort}` }), 4, "use a rediss: URL")
      for (const query of ["", "?sslmode=disable"]) {
        assertRun(runCli(["sessions"], { ...env, DATABASE_URL: s.postgresUrl(query) }), 6, "no encryption", "give DATABASE_URL sslmode=verify-full")
      }
    }))

  it.effect("TLS settings that cannot work are configuration errors (exit 2), the URL's password nowhere", () =>
    Effect.gen(function*() {
      const s = yield* Servers
      const env = verified(s)
      const database = (query: string) => `postgres://postgres:SECRET-tls-pw@127.0.0.1:5432/test${query}`
      const cases: ReadonlyArray<readonly [Record<string, string>, string]> = [
        [{ DATABASE_URL: database("?sslmode=sometimes") }, "DATABASE_URL: sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full"],
        [{ DATABASE_URL: database("?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem") }, "sslrootcert: cannot read the CA file /nonexistent/ca.pem (ENOENT)"],
        [{ DATABASE_URL: database(`?sslmode=disable&sslrootcert=${s.certs.caFile}`) }, "sslrootcert is only used with sslmode=require, verify-ca or verify-full"],
        [{ REDIS_CA_FILE: s.certs.keyFile }, `REDIS_CA_FILE: the CA file ${s.certs.keyFile} holds no PEM certificate`],
        // What the driver would ignore, and connect in plain text: refused, as libpq refuses it.
        [{ DATABASE_URL: database("?SSLMODE=verify-full") }, `DATABASE_URL: unknown parameter "SSLMODE"`],
        [{ DATABASE_URL: database("?ssl=true") }, `DATABASE_URL: unknown parameter "ssl"`],
        [{ DATABASE_URL: database("?sslmode=disable&sslmode=verify-full") }, `DATABASE_URL: parameter "sslmode" given twice`],
        [{ REDIS_URL: `redis://127.0.0.1:${s.redisPort}` }, "REDIS_URL: REDIS_CA_FILE is only used with rediss: URLs"],
        [{ REDIS_CLUSTER_NODES: `rediss://127.0.0.1:${s.clusterPorts[0]},redis://127.0.0.1:${s.clusterPorts[1]}` }, "REDIS_CLUSTER_NODES: the nodes mix redis: and rediss:"],
        [{ REDIS_CLUSTER_NODES: `rediss://a:pw1@127.0.0.1:${s.clusterPorts[0]},rediss://a:pw2@127.0.0.1:${s.clusterPorts[1]}` }, "the nodes' users or passwords differ"]
      ]
      for (const [changed, says] of cases) {
        const run = runCli(["sessions"], { ...env, ...changed })
        assertRun(run, 2, says)
        assert.notInclude(run.stderr + run.stdout, "SECRET-tls-pw")
      }
      // The shared database is untouched by all this: still reachable without TLS.
      assertRun(runCli(["sessions"], { DATABASE_URL: Redacted.value(testDatabaseUrl), STATE_ENV: env.STATE_ENV }), 0)
    }))
})
