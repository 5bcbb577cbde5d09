/**
 * The environment the CLI reads (src/config.ts), as an operator sets it: a
 * value out of bounds is refused before anything starts, with one line that
 * names the variable and exit 2, never a hang, a stack trace or a silent
 * default.
 */
import { assert, describe, it } from "@effect/vitest"
import { Redacted } from "effect"
import { createServer } from "node:net"
import { runCli } from "../support/Cli.ts"
import { freePort } from "../support/Ports.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"

const env = {
  DATABASE_URL: Redacted.value(testDatabaseUrl),
  REDIS_URL: Redacted.value(testRedisUrl),
  STATE_ENV: uniqueEnv("cliconfig")
}

/** Runs `sessions` (a command that reads the whole configuration) with `variables` set. */
const sessionsWith = (variables: Record<string, string>) => runCli(["sessions"], { ...env, ...variables })

/** Asserts a refusal: exit 2, one line on stderr naming `variable` and saying `says`. */
const assertRefused = (run: ReturnType<typeof runCli>, variable: string, says: string) => {
  assert.strictEqual(run.status, 2, run.stderr)
  const lines = run.stderr.trim().split("\n")
  assert.lengthOf(lines, 1, run.stderr)
  assert.include(lines[0], `configuration: ${variable}: `)
  assert.include(lines[0], says)
  assert.notInclude(run.stderr + run.stdout, "    at ")
}

describe("cli configuration", () => {
  it("the configuration the suite uses is accepted (so each refusal below is for its own variable)", () => {
    const run = sessionsWith({ PG_MAX_CONNECTIONS: "1", LEASE_TTL: "1 second" })
    assert.strictEqual(run.status, 0, run.stderr)
  })

  for (const value of ["0", "-3"]) {
    it(`PG_MAX_CONNECTIONS=${value} (a pool that could never connect): exit 2 naming it, no hang`, () => {
      assertRefused(sessionsWith({ PG_MAX_CONNECTIONS: value }), "PG_MAX_CONNECTIONS", "greater than or equal to 1")
    })
  }

  for (const value of ["0 seconds", "-5 seconds", "999 millis", "Infinity", "999999999 weeks", "25 hours"]) {
    it(`LEASE_TTL=${value}: exit 2, between 1 second and 1 day`, () => {
      assertRefused(sessionsWith({ LEASE_TTL: value }), "LEASE_TTL", "between 1 second (the lease is renewed every third of it) and 1 day")
    })
  }

  for (const value of ["-5 minutes", "0 seconds", "Infinity"]) {
    it(`SNAPSHOT_INTERVAL=${value}: exit 2, between 1 second and 1 day`, () => {
      assertRefused(sessionsWith({ SNAPSHOT_INTERVAL: value }), "SNAPSHOT_INTERVAL", "between 1 second and 1 day")
    })
  }

  for (const value of ["not a url", "http://postgres@127.0.0.1:5432/test", "redis://127.0.0.1:6379/0"]) {
    it(`DATABASE_URL=${value}: a configuration error (exit 2), not an unreachable store (exit 4)`, () => {
      assertRefused(sessionsWith({ DATABASE_URL: value }), "DATABASE_URL", "postgres: or postgresql:")
    })
  }

  for (const value of ["0", "70000", "metrics"]) {
    it(`METRICS_PROMETHEUS_PORT=${value}: exit 2 naming it`, () => {
      assertRefused(sessionsWith({ METRICS_PROMETHEUS_PORT: value }), "METRICS_PROMETHEUS_PORT", "")
    })
  }

  it("METRICS_PROMETHEUS_PORT already in use: exit 2, one line saying so", async () => {
    const port = await freePort()
    const occupant = createServer()
    await new Promise<void>((resolve) => occupant.listen(port, "127.0.0.1", resolve))
    try {
      const run = sessionsWith({ METRICS_PROMETHEUS_PORT: String(port) })
      assert.strictEqual(run.status, 2, run.stderr)
      assert.deepStrictEqual(
        run.stderr.trim().split("\n"),
        [`configuration: METRICS_PROMETHEUS_PORT: cannot serve metrics on 127.0.0.1:${port}: address already in use`]
      )
    } finally {
      await new Promise((resolve) => occupant.close(resolve))
    }
  })

  for (const [value, says] of [
    ["redis:/x:pw@127.0.0.1:6379", "with a host (redis://HOST:PORT)"],
    ["redis:127.0.0.1:6379", "with a host"],
    ["redis://127.0.0.1:6379/abc", "must name its database by number"],
    ["redis://127.0.0.1:6379/0/1", "must name its database by number"]
  ] as const) {
    it(`REDIS_URL=${value}: exit 2 (ioredis would take it for a socket path, or crash on SELECT NaN)`, () => {
      assertRefused(sessionsWith({ REDIS_URL: value }), "REDIS_URL", says)
    })
  }

  it("a REDIS_URL database the server does not have: refused when connecting (ioredis would go on in database 0)", () => {
    const run = sessionsWith({ REDIS_URL: `${Redacted.value(testRedisUrl).replace(/\/\d*$/, "")}/999` })
    assert.strictEqual(run.status, 6, run.stderr)
    assert.include(run.stderr, "the Redis URL names database 999, which the server refused")
  })

  it("DATABASE_URL with the postgresql: scheme is accepted", () => {
    const run = sessionsWith({ DATABASE_URL: Redacted.value(testDatabaseUrl).replace(/^postgres:/, "postgresql:") })
    assert.strictEqual(run.status, 0, run.stderr)
  })
})
