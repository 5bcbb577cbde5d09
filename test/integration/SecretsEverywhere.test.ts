/**
 * No secret in anything an operator sees: with a password in DATABASE_URL
 * and in REDIS_URL (an ACL user of a private redis-server), every command of
 * a session's life (run, a resume after SIGKILL, supervise, restore,
 * inspect, trades, sessions, snapshots, health, cleanup, import-d70, report)
 * is run, and its stdout and stderr, the HTML report and the Prometheus
 * metrics scraped during a run are searched for the passwords, whole or in
 * part, plain or percent-encoded.
 */
import { assert, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { spawn } from "node:child_process"
import { randomBytes, randomInt } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { liveAclRules } from "../../src/store/RedisAcl.ts"
import { cliMain, runCli, runCliUntil } from "../support/Cli.ts"
import { freePort } from "../support/Ports.ts"
import { privateRedis } from "../support/PrivateRedis.ts"
import { testDatabaseUrl, uniqueEnv } from "../support/Services.ts"

// The suite's PostgreSQL trusts local connections: a password in the URL is sent, and ignored.
// Their distinctive parts are 12 hex digits behind letters no output holds by chance.
const databasePassword = `pg-Secret-Qz${randomBytes(6).toString("hex")}`
const redisPassword = `redis-Secret-Qz${randomBytes(6).toString("hex")}`

// The state keys: an old one and the newest, and a short one the configuration refuses.
const oldKeySecret = randomBytes(32).toString("base64")
const newKeySecret = randomBytes(32).toString("base64")
const shortKeySecret = randomBytes(12).toString("base64")

/**
 * What must appear nowhere: each password, its percent-encoded form, and its distinctive part; each
 * key's secret, whole, in hex, and its first 16 characters.
 */
const secrets = [
  ...[databasePassword, redisPassword].flatMap((secret) => [secret, encodeURIComponent(secret), secret.split("-").at(-1)!]),
  ...[oldKeySecret, newKeySecret, shortKeySecret].flatMap((secret) => [secret, Buffer.from(secret, "base64").toString("hex"), secret.slice(0, 16)])
]

const assertClean = (where: string, text: string) => {
  for (const secret of secrets) assert.notInclude(text, secret, `${where} shows a secret`)
}

it.live("every output of a session's whole life, its report and its metrics, with passwords in both URLs: no secret anywhere", () =>
  Effect.scoped(Effect.gen(function*() {
    const redis = yield* privateRedis
    yield* redis.command("ACL", "SETUSER", "arbitrage_state", "on", `>${redisPassword}`, ...liveAclRules)
    const database = new URL(Redacted.value(testDatabaseUrl))
    database.password = databasePassword
    const env = {
      DATABASE_URL: database.toString(),
      REDIS_URL: `redis://arbitrage_state:${redisPassword}@127.0.0.1:${redis.port}/0`,
      STATE_ENV: uniqueEnv("secrets"),
      // The killed run's lease is free soon after.
      LEASE_TTL: "2 seconds",
      STATE_KEYS: `old:${oldKeySecret},new:${newKeySecret}`,
      STATE_ENCRYPTION: "aes-256-gcm"
    }
    const session = `sess_secret${randomInt(1e9).toString(36)}`
    const dir = mkdtempSync(join(tmpdir(), "arbitrage-state-secrets-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    const check = (args: ReadonlyArray<string>, extra: Record<string, string> = {}) => {
      const run = runCli(args, { ...env, ...extra })
      assertClean(args.join(" "), run.stdout + run.stderr)
      return run
    }

    // A run killed mid-way, and resumed.
    const killed = yield* Effect.promise(() => runCliUntil(["run", "--mode", "clean", "--session", session, "--loops", "400", "--seed", "5", "--status-every", "50"], env, (line) => line.includes("200")))
    assert.isTrue(killed.killed, killed.lines.join("\n"))
    assertClean("a killed run", killed.lines.join("\n") + killed.stderr)
    assert.strictEqual(check(["run", "--mode", "resume", "--session", session, "--loops", "300", "--wait-lease", "10"]).status, 0)

    // A run whose metrics are scraped while it trades.
    const port = yield* Effect.promise(freePort)
    const child = spawn(process.execPath, [cliMain, "run", "--mode", "resume", "--session", session, "--loops", "340", "--pace"], {
      env: { ...process.env, ...env, METRICS_PROMETHEUS_PORT: String(port) },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (chunk) => (output += String(chunk)))
    child.stderr.on("data", (chunk) => (output += String(chunk)))
    let status: number | null | undefined
    const ended = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(status = code)))
    let metrics = ""
    while (status === undefined && !metrics.includes("arbitrage_state_live_save_duration")) {
      metrics = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).catch(() => ""))
      if (!metrics.includes("arbitrage_state_live_save_duration")) yield* Effect.sleep("100 millis")
    }
    assert.include(metrics, "arbitrage_state_live_save_duration", `no metrics scraped (exit ${status}): ${output}`)
    assertClean("the Prometheus metrics", metrics)
    // Stopped as an operator stops it (what it prints on the way out is searched too).
    child.kill("SIGTERM")
    yield* Effect.promise(() => ended)
    assertClean("a run with metrics", output)

    const supervised = check(["supervise", "--session", session, "--loops", "360"])
    assert.strictEqual(supervised.status, 0, supervised.stderr)
    for (const args of [
      ["restore", "--session", session, "--dry-run", "--json"],
      ["inspect", "--session", session],
      ["trades", "--session", session, "--json"],
      ["sessions", "--json"],
      ["snapshots", "--session", session],
      ["health"],
      ["health", "--json"],
      ["cleanup", "--days", "0", "--dry-run"],
      ["import-d70", "--redis-url", env.REDIS_URL, "--env", "nothing", "--dry-run"],
      ["rekey", "--session", session],
      ["report", "--session", session, "--out", join(dir, "report.html")]
    ]) check(args)
    assertClean("the HTML report", readFileSync(join(dir, "report.html"), "utf8"))
    // And where they fail: keys the configuration refuses, another secret under a key's id, no keys
    // (the state cannot be decrypted), a wrong Redis password, a Redis that does not answer.
    assert.strictEqual(check(["sessions"], { STATE_KEYS: `new:${shortKeySecret}` }).status, 2)
    const wrongKey = check(["restore", "--session", session, "--dry-run"], { STATE_KEYS: `new:${oldKeySecret}` })
    assert.include(wrongKey.stdout, "cannot decrypt")
    const { STATE_ENCRYPTION: _encryption, STATE_KEYS: _keys, ...unkeyed } = env
    const noKeys = runCli(["inspect", "--session", session], unkeyed)
    assertClean("inspect without keys", noKeys.stdout + noKeys.stderr)
    assert.include(noKeys.stdout + noKeys.stderr, "STATE_KEYS is not set")
    check(["sessions"], { REDIS_URL: `redis://arbitrage_state:${redisPassword}x@127.0.0.1:${redis.port}/0` })
    check(["sessions"], { REDIS_URL: `redis://arbitrage_state:${redisPassword}@127.0.0.1:${yield* Effect.promise(freePort)}/0` })
  })), 240_000)
