/**
 * Least privilege on Redis: an ACL user with only `RedisAcl.liveAclRules`
 * (the project's key prefix, the commands the live tier sends) on a private
 * redis-server runs a session, resumes it, restores it and lists what an
 * import would take; it cannot read or write any other key, nor administer
 * the server. The same user on every node of a Redis Cluster runs and
 * restores a session there.
 */
import { afterAll, assert, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { Effect, Redacted } from "effect"
import { Redis } from "ioredis"
import { randomInt } from "node:crypto"
import { readFileSync } from "node:fs"
import { liveAclRules } from "../../src/store/RedisAcl.ts"
import { runCli } from "../support/Cli.ts"
import { privateRedis } from "../support/PrivateRedis.ts"
import { sharedRedisCluster, stopSharedRedisCluster } from "../support/PrivateRedisCluster.ts"
import { testDatabaseUrl, uniqueEnv } from "../support/Services.ts"

const password = `acl-pw-${randomInt(1e9)}`

it.live("an ACL user limited to the project's keys and commands runs, resumes, restores and imports, and can touch nothing else", () =>
  Effect.scoped(Effect.gen(function*() {
    const redis = yield* privateRedis
    assert.strictEqual(yield* redis.command("ACL", "SETUSER", "arbitrage_state", "on", `>${password}`, ...liveAclRules), "OK")
    const url = `redis://arbitrage_state:${password}@127.0.0.1:${redis.port}/0`
    const env = { DATABASE_URL: Redacted.value(testDatabaseUrl), REDIS_URL: url, STATE_ENV: uniqueEnv("redisacl") }
    const session = `sess_acl${randomInt(1e9).toString(36)}`
    for (const args of [
      ["run", "--mode", "clean", "--session", session, "--loops", "40", "--seed", "4"],
      ["run", "--mode", "resume", "--session", session, "--loops", "60"],
      ["restore", "--session", session, "--dry-run"],
      ["sessions"],
      ["health"]
    ]) {
      const run = runCli(args, env)
      assert.strictEqual(run.status, 0, `${args.join(" ")}: ${run.stderr}${run.stdout}`)
      assert.notInclude(run.stderr + run.stdout, password)
    }
    // D70's keys share the prefix: the same user reads them for an import.
    yield* redis.command("SET", "arbitrage:state:acl70:session_20251120_090301:session", "{}")
    const imported = runCli(["import-d70", "--redis-url", url, "--env", "acl70", "--dry-run", "--json"], env)
    assert.strictEqual(JSON.parse(imported.stdout.trim().split("\n").at(-1)!).sessions[0].reason, "a partial session: it lacks its positions, metrics, risk_guard keys")

    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 })
    yield* Effect.addFinalizer(() => Effect.sync(() => client.disconnect()))
    yield* Effect.promise(() => client.connect())
    yield* redis.command("SET", "other:key", "theirs")
    for (const [name, attempt] of [
      ["GET of another key", () => client.get("other:key")],
      ["SET of another key", () => client.set("other:key", "mine")],
      ["DEL of another key", () => client.del("other:key")],
      ["KEYS", () => client.keys("*")],
      ["FLUSHALL", () => client.flushall()],
      ["CONFIG GET", () => client.config("GET", "*")],
      ["ACL SETUSER", () => client.acl("SETUSER", "arbitrage_state", "+@all")],
      ["a script touching another key", () => client.eval("return redis.call('GET', KEYS[1])", 1, "other:key")]
    ] as const) {
      const error = yield* Effect.flip(Effect.tryPromise(attempt))
      assert.include(String(error.cause), "NOPERM", name)
    }
    assert.strictEqual(yield* redis.command("GET", "other:key"), "theirs")
  })), 120_000)

it("the README gives the same rules", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8")
  assert.include(readme, `ACL SETUSER arbitrage_state on >PASSWORD ${liveAclRules.join(" ")}`)
})

afterAll(() => stopSharedRedisCluster())

it.live("the same ACL user on every node of a Redis Cluster runs a session and restores it (the cluster's ready check included)", () =>
  Effect.gen(function*() {
    const { ports } = yield* sharedRedisCluster
    for (const port of ports) {
      const set = spawnSync("redis-cli", ["-p", String(port), "ACL", "SETUSER", "arbitrage_state", "on", `>${password}`, ...liveAclRules], { encoding: "utf8" })
      assert.strictEqual(set.stdout.trim(), "OK", set.stderr)
    }
    const env = {
      DATABASE_URL: Redacted.value(testDatabaseUrl),
      REDIS_CLUSTER_NODES: ports.map((port) => `redis://arbitrage_state:${password}@127.0.0.1:${port}`).join(","),
      STATE_ENV: uniqueEnv("redisaclc")
    }
    const session = `sess_aclc${randomInt(1e9).toString(36)}`
    for (const args of [["run", "--mode", "clean", "--session", session, "--loops", "20", "--seed", "4"], ["restore", "--session", session, "--dry-run"], ["health"]]) {
      const run = runCli(args, env)
      assert.strictEqual(run.status, 0, `${args.join(" ")}: ${run.stderr}${run.stdout}`)
    }
  }), 120_000)
