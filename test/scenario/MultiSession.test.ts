/**
 * Several sessions at once: three runners (one per campaign) run in
 * parallel child processes and are all killed with SIGKILL; `resume-all`
 * finds every interrupted session of the env, takes each one's lease and
 * resumes them concurrently. Each ends in exactly its uninterrupted state,
 * and no session touched another's.
 */
import { assert, describe, it } from "@effect/vitest"
import { Redacted } from "effect"
import { randomInt } from "node:crypto"
import { SessionId } from "../../src/domain/Ids.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import { runCli, runCliUntil } from "../support/Cli.ts"
import { storedForm, uninterruptedRun } from "../support/Runs.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"

const loops = 1_500
const seed = 31337
const tickMs = 2

describe("several sessions at once", () => {
  it("three sessions killed in parallel are all resumed concurrently, each exactly", async () => {
    const env = {
      DATABASE_URL: Redacted.value(testDatabaseUrl),
      REDIS_URL: Redacted.value(testRedisUrl),
      STATE_ENV: uniqueEnv("multi"),
      LEASE_TTL: "1 second"
    }
    const sessions = (["balanced", "aggressive", "cautious"] as const).map((name) => ({
      sessionId: SessionId.make(`sess_multi${name.slice(0, 3)}${randomInt(1e6).toString(36)}`),
      campaign: campaigns[name]!
    }))
    const killed = await Promise.all(sessions.map(({ campaign, sessionId }) => {
      const killAt = randomInt(100, 900)
      return runCliUntil(
        ["run", "--mode", "clean", "--session", sessionId, "--campaign", campaign.id, "--loops", String(loops), "--seed", String(seed),
          "--tick-ms", String(tickMs), "--pace", "--json", "--status-every", "1"],
        env,
        (line) => line.startsWith("{\"loop\":") && JSON.parse(line).loop >= killAt
      )
    }))
    assert.deepStrictEqual(killed.map((k) => k.killed), [true, true, true])

    const resumed = runCli(
      ["resume-all", "--loops", String(loops), "--seed", String(seed), "--tick-ms", String(tickMs), "--wait-lease", "10", "--json"],
      env
    )
    assert.strictEqual(resumed.status, 0, resumed.stderr)
    const results = resumed.stdout.trim().split("\n").map((line) => JSON.parse(line))
    assert.sameMembers(results.map((r) => r.sessionId), sessions.map((s) => s.sessionId))
    for (const { campaign, sessionId } of sessions) {
      const result = results.find((r) => r.sessionId === sessionId)
      assert.isTrue(result.ok, result.error)
      assert.deepStrictEqual(result.state, storedForm(uninterruptedRun({ sessionId, campaign, seed, loops, tickMs, marketRecorded: true })))
    }
    const again = runCli(["resume-all", "--loops", String(loops), "--seed", String(seed), "--json"], env)
    assert.strictEqual(again.stdout.trim(), "", "nothing is left interrupted once every session stopped cleanly")
  }, 180_000)
})
