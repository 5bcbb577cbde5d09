/**
 * `trades`, and the trade ledger through `inspect` and `cleanup`, as real
 * processes against the real servers: every close of a run listed with its
 * own PnL, summing to the metrics'; snapshot retention leaves the ledger
 * whole; the ledger's own retention runs only when asked, and `trades` then
 * says which closes it removed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Redacted } from "effect"
import { randomInt } from "node:crypto"
import { runCli } from "../support/Cli.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"

const env = {
  DATABASE_URL: Redacted.value(testDatabaseUrl),
  REDIS_URL: Redacted.value(testRedisUrl),
  STATE_ENV: uniqueEnv("clitrades")
}
const sessionId = `sess_trades${randomInt(1e9).toString(36)}`
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1)!)

describe("cli trades", () => {
  it("lists every close of a run from the ledger, agreeing with the metrics; snapshot retention leaves it whole; its own retention needs --ledger-days and --yes", () => {
    const run = runCli(["run", "--mode", "clean", "--session", sessionId, "--loops", "300", "--seed", "5", "--campaign", "aggressive", "--json"], env)
    assert.strictEqual(run.status, 0, run.stderr)
    const final = lastJson(run.stdout)
    const closed: number = final.metrics.tradesClosed
    assert.isAtLeast(closed, 5, "the run closes trades")

    const listed = runCli(["trades", "--session", sessionId, "--all", "--json"], env)
    assert.strictEqual(listed.status, 0, listed.stderr)
    const ledger = lastJson(listed.stdout)
    assert.isTrue(ledger.agrees)
    assert.deepStrictEqual(ledger.entries.map((e: { closeNumber: number }) => e.closeNumber), [...Array(closed).keys()].map((i) => i + 1))
    assert.isTrue(ledger.entries.every((e: { durable: boolean }) => e.durable), "stopped: every close is durable")
    const pnl = ledger.entries.reduce((sum: number, e: { trade: { realizedPnlUsd: number } }) => sum + e.trade.realizedPnlUsd, 0)
    assert.closeTo(pnl, final.metrics.totalPnlUsd, 1e-6)
    assert.deepStrictEqual(ledger.counted, { tradesClosed: closed, totalPnlUsd: final.metrics.totalPnlUsd, winningTrades: final.metrics.winningTrades })
    for (const { trade } of ledger.entries) {
      assert.includeMembers(Object.keys(trade), ["buyLeg", "sellLeg", "buyLegExitPrice", "sellLegExitPrice", "feesUsd", "realizedPnlUsd", "reason", "closedLoop", "closedAt"])
      assert.include(["take_profit", "stop_loss", "timeout"], trade.reason)
    }

    const text = runCli(["trades", "--session", sessionId, "--limit", "3"], env)
    assert.strictEqual(text.status, 0, text.stderr)
    const lines = text.stdout.trim().split("\n")
    assert.match(lines[0]!, /^close\s+trade\s+symbol/)
    assert.lengthOf(lines.filter((line) => /^#\d+ /.test(line)), 3)
    assert.include(text.stdout, `(${closed - 3} earlier closes not shown`)
    assert.match(lines.at(-1)!, new RegExp(`^ledger +${closed} of ${closed} closes, PnL .*: agrees with the metrics$`))

    const inspect = runCli(["inspect", "--session", sessionId], env)
    assert.strictEqual(inspect.status, 0, inspect.stderr)
    assert.match(inspect.stdout, new RegExp(`ledger +${closed} of ${closed} closes.*agrees with the metrics`))

    // Snapshot retention cuts the history of snapshots, never the ledger.
    const snapshotCut = runCli(["cleanup", "--days", "0", "--keep", "1", "--yes", "--json"], env)
    assert.strictEqual(snapshotCut.status, 0, snapshotCut.stderr)
    assert.isAbove(lastJson(snapshotCut.stdout).removed, 0)
    assert.isNull(lastJson(snapshotCut.stdout).ledger)
    assert.deepStrictEqual(lastJson(runCli(["trades", "--session", sessionId, "--all", "--json"], env).stdout).entries, ledger.entries)

    // The ledger's own retention: a dry run, a refusal without --yes, then the cut, which trades then names.
    const plan = runCli(["cleanup", "--days", "0", "--ledger-days", "0", "--dry-run", "--json"], env)
    assert.strictEqual(plan.status, 0, plan.stderr)
    const planned = lastJson(plan.stdout).ledger.sessions.find((s: { sessionId: string }) => s.sessionId === sessionId)
    assert.deepStrictEqual(planned, { sessionId, removed: closed, oldestClose: 1, newestClose: closed })
    const refused = runCli(["cleanup", "--days", "0", "--ledger-days", "0"], env)
    assert.strictEqual(refused.status, 2)
    assert.include(refused.stderr, "trade ledger entries")
    assert.strictEqual(lastJson(runCli(["trades", "--session", sessionId, "--json"], env).stdout).entries.length, Math.min(closed, 100))
    const cut = runCli(["cleanup", "--days", "0", "--ledger-days", "0", "--yes", "--json"], env)
    assert.strictEqual(cut.status, 0, cut.stderr)
    const after = lastJson(runCli(["trades", "--session", sessionId, "--json"], env).stdout)
    assert.isFalse(after.agrees)
    assert.deepStrictEqual(after.entries, [])
    assert.deepStrictEqual(after.missing, [{ from: 1, to: closed, why: "retention" }])
    const afterText = runCli(["trades", "--session", sessionId], env)
    assert.include(afterText.stdout, `#1-#${closed} removed by ledger retention`)
  }, 120_000)

  it("a session with no state, or a --limit below 1: exit 2, one line", () => {
    const unknown = runCli(["trades", "--session", "sess_notrades0"], env)
    assert.strictEqual(unknown.status, 2)
    assert.lengthOf(unknown.stderr.trim().split("\n"), 1, unknown.stderr)
    const limit = runCli(["trades", "--session", sessionId, "--limit", "0"], env)
    assert.strictEqual(limit.status, 2)
    assert.include(limit.stderr, "--limit must be at least 1")
    for (const flag of [["--days", "3000000"], ["--days", "0", "--ledger-days", "2147483648"]]) {
      const cleanup = runCli(["cleanup", ...flag, "--dry-run"], env)
      assert.strictEqual(cleanup.status, 2, cleanup.stderr)
      assert.match(cleanup.stderr, /--(ledger-)?days must be from 0 to 36500/)
    }
  })
})
