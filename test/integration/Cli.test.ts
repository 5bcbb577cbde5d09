/**
 * The operator CLI as a real process against the real servers: what it
 * prints, and the exit code of each kind of failure.
 */
import { assert, describe, it } from "@effect/vitest"
import { Redacted } from "effect"
import { randomInt } from "node:crypto"
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { runCli, runCliUntil } from "../support/Cli.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"

const env = {
  DATABASE_URL: Redacted.value(testDatabaseUrl),
  REDIS_URL: Redacted.value(testRedisUrl),
  STATE_ENV: uniqueEnv("cli")
}
const sessionId = `sess_cli${randomInt(1e9).toString(36)}`
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1)!)

describe("cli", () => {
  it("run, then restore --dry-run --json, sessions, snapshots, inspect and cleanup describe the same session", () => {
    const run = runCli(["run", "--mode", "clean", "--session", sessionId, "--loops", "250", "--seed", "3", "--json"], env)
    assert.strictEqual(run.status, 0, run.stderr)
    const final = lastJson(run.stdout)
    assert.strictEqual(final.session.loopCount, 250)
    assert.strictEqual(final.session.status, "stopped")

    const restore = runCli(["restore", "--session", sessionId, "--dry-run", "--json"], env)
    assert.strictEqual(restore.status, 0, restore.stderr)
    const report = lastJson(restore.stdout)
    assert.includeMembers(Object.keys(report), ["outcome", "source", "snapshotId", "skipped", "state"])
    assert.strictEqual(report.outcome, "restored")
    assert.deepStrictEqual(report.state, final)
    for (const skipped of report.skipped) assert.includeMembers(Object.keys(skipped), ["source", "snapshotId", "reason"])

    const sessions = lastJson(runCli(["sessions", "--json"], env).stdout)
    assert.strictEqual(sessions.sessions[0].sessionId, sessionId)
    const snapshots = lastJson(runCli(["snapshots", "--session", sessionId, "--json"], env).stdout)
    assert.strictEqual(snapshots.snapshots[0].snapshotType, "shutdown")
    assert.isTrue(snapshots.snapshots.every((s: { verdict: string }) => s.verdict === "valid"))
    const inspect = runCli(["inspect", "--session", sessionId], env)
    assert.strictEqual(inspect.status, 0)
    assert.include(inspect.stdout, "restored loop 250")
    const cleanup = lastJson(runCli(["cleanup", "--days", "0", "--keep", "2", "--yes", "--json"], env).stdout)
    assert.strictEqual(cleanup.removed, snapshots.snapshots.length - 2)
    const after = lastJson(runCli(["snapshots", "--session", sessionId, "--json"], env).stdout)
    assert.lengthOf(after.snapshots, 2)
  })

  it("resume continues to the new target with the market the session recorded, and a second resume past it does nothing", () => {
    const conflicting = runCli(["run", "--mode", "resume", "--session", sessionId, "--loops", "300", "--seed", "4"], env)
    assert.strictEqual(conflicting.status, 2)
    assert.include(conflicting.stderr, "trades seed 3")
    const resumed = runCli(["run", "--mode", "resume", "--session", sessionId, "--loops", "300", "--json"], env)
    assert.strictEqual(resumed.status, 0, resumed.stderr)
    assert.strictEqual(lastJson(resumed.stdout).session.loopCount, 300)
    assert.deepStrictEqual(lastJson(resumed.stdout).session.market, { seed: 3, tickMs: 1000 })
    const again = runCli(["run", "--mode", "resume", "--session", sessionId, "--loops", "300", "--json"], env)
    assert.strictEqual(lastJson(again.stdout).session.loopCount, 300)
  })

  it("a second runner on a live session: exit 5 with the holder named, while the first runs on", async () => {
    const live = `sess_held${randomInt(1e9).toString(36)}`
    let second: ReturnType<typeof runCli> | undefined
    const first = await runCliUntil(
      ["run", "--mode", "clean", "--session", live, "--loops", "100000", "--seed", "1", "--tick-ms", "20", "--pace", "--json", "--status-every", "1"],
      env,
      (line) => {
        if (!line.startsWith("{\"loop\":")) return false
        second = runCli(["run", "--mode", "resume", "--session", live, "--loops", "10", "--seed", "1"], env)
        return true
      }
    )
    assert.isTrue(first.killed)
    assert.strictEqual(second?.status, 5, second?.stderr)
    assert.match(second?.stderr ?? "", new RegExp(`${live} is held by runner \\S+ until`))
  }, 60_000)

  it("a run refused for its tick starts nothing: the session has no state afterwards", () => {
    const refused = `sess_tick${randomInt(1e9).toString(36)}`
    const run = runCli(["run", "--mode", "clean", "--session", refused, "--loops", "300", "--seed", "1", "--tick-ms", "33500000000000"], env)
    assert.strictEqual(run.status, 2, run.stderr)
    assert.deepStrictEqual(run.stderr.trim().split("\n").length, 1, run.stderr)
    const restore = runCli(["restore", "--session", refused, "--dry-run", "--json"], env)
    assert.strictEqual(lastJson(restore.stdout).outcome, "fresh", restore.stderr)
  })

  for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
    it(`${signal} stops a run cleanly: the shutdown snapshot is taken, and the exit code is 128 + the signal's number (${code})`, async () => {
      const stopped = `sess_sig${signal.slice(3).toLowerCase()}${randomInt(1e9).toString(36)}`
      const run = await runCliUntil(
        ["run", "--mode", "clean", "--session", stopped, "--loops", "100000", "--seed", "1", "--tick-ms", "20", "--pace", "--json", "--status-every", "1"],
        env,
        (line) => line.startsWith("{\"loop\":"),
        signal
      )
      assert.isTrue(run.killed)
      assert.deepStrictEqual({ status: run.status, signal: run.signal }, { status: code, signal: null }, run.stderr)
      assert.notInclude(run.stderr, "    at ")
      const snapshots = lastJson(runCli(["snapshots", "--session", stopped, "--json"], env).stdout)
      assert.strictEqual(snapshots.snapshots[0].snapshotType, "shutdown")
    }, 60_000)
  }

  it("a resume that its recorded tick would drive past the end of year 9999: refused before it writes anything (exit 2, one line)", () => {
    const far = `sess_far${randomInt(1e9).toString(36)}`
    // 10^12 ms (about 31 years) a loop: loop 252 would be past 9999-12-31.
    const start = runCli(["run", "--mode", "clean", "--session", far, "--loops", "5", "--seed", "1", "--tick-ms", "1000000000000"], env)
    assert.strictEqual(start.status, 0, start.stderr)
    const past = runCli(["run", "--mode", "resume", "--session", far, "--loops", "300"], env)
    assert.strictEqual(past.status, 2, past.stderr)
    assert.deepStrictEqual(past.stderr.trim().split("\n"), [
      `--loops 300 of ${far}'s 1000000000000 ms tick would take the simulated clock past 9999-12-31T23:59:59.999Z; at most 251 loops fit with this tick`
    ])
    // Left as it was: stopped at loop 5.
    const report = lastJson(runCli(["restore", "--session", far, "--dry-run", "--json"], env).stdout)
    assert.deepStrictEqual([report.state.session.status, report.state.session.loopCount], ["stopped", 5])
  })

  it("resume-all classifies each session's failure as run would, gives its exit code in its line, and exits with the first failed one's", async () => {
    const own = { ...env, STATE_ENV: uniqueEnv("cliresumeall"), LEASE_TTL: "1 second" }
    // A session killed while it waits out its 10^12 ms tick (paced), whose clock cannot reach loop 300: run would say exit 2.
    const far = `sess_rafar${randomInt(1e9).toString(36)}`
    const farKill = await runCliUntil(
      ["run", "--mode", "clean", "--session", far, "--loops", "251", "--seed", "1", "--tick-ms", "1000000000000", "--pace", "--json", "--status-every", "1"],
      own,
      (line) => line.startsWith("{\"loop\":")
    )
    assert.isTrue(farKill.killed)
    // A healthy session killed mid-run.
    const killed = `sess_rakil${randomInt(1e9).toString(36)}`
    const kill = await runCliUntil(
      ["run", "--mode", "clean", "--session", killed, "--loops", "100000", "--seed", "1", "--tick-ms", "5", "--pace", "--json", "--status-every", "1"],
      own,
      (line) => line.startsWith("{\"loop\":") && JSON.parse(line).loop >= 10
    )
    assert.isTrue(kill.killed)

    const resumed = runCli(["resume-all", "--loops", "300", "--wait-lease", "10", "--json"], own)
    assert.strictEqual(resumed.status, 2, resumed.stderr)
    const results = resumed.stdout.trim().split("\n").map((line) => JSON.parse(line))
    const failed = results.find((r) => r.sessionId === far)
    assert.strictEqual(failed.ok, false)
    assert.strictEqual(failed.exitCode, 2)
    assert.include(failed.error, "at most 251 loops fit")
    const ok = results.find((r) => r.sessionId === killed)
    assert.strictEqual(ok.ok, true, ok.error)
    assert.strictEqual(ok.state.session.loopCount, 300)
    assert.notInclude(resumed.stderr + resumed.stdout, "    at ")

    // An env with nothing interrupted: it says so, and prints no result (one JSON line per session).
    const again = runCli(["resume-all", "--loops", "300", "--json"], { ...env, STATE_ENV: uniqueEnv("cliresumenone") })
    assert.strictEqual(again.status, 0, again.stderr)
    assert.strictEqual(again.stdout, "")
    assert.include(again.stderr.split("\n"), "no interrupted session to resume")
  }, 60_000)

  const exitCases: ReadonlyArray<{ name: string; args: ReadonlyArray<string>; env?: Record<string, string>; code: number; says: string }> = [
    { name: "an unknown flag", args: ["run", "--bogus"], code: 2, says: "" },
    { name: "resume without the session to resume", args: ["run", "--mode", "resume", "--loops", "5"], code: 2, says: "--mode resume needs --session ID" },
    { name: "a malformed session id", args: ["restore", "--session", "not-a-session", "--dry-run"], code: 2, says: "" },
    { name: "resuming a session that does not exist", args: ["run", "--mode", "resume", "--session", "sess_nobody99", "--loops", "5", "--seed", "1"], code: 2, says: "has no state to resume" },
    { name: "an unknown campaign", args: ["run", "--mode", "clean", "--loops", "5", "--seed", "1", "--campaign", "yolo"], code: 2, says: "unknown campaign yolo" },
    { name: "a clean start on a taken id", args: ["run", "--mode", "clean", "--session", sessionId, "--loops", "5", "--seed", "1"], code: 2, says: "already has snapshots" },
    {
      name: "a tick that takes the simulated clock past 9999 within the loops asked for",
      args: ["run", "--mode", "clean", "--loops", "300", "--seed", "1", "--tick-ms", "33500000000000"],
      code: 2,
      says: "--loops 300 with --tick-ms 33500000000000 would take the simulated clock past 9999-12-31T23:59:59.999Z; at most 7 loops"
    },
    {
      name: "a tick past the largest safe integer",
      args: ["run", "--mode", "clean", "--loops", "1", "--seed", "1", "--tick-ms", "9007199254740991"],
      code: 2,
      says: "at most 0 loops"
    },
    {
      name: "more loops than the calendar holds at the default tick of a new session",
      args: ["run", "--mode", "clean", "--loops", "300000000000", "--seed", "1"],
      code: 2,
      says: "--loops 300000000000 with --tick-ms 1000 would take the simulated clock past"
    },
    {
      name: "supervise with such a tick",
      args: ["supervise", "--loops", "300", "--seed", "1", "--tick-ms", "33500000000000"],
      code: 2,
      says: "at most 7 loops"
    },
    {
      name: "resume-all with such a tick",
      args: ["resume-all", "--loops", "300", "--seed", "1", "--tick-ms", "33500000000000"],
      code: 2,
      says: "at most 7 loops"
    },
    { name: "resume-all with a negative loop count", args: ["resume-all", "--loops", "-1"], code: 2, says: "--loops must be at least 0" },
    {
      name: "an unreachable Redis",
      args: ["sessions"],
      env: { REDIS_URL: "redis://:s3cret-pw@127.0.0.1:1/0" },
      code: 4,
      says: "ECONNREFUSED"
    }
  ]
  for (const c of exitCases) {
    it(`${c.name}: exit ${c.code}, no stack trace`, () => {
      const run = runCli(c.args, { ...env, ...c.env })
      assert.strictEqual(run.status, c.code, run.stderr)
      assert.include(run.stderr, c.says)
      assert.notInclude(run.stderr + run.stdout, "    at ")
      assert.notInclude(run.stderr + run.stdout, "s3cret-pw")
    })
  }
})

describe("cli verify-snapshot", () => {
  const fixture = fileURLToPath(new URL("../fixtures/v1/snapshot-trade.json", import.meta.url))

  it("a valid snapshot file: exit 0", () => {
    const run = runCli(["verify-snapshot", fixture, "--json"])
    assert.strictEqual(run.status, 0, run.stderr)
    assert.strictEqual(lastJson(run.stdout).valid, true)
  })

  it("a device that never ends (/dev/zero), a FIFO nobody writes, a symlink to a device, or a directory: exit 2 at once, one line, nothing read", () => {
    const dir = mkdtempSync(join(tmpdir(), "arbitrage-state-verify-"))
    try {
      const fifo = join(dir, "fifo")
      spawnSync("mkfifo", [fifo])
      const link = join(dir, "link.json")
      symlinkSync("/dev/zero", link)
      for (const path of ["/dev/zero", fifo, link, tmpdir()]) {
        const run = runCli(["verify-snapshot", path])
        assert.strictEqual(run.status, 2, `${path}: ${run.stderr}`)
        assert.deepStrictEqual(run.stderr.trim().split("\n"), [`cannot check ${path}: not a regular file`])
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("a file larger than a snapshot can be: exit 2 before reading it, one line giving the limit", () => {
    // The limit the README states: five parts (four sections, the runner's own) of at most 16 MiB, and 1 MiB for the envelope.
    const limit = 81 * 1024 * 1024
    const dir = mkdtempSync(join(tmpdir(), "arbitrage-state-verify-"))
    try {
      // Sparse files: their size is there, their bytes never written.
      const huge = join(dir, "huge.json")
      writeFileSync(huge, "")
      truncateSync(huge, limit + 1)
      const refused = runCli(["verify-snapshot", huge])
      assert.strictEqual(refused.status, 2, refused.stderr)
      const lines = refused.stderr.trim().split("\n")
      assert.lengthOf(lines, 1, refused.stderr)
      assert.include(lines[0], `cannot check ${huge}: ${limit + 1} bytes, over the limit of ${limit} for a snapshot`)
      // At the limit the file is read, and judged on its content (zeros are not JSON: invalid, exit 3).
      truncateSync(huge, limit)
      const read = runCli(["verify-snapshot", huge])
      assert.strictEqual(read.status, 3, read.stderr)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("a file that does not exist: exit 2, one line", () => {
    const run = runCli(["verify-snapshot", "/nonexistent/snapshot.json"])
    assert.strictEqual(run.status, 2, run.stderr)
    assert.lengthOf(run.stderr.trim().split("\n"), 1)
    assert.include(run.stderr, "cannot read /nonexistent/snapshot.json")
  })
})
