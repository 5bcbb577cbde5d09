/**
 * Recovery through the operator CLI, against the real servers: a resume that
 * has to look back past many damaged snapshots, and a repair of the live
 * tier by `restore` on a session that stopped cleanly.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { randomInt } from "node:crypto"
import { Env, SessionId } from "../../src/domain/Ids.ts"
import { RedisClient } from "../../src/store/RedisClient.ts"
import { sessionKeys, writeMarkKey } from "../../src/store/StateKeys.ts"
import { redisClient, testPostgres } from "../support/Backings.ts"
import { runCli } from "../support/Cli.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"

const stateEnv = uniqueEnv("clirecovery")
const env = {
  DATABASE_URL: Redacted.value(testDatabaseUrl),
  REDIS_URL: Redacted.value(testRedisUrl),
  STATE_ENV: stateEnv
}
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1)!)
const servers = Layer.mergeAll(testPostgres, redisClient)

/** Removes a session's live state (its sections and mark; the fence stays), as a Redis restart would its data. */
const dropLiveState = (sessionId: SessionId) =>
  Effect.flatMap(RedisClient, (redis) =>
    redis.use("DEL", (client) => client.del(...sessionKeys(Env.make(stateEnv), sessionId), writeMarkKey(Env.make(stateEnv), sessionId))))

describe("cli recovery", () => {
  it.effect("run --mode resume finds the newest valid snapshot behind 15 damaged ones (the old look-back stopped at 10)", () =>
    Effect.gen(function*() {
      const sessionId = SessionId.make(`sess_deep${randomInt(1e9).toString(36)}`)
      const run = runCli(["run", "--mode", "clean", "--session", sessionId, "--loops", "600", "--seed", "11", "--campaign", "aggressive", "--json"], env)
      assert.strictEqual(run.status, 0, run.stderr)

      const sql = yield* PgClient.PgClient
      const newest = yield* sql<{ snapshot_id: number; sequence: number; loop_count: number }>`
        SELECT snapshot_id, sequence, loop_count FROM session_snapshots
         WHERE env = ${stateEnv} AND session_id = ${sessionId} ORDER BY sequence DESC LIMIT 16`
      assert.lengthOf(newest, 16, "the run took at least 16 snapshots")
      const damaged = newest.slice(0, 15).map((row) => Number(row.snapshot_id))
      yield* sql`UPDATE metrics_snapshots SET metrics = ${sql.json({ version: 2, tradesOpened: -1 })} WHERE snapshot_id IN ${sql.in(damaged)}`
      yield* dropLiveState(sessionId)

      const resumed = runCli(["run", "--mode", "resume", "--session", sessionId, "--loops", "650", "--json"], env)
      assert.strictEqual(resumed.status, 0, resumed.stderr)
      assert.include(resumed.stderr, `restored loop ${Number(newest[15]!.loop_count)} from snapshot #${Number(newest[15]!.sequence)}`)
      assert.strictEqual(lastJson(resumed.stdout).session.loopCount, 650)
    }).pipe(Effect.provide(servers)), { timeout: 120_000 })

  it.effect("restore without --dry-run on a cleanly stopped session writes the live tier back under the session's lease", () =>
    Effect.gen(function*() {
      const sessionId = SessionId.make(`sess_repair${randomInt(1e9).toString(36)}`)
      const run = runCli(["run", "--mode", "clean", "--session", sessionId, "--loops", "120", "--seed", "5", "--json"], env)
      assert.strictEqual(run.status, 0, run.stderr)
      yield* dropLiveState(sessionId)

      const repair = runCli(["restore", "--session", sessionId, "--json"], env)
      assert.strictEqual(repair.status, 0, repair.stderr)
      assert.strictEqual(lastJson(repair.stdout).source, "snapshot")
      const after = runCli(["restore", "--session", sessionId, "--dry-run", "--json"], env)
      assert.strictEqual(after.status, 0, after.stderr)
      const report = lastJson(after.stdout)
      assert.deepStrictEqual(
        report.skipped.map((s: { source: string; kind: string }) => [s.source, s.kind]),
        [["live", "superseded"]],
        "the live tier holds the repaired state again, as valid as the snapshot it came from"
      )
      assert.deepStrictEqual(report.state, lastJson(run.stdout))
    }).pipe(Effect.provide(servers)), { timeout: 120_000 })
})
