/**
 * What `run` tells its operator when stdout is not a terminal: the status
 * line every --status-every loops names the real last snapshot; the run
 * ends, normally or on SIGTERM, with a summary written after the shutdown
 * snapshot (the loop, what is open, the snapshot that holds it, the command
 * to carry on); a runner that must wait for a dead runner's lease says whose
 * and until when, also under `supervise`. Each claim is checked against what
 * the stores hold afterwards.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted, Schedule } from "effect"
import { spawn } from "node:child_process"
import { randomInt } from "node:crypto"
import { fileURLToPath } from "node:url"
import { descendantsOf, isRunning } from "../support/Processes.ts"
import { runCli, runCliUntil } from "../support/Cli.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"

const env = {
  DATABASE_URL: Redacted.value(testDatabaseUrl),
  REDIS_URL: Redacted.value(testRedisUrl),
  STATE_ENV: uniqueEnv("cliprogress")
}
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1)!)
const newSession = (label: string) => `sess_${label}${randomInt(1e9).toString(36)}`

/** The session's snapshots as `snapshots --json` lists them, newest first. */
const snapshotsOf = (sessionId: string): ReadonlyArray<{ sequence: number; snapshotType: string; loopCount: number }> => {
  const listed = runCli(["snapshots", "--session", sessionId, "--limit", "1000", "--json"], env)
  assert.strictEqual(listed.status, 0, listed.stderr)
  return lastJson(listed.stdout).snapshots
}

/** The state a restore reads back for the session. */
const restoredState = (sessionId: string) => {
  const restore = runCli(["restore", "--session", sessionId, "--dry-run", "--json"], env)
  assert.strictEqual(restore.status, 0, restore.stderr)
  return lastJson(restore.stdout).state
}

/** The lines of `output` from the summary's first line on. */
const summaryFrom = (lines: ReadonlyArray<string>, sessionId: string) => lines.slice(lines.findIndex((line) => line.startsWith(`${sessionId} `)))

describe("run without a terminal", () => {
  it("--status-every names the real last snapshot, and a normal end prints the summary: target reached, the shutdown snapshot, how to go on", () => {
    const sessionId = newSession("prog")
    const run = runCli(["run", "--mode", "clean", "--session", sessionId, "--loops", "150", "--seed", "2", "--campaign", "aggressive", "--status-every", "50"], env)
    assert.strictEqual(run.status, 0, run.stderr)
    const lines = run.stdout.trimEnd().split("\n")
    const snapshots = snapshotsOf(sessionId)

    const status = lines.filter((line) => line.startsWith("loop "))
    assert.deepStrictEqual(status.map((line) => line.split(" ")[1]), ["50/150", "100/150", "150/150"])
    for (const line of status) {
      const named = /last snapshot #(\d+) (\w+)$/.exec(line)
      assert.isNotNull(named, line)
      const loop = Number(/^loop (\d+)\//.exec(line)![1])
      const snapshot = snapshots.find((s) => s.sequence === Number(named![1]))
      assert.isDefined(snapshot, line)
      assert.strictEqual(snapshot!.snapshotType, named![2])
      assert.isAtMost(snapshot!.loopCount, loop)
    }

    const state = restoredState(sessionId)
    const open = Object.keys(state.positions.activeTrades).length
    const summary = summaryFrom(lines, sessionId)
    assert.strictEqual(summary[0], `${sessionId} reached loop 150 (its target)`)
    assert.strictEqual(summary[1], open === 0 ? "  open       no positions" : `  open       ${open} position(s)`)
    assert.include(summary, `  pnl        ${state.metrics.totalPnlUsd.toFixed(2)}  equity ${state.metrics.portfolioEquityUsd.toFixed(2)}`)
    assert.strictEqual(snapshots[0]!.snapshotType, "shutdown")
    assert.include(summary, `  snapshot   #${snapshots[0]!.sequence} shutdown: the stop is recorded`)
    assert.strictEqual(summary.at(-2), `  go on      STATE_ENV=${env.STATE_ENV} npm run cli -- run --mode resume --session ${sessionId} --loops 1000`)
    assert.strictEqual(summary.at(-1), "             with DATABASE_URL and REDIS_URL set as for this run (the session is in those stores)")
  })

  it("with --json, each status line carries the last snapshot, the summary goes to stderr, and stdout ends with the final state", () => {
    const sessionId = newSession("progjson")
    const run = runCli(["run", "--mode", "clean", "--session", sessionId, "--loops", "90", "--seed", "2", "--campaign", "aggressive", "--status-every", "30", "--json"], env)
    assert.strictEqual(run.status, 0, run.stderr)
    const lines = run.stdout.trimEnd().split("\n").map((line) => JSON.parse(line))
    const sequences = new Set(snapshotsOf(sessionId).map((s) => s.sequence))
    const status = lines.slice(0, -1)
    assert.deepStrictEqual(status.map((s) => [s.loop, s.targetLoops]), [[30, 90], [60, 90], [90, 90]])
    for (const s of status) assert.isTrue(sequences.has(s.lastSnapshot.sequence), JSON.stringify(s))
    assert.strictEqual(lines.at(-1).session.loopCount, 90)
    assert.include(run.stderr, `${sessionId} reached loop 90 (its target)`)
  })

  it("SIGTERM: the summary comes after the shutdown snapshot, with the loop it stopped at, what is open, and the command to resume", async () => {
    const sessionId = newSession("progterm")
    const run = await runCliUntil(
      ["run", "--mode", "clean", "--session", sessionId, "--loops", "100000", "--seed", "2", "--campaign", "aggressive", "--tick-ms", "20", "--pace", "--status-every", "1"],
      env,
      (line) => line.startsWith("loop 40/"),
      "SIGTERM"
    )
    assert.isTrue(run.killed)
    assert.strictEqual(run.status, 143, run.stderr)
    const state = restoredState(sessionId)
    const [newest] = snapshotsOf(sessionId)
    assert.strictEqual(newest!.snapshotType, "shutdown")
    assert.strictEqual(state.session.status, "stopped")

    const summary = summaryFrom(run.lines, sessionId)
    const trades = Object.values(state.positions.activeTrades) as ReadonlyArray<{ tradeId: string }>
    assert.strictEqual(summary[0], `${sessionId} stopped at loop ${state.session.loopCount} of 100000`)
    assert.strictEqual(summary[1], trades.length === 0 ? "  open       no positions" : `  open       ${trades.length} position(s)`)
    for (const trade of trades) assert.isTrue(summary.some((line) => line.startsWith(`    ${trade.tradeId} `)), trade.tradeId)
    assert.include(summary, `  snapshot   #${newest!.sequence} shutdown: the stop is recorded`)
    assert.strictEqual(summary.at(-2), `  resume     STATE_ENV=${env.STATE_ENV} npm run cli -- run --mode resume --session ${sessionId} --loops 100000`)
  }, 60_000)
})

describe("waiting for a dead runner's lease", () => {
  // Long enough that the dead runner's lease is still live when `health` (a process of its own) reads it on a busy machine.
  const shortLease = { ...env, LEASE_TTL: "8 seconds" }

  it("run --wait-lease says once whose lease it waits for and until when, then resumes", async () => {
    const sessionId = newSession("wait")
    const killed = await runCliUntil(
      ["run", "--mode", "clean", "--session", sessionId, "--loops", "100000", "--seed", "2", "--tick-ms", "20", "--pace", "--status-every", "1"],
      shortLease,
      (line) => line.startsWith("loop 5/")
    )
    assert.isTrue(killed.killed)
    // The dead runner's lease, as the store holds it.
    const health = runCli(["health", "--json"], shortLease)
    const lease = lastJson(health.stdout).leases.find((l: { sessionId: string }) => l.sessionId === sessionId)
    assert.isDefined(lease, health.stdout)

    const resumed = runCli(["run", "--mode", "resume", "--session", sessionId, "--loops", "20", "--wait-lease", "30", "--json"], shortLease)
    assert.strictEqual(resumed.status, 0, resumed.stderr)
    const waiting = resumed.stderr.split("\n").filter((line) => line.startsWith("waiting for the lease"))
    assert.deepStrictEqual(waiting, [
      `waiting for the lease of ${sessionId} held by ${lease.holder} until ${lease.expiresAt} ` +
      `(a dead runner's lease expires then; giving up after 30 s)`
    ])
    assert.strictEqual(lastJson(resumed.stdout).session.loopCount, 20)
  }, 60_000)

  it.live("supervise: the runner it restarts after a crash says whose lease it waits for (on supervise's stderr)", () =>
    Effect.gen(function*() {
      const sessionId = newSession("supwait")
      const { DATABASE_URL: _d, REDIS_URL: _r, ...inherited } = process.env
      const supervisor = spawn(
        process.execPath,
        [fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url)), "supervise", "--session", sessionId, "--loops", "400", "--seed", "2", "--tick-ms", "20", "--pace"],
        { env: { ...inherited, ...shortLease }, stdio: ["ignore", "pipe", "pipe"] }
      )
      // Whatever of the tree still runs when the test ends (a failed one) is killed.
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => [...descendantsOf(supervisor.pid!), supervisor.pid!].filter(isRunning).forEach((pid) => process.kill(pid, "SIGKILL")))
      )
      let stderr = ""
      supervisor.stderr.setEncoding("utf8").on("data", (chunk: string) => void (stderr += chunk))
      const ended = new Promise<number | null>((resolve) => supervisor.once("close", (code) => resolve(code)))

      // Its runner is trading (its first snapshot is durable): kill it as a crash would.
      const runner = yield* Effect.sync(() => {
        if (snapshotsOf(sessionId).length === 0) return undefined
        return descendantsOf(supervisor.pid!)[0]
      }).pipe(
        Effect.flatMap((pid) => (pid === undefined ? Effect.fail("no runner trading yet") : Effect.succeed(pid))),
        Effect.retry({ times: 300, schedule: Schedule.spaced("100 millis") })
      )
      process.kill(runner, "SIGKILL")

      const code = yield* Effect.promise(() => ended).pipe(Effect.timeout("45 seconds"))
      assert.strictEqual(code, 0, stderr)
      const waiting = stderr.split("\n").filter((line) => line.startsWith("waiting for the lease"))
      assert.lengthOf(waiting, 1, stderr)
      assert.match(waiting[0]!, new RegExp(`^waiting for the lease of ${sessionId} held by \\S+ until \\d{4}-\\d\\d-\\d\\dT\\S+Z \\(a dead runner's lease expires then; giving up after 30 s\\)$`))
      assert.strictEqual(restoredState(sessionId).session.loopCount, 400)
    }), { timeout: 90_000 })
})
