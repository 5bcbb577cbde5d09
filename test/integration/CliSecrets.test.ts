/**
 * A connection string's password never reaches the operator's screen: the
 * CLI as a process, with Redis and PostgreSQL URLs that are malformed (a
 * configuration error, exit 2) or point where nothing listens (unreachable,
 * exit 4), for every command that connects, and for `supervise`, whose
 * runner inherits the environment.
 */
import { assert, describe, it } from "@effect/vitest"
import { Redacted } from "effect"
import { randomInt } from "node:crypto"
import { runCli } from "../support/Cli.ts"
import { freePort } from "../support/Ports.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"

const secret = "SECRET-pw-7f3a"
const env = {
  DATABASE_URL: Redacted.value(testDatabaseUrl),
  REDIS_URL: Redacted.value(testRedisUrl),
  STATE_ENV: uniqueEnv("clisecrets")
}
const session = () => `sess_secret${randomInt(1e9).toString(36)}`

/** The commands that connect to the stores, each as an operator would run it. */
const commands: ReadonlyArray<{ readonly name: string; readonly args: () => ReadonlyArray<string> }> = [
  { name: "run", args: () => ["run", "--mode", "clean", "--session", session(), "--loops", "3", "--seed", "1"] },
  { name: "health", args: () => ["health"] },
  { name: "resume-all", args: () => ["resume-all", "--loops", "3"] },
  { name: "sessions", args: () => ["sessions"] }
]

/** Asserts the run ended with `code`, its output saying `says` (`health` reports on stdout), and the secret nowhere. */
const assertNoSecret = (run: ReturnType<typeof runCli>, code: number, says: string) => {
  const output = run.stderr + run.stdout
  assert.notInclude(output, secret)
  assert.strictEqual(run.status, code, output)
  assert.include(output, says)
  assert.notInclude(output, "    at ")
}

describe("cli secrets", () => {
  for (const command of commands) {
    it(`${command.name} with a REDIS_URL that is not a redis: URL: exit 2 naming it, the password nowhere`, async () => {
      const run = runCli(command.args(), { ...env, REDIS_URL: `http://x:${secret}@127.0.0.1:${await freePort()}` })
      assertNoSecret(run, 2, "configuration: REDIS_URL: must be a redis: or rediss: URL, not http:")
    })

    it(`${command.name} with a Redis that does not answer: exit 4, the password nowhere`, async () => {
      const run = runCli(command.args(), { ...env, REDIS_URL: `redis://:${secret}@127.0.0.1:${await freePort()}/0` })
      assertNoSecret(run, 4, "ECONNREFUSED")
    })
  }

  it("a REDIS_URL that does not parse as a URL: exit 2, the password nowhere", () => {
    assertNoSecret(runCli(["sessions"], { ...env, REDIS_URL: `x:${secret}@127.0.0.1:6379 with spaces` }), 2, "REDIS_URL")
  })

  it("a URL whose password holds a literal space (REDIS_URL, DATABASE_URL, import-d70's --redis-url): exit 2 saying to encode it, the password nowhere", () => {
    const spaced = `${secret} and more`
    assertNoSecret(runCli(["sessions"], { ...env, REDIS_URL: `redis://x:${spaced}@127.0.0.1:6379` }), 2, "REDIS_URL: must be a redis: or rediss: URL (it holds a space")
    assertNoSecret(runCli(["sessions"], { ...env, DATABASE_URL: `postgres://postgres:${spaced}@127.0.0.1:5432/test` }), 2, "percent-encode it, a space as %20")
    assertNoSecret(runCli(["sessions"], { ...env, DATABASE_URL: `postgres://127.0.0.1:5432/test?password=${spaced}` }), 2, "DATABASE_URL")
    assertNoSecret(runCli(["import-d70", "--redis-url", `redis://x:${spaced}@127.0.0.1:6379`, "--env", "test"], env), 2, "--redis-url must be a redis: or rediss: URL (it holds a space")
  })

  it("a URL without //, whose password a driver would quote as a socket path: exit 2, the password nowhere", () => {
    for (const url of [`redis:/x:${secret}@127.0.0.1:6379`, `redis:${secret}@127.0.0.1:6379`, `redis:default:${secret}@127.0.0.1:6379`]) {
      assertNoSecret(runCli(["sessions"], { ...env, REDIS_URL: url }), 2, "with a host (redis://HOST:PORT)")
      assertNoSecret(runCli(["import-d70", "--redis-url", url, "--env", "test"], env), 2, "--redis-url must be a redis: or rediss: URL with a host")
    }
    assertNoSecret(runCli(["sessions"], { ...env, DATABASE_URL: `postgres:postgres:${secret}@127.0.0.1:5432/test` }), 2, "DATABASE_URL")
  })

  it("a REDIS_CLUSTER_NODES entry that is not a redis: URL: exit 2 naming it, the password nowhere", () => {
    const run = runCli(["sessions"], { ...env, REDIS_CLUSTER_NODES: `redis://127.0.0.1:7000, http://x:${secret}@127.0.0.1:7001` })
    assertNoSecret(run, 2, "configuration: REDIS_CLUSTER_NODES: ")
  })

  it("a DATABASE_URL that is not a postgres: URL: exit 2 naming it, the password nowhere", () => {
    assertNoSecret(runCli(["sessions"], { ...env, DATABASE_URL: `http://postgres:${secret}@127.0.0.1:5432/test` }), 2, "configuration: DATABASE_URL")
  })

  it("a PostgreSQL that does not answer: exit 4, the password nowhere", async () => {
    const run = runCli(["sessions"], { ...env, DATABASE_URL: `postgres://postgres:${secret}@127.0.0.1:${await freePort()}/test` })
    assertNoSecret(run, 4, "postgres")
  })

  it("supervise, whose runner inherits a REDIS_URL that is not a redis: URL: exit 2 (not restarted), the password nowhere", async () => {
    const run = runCli(
      ["supervise", "--session", session(), "--loops", "3", "--seed", "1"],
      { ...env, REDIS_URL: `http://x:${secret}@127.0.0.1:${await freePort()}` }
    )
    assertNoSecret(run, 2, "configuration: REDIS_URL")
  })

  it("supervise, whose runner cannot reach Redis: restarted, then given up (exit 1), the password nowhere", async () => {
    const run = runCli(
      ["supervise", "--session", session(), "--loops", "3", "--seed", "1", "--max-restarts", "1"],
      { ...env, REDIS_URL: `redis://:${secret}@127.0.0.1:${await freePort()}/0` }
    )
    assertNoSecret(run, 1, "gave up")
  })
})
