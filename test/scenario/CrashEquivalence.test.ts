/**
 * Crash equivalence: a runner killed with SIGKILL (a real child process, the
 * real Redis and PostgreSQL) and resumed ends in exactly the state of the
 * same run left alone. Kill points are drawn at random for each run; one
 * case also loses the live tier (its Redis keys deleted after the kill), so
 * that the resume rests on PostgreSQL alone.
 */
import { assert, describe, it } from "@effect/vitest"
import { Redacted } from "effect"
import { randomInt } from "node:crypto"
import { createClient } from "../support/RedisKeys.ts"
import { SessionId } from "../../src/domain/Ids.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import { runCli, runCliUntil } from "../support/Cli.ts"
import { storedForm, uninterruptedRun } from "../support/Runs.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"

const loops = 400
const seed = 20251120

const cases = [
  { name: "early", killFrom: 20, killTo: 120, loseLiveTier: false },
  { name: "middle", killFrom: 120, killTo: 260, loseLiveTier: false },
  { name: "late", killFrom: 260, killTo: 380, loseLiveTier: false },
  { name: "with the live tier lost", killFrom: 60, killTo: 340, loseLiveTier: true }
] as const

describe("crash equivalence", () => {
  for (const testCase of cases) {
    it(`killed ${testCase.name} and resumed: the final state equals the uninterrupted run`, async () => {
      const env = {
        DATABASE_URL: Redacted.value(testDatabaseUrl),
        REDIS_URL: Redacted.value(testRedisUrl),
        STATE_ENV: uniqueEnv("crash"),
        // The killed runner's lease must expire before the resume can take the session.
        LEASE_TTL: "1 second"
      }
      const sessionId = SessionId.make(`sess_crash${randomInt(1e9).toString(36)}`)
      const killAt = randomInt(testCase.killFrom, testCase.killTo)
      const first = await runCliUntil(
        ["run", "--mode", "clean", "--session", sessionId, "--loops", String(loops), "--seed", String(seed), "--json", "--status-every", "1"],
        env,
        (line) => line.startsWith("{\"loop\":") && JSON.parse(line).loop >= killAt
      )
      assert.isTrue(first.killed, `the runner was not killed (it ended first): ${first.stderr}`)
      const lastSeen = Math.max(...first.lines.filter((l) => l.startsWith("{\"loop\":")).map((l) => JSON.parse(l).loop))
      assert.isBelow(lastSeen, loops, "the kill came after the run had finished")

      if (testCase.loseLiveTier) await deleteLiveState(env.STATE_ENV, sessionId)

      const restore = runCli(["restore", "--session", sessionId, "--dry-run", "--json"], env)
      assert.strictEqual(restore.status, 0, restore.stderr)
      const report = JSON.parse(restore.stdout.trim().split("\n").at(-1)!)
      assert.strictEqual(report.outcome, "restored")
      if (testCase.loseLiveTier) assert.strictEqual(report.source, "snapshot")
      assert.isAtLeast(report.loopCount, 1)

      const second = runCli(
        ["run", "--mode", "resume", "--session", sessionId, "--loops", String(loops), "--seed", String(seed), "--json", "--wait-lease", "10"],
        env
      )
      assert.strictEqual(second.status, 0, second.stderr)
      const finalState = JSON.parse(second.stdout.trim().split("\n").at(-1)!)
      const expected = storedForm(uninterruptedRun({ sessionId, campaign: campaigns.balanced!, seed, loops, marketRecorded: true }))
      assert.deepStrictEqual(finalState, expected)
    }, 120_000)
  }
})

const deleteLiveState = async (stateEnv: string, sessionId: string) => {
  const client = await createClient(Redacted.value(testRedisUrl))
  try {
    const keys = await client.keys(`arbitrage:state:${stateEnv}:{${sessionId}}:*`)
    // The four sections, the ledger tail, the fence and the write mark: a flushed Redis loses them all.
    assert.lengthOf(keys, 7)
    await client.del(...keys)
  } finally {
    client.disconnect()
  }
}
