/**
 * `cleanup` as an operator meets it: --dry-run shows per session what would
 * go and removes nothing; without --yes a cleanup that would remove anything
 * is refused (exit 2) and removes nothing; with --yes it removes exactly what
 * the dry run named. Checked against what `snapshots` lists afterwards.
 */
import { assert, describe, it } from "@effect/vitest"
import { Redacted } from "effect"
import { randomInt } from "node:crypto"
import { runCli } from "../support/Cli.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"

const env = {
  DATABASE_URL: Redacted.value(testDatabaseUrl),
  REDIS_URL: Redacted.value(testRedisUrl),
  STATE_ENV: uniqueEnv("clicleanup")
}
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1)!)

/** The sequences of the session's snapshots, newest first. */
const sequencesOf = (sessionId: string): ReadonlyArray<number> => {
  const listed = runCli(["snapshots", "--session", sessionId, "--limit", "1000", "--json"], env)
  assert.strictEqual(listed.status, 0, listed.stderr)
  return lastJson(listed.stdout).snapshots.map((s: { sequence: number }) => s.sequence)
}

describe("cleanup", () => {
  it("--dry-run names per session what would go; without --yes it is refused; with --yes exactly that goes", () => {
    const busy = `sess_clbusy${randomInt(1e9).toString(36)}`
    const quiet = `sess_clquiet${randomInt(1e9).toString(36)}`
    for (const [sessionId, loops] of [[busy, "200"], [quiet, "0"]] as const) {
      const run = runCli(["run", "--mode", "clean", "--session", sessionId, "--loops", loops, "--seed", "2", "--campaign", "aggressive"], env)
      assert.strictEqual(run.status, 0, run.stderr)
    }
    const before = sequencesOf(busy)
    assert.isAbove(before.length, 3, "the busy session has more snapshots than are kept")
    assert.deepStrictEqual(sequencesOf(quiet), [2, 1])

    const dry = runCli(["cleanup", "--days", "0", "--keep", "3", "--dry-run", "--json"], env)
    assert.strictEqual(dry.status, 0, dry.stderr)
    const plan = lastJson(dry.stdout)
    assert.deepStrictEqual(
      { dryRun: plan.dryRun, removed: plan.removed, sessions: plan.sessions.map((s: Record<string, unknown>) => [s.sessionId, s.removed, s.oldestSequence, s.newestSequence]) },
      { dryRun: true, removed: before.length - 3, sessions: [[busy, before.length - 3, before.at(-1), before[3]]] }
    )
    assert.deepStrictEqual(sequencesOf(busy), before)
    const dryText = runCli(["cleanup", "--days", "0", "--keep", "3", "--dry-run"], env)
    assert.strictEqual(dryText.status, 0, dryText.stderr)
    assert.match(dryText.stdout, new RegExp(`^${busy} +${before.length - 3} +#${before.at(-1)} +#${before[3]} +\\d+$`, "m"))
    assert.include(dryText.stdout, `would remove ${before.length - 3} snapshots of 1 session(s) (dry run: nothing was removed)`)

    const refused = runCli(["cleanup", "--days", "0", "--keep", "3"], env)
    assert.strictEqual(refused.status, 2, refused.stderr)
    assert.deepStrictEqual(refused.stderr.trim().split("\n"), [
      `refused: this would remove ${before.length - 3} snapshots of 1 session(s), cutting the start of their history; nothing was removed (give --yes to remove them)`
    ])
    assert.include(refused.stdout, `would remove ${before.length - 3} snapshots of 1 session(s)`)
    assert.deepStrictEqual(sequencesOf(busy), before)

    const removed = runCli(["cleanup", "--days", "0", "--keep", "3", "--yes", "--json"], env)
    assert.strictEqual(removed.status, 0, removed.stderr)
    assert.deepStrictEqual(lastJson(removed.stdout), { ...plan, dryRun: false })
    assert.deepStrictEqual(sequencesOf(busy), before.slice(0, 3))
    assert.deepStrictEqual(sequencesOf(quiet), [2, 1])

    const again = runCli(["cleanup", "--days", "0", "--keep", "3", "--yes"], env)
    assert.strictEqual(again.status, 0, again.stderr)
    assert.strictEqual(again.stdout.trim(), "nothing to remove")
  }, 60_000)

  it("nothing old enough: no refusal without --yes, nothing to remove", () => {
    const run = runCli(["cleanup", "--days", "30"], env)
    assert.strictEqual(run.status, 0, run.stderr)
    assert.strictEqual(run.stdout.trim(), "nothing to remove")
  })
})
