/**
 * The supervisor's restart policy, with real runner processes: what it
 * restarts, what it does not, and when it gives up.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Redacted } from "effect"
import { randomInt } from "node:crypto"
import { SessionId } from "../../src/domain/Ids.ts"
import * as Supervisor from "../../src/supervisor/Supervisor.ts"
import { isRunning } from "../support/Processes.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"

const env = () => ({
  DATABASE_URL: Redacted.value(testDatabaseUrl),
  REDIS_URL: Redacted.value(testRedisUrl),
  STATE_ENV: uniqueEnv("supervisor")
})
const session = () => SessionId.make(`sess_sup${randomInt(1e9).toString(36)}`)

describe("supervisor", () => {
  it("classifies ends: signals other than SIGINT/SIGTERM and exits 1 and 4 are crashes; the rest are not", () => {
    assert.isTrue(Supervisor.isAbnormal(null, "SIGKILL"))
    assert.isTrue(Supervisor.isAbnormal(null, "SIGSEGV"))
    assert.isTrue(Supervisor.isAbnormal(1, null))
    assert.isTrue(Supervisor.isAbnormal(4, null))
    for (const code of [0, 2, 3, 5, 6, 130, 143]) assert.isFalse(Supervisor.isAbnormal(code, null), `exit ${code}`)
    assert.isFalse(Supervisor.isAbnormal(null, "SIGTERM"))
    assert.isFalse(Supervisor.isAbnormal(null, "SIGINT"))
  })

  it("a clean stop is a death by SIGINT/SIGTERM, or the exit code a runner that handled one gives (128 + 2, 128 + 15)", () => {
    for (const [code, signal] of [[130, null], [143, null], [null, "SIGINT"], [null, "SIGTERM"]] as const) {
      assert.isTrue(Supervisor.isCleanStop(code, signal), `${code ?? signal}`)
    }
    for (const [code, signal] of [[0, null], [1, null], [4, null], [6, null], [null, "SIGKILL"]] as const) {
      assert.isFalse(Supervisor.isCleanStop(code, signal), `${code ?? signal}`)
    }
  })

  it.live("a runner stopped with SIGTERM (it exits 143 after its shutdown snapshot) is a stop: not restarted, not a failure", () =>
    Effect.gen(function*() {
      let pid: number | undefined
      let signalled = false
      const report = yield* Supervisor.supervise({
        sessionId: session(),
        runArgs: ["--loops", "100000", "--seed", "1", "--tick-ms", "20", "--pace", "--json", "--status-every", "1"],
        env: env(),
        onStart: (child) => {
          pid = child.pid
        },
        // Sent once the runner is trading, so that it is its own SIGTERM handling that ends it.
        onLine: (line) => {
          if (!signalled && line.startsWith("{\"loop\":") && pid !== undefined) signalled = process.kill(pid, "SIGTERM")
        }
      })
      assert.isTrue(signalled)
      assert.strictEqual(report.outcome, "stopped")
      assert.strictEqual(report.restarts, 0)
      assert.deepStrictEqual(report.deaths.map((d) => [d.exitCode, d.signal]), [[143, null]])
    }), { timeout: 60_000 })

  it.live("a run that ends cleanly is not restarted", () =>
    Effect.gen(function*() {
      const report = yield* Supervisor.supervise({ sessionId: session(), runArgs: ["--loops", "50", "--seed", "1", "--json"], env: env() })
      assert.strictEqual(report.outcome, "completed")
      assert.strictEqual(report.restarts, 0)
      assert.strictEqual(JSON.parse(report.lastLine!).session.loopCount, 50)
    }), { timeout: 60_000 })

  it.live("bad arguments are not restarted (a restart cannot mend them)", () =>
    Effect.gen(function*() {
      const report = yield* Supervisor.supervise({ sessionId: session(), runArgs: ["--loops", "5", "--seed", "1", "--campaign", "nope"], env: env() })
      assert.strictEqual(report.outcome, "failed")
      assert.deepStrictEqual(report.deaths.map((d) => d.exitCode), [2])
    }), { timeout: 60_000 })

  it.live("a runner that keeps dying (its store unreachable) is restarted with backoff, then given up on", () =>
    Effect.gen(function*() {
      const started: Array<number> = []
      const report = yield* Supervisor.supervise({
        sessionId: session(),
        runArgs: ["--loops", "5", "--seed", "1"],
        env: { ...env(), REDIS_URL: "redis://127.0.0.1:1/0" },
        maxRestarts: 3,
        initialBackoff: "50 millis",
        onStart: () => started.push(Date.now())
      })
      assert.strictEqual(report.outcome, "gave_up")
      assert.deepStrictEqual(report.deaths.map((d) => d.exitCode), [4, 4, 4, 4])
      assert.lengthOf(started, 4)
      // The backoff doubles: each pause is at least the one it was scheduled as (50, 100, 200 ms).
      const pauses = started.slice(1).map((at, i) => at - started[i]!)
      pauses.forEach((pause, i) => assert.isAtLeast(pause, 50 * 2 ** i))
    }), { timeout: 60_000 })

  it.live("a runner an operator stops with SIGTERM ends the supervision as stopped, and is not restarted", () =>
    Effect.gen(function*() {
      let runner: number | undefined
      let signalled = false
      const report = yield* Supervisor.supervise({
        sessionId: session(),
        runArgs: ["--loops", "1000000", "--seed", "1", "--pace", "--tick-ms", "20", "--json", "--status-every", "1"],
        env: env(),
        onStart: ({ pid }) => runner = pid,
        onLine: (line) => {
          if (signalled || runner === undefined || !line.startsWith("{\"loop\":")) return
          signalled = process.kill(runner, "SIGTERM")
        }
      })
      assert.strictEqual(report.outcome, "stopped", JSON.stringify(report.deaths))
      assert.strictEqual(report.restarts, 0)
    }), { timeout: 60_000 })

  it.live("told to stop (interrupted), it stops its runner with SIGTERM and waits for it: the runner is gone when the supervisor is", () =>
    Effect.gen(function*() {
      let runner: number | undefined
      let trading: () => void = () => {}
      const tradingStarted = new Promise<void>((resolve) => trading = resolve)
      const supervisor = yield* Supervisor.supervise({
        sessionId: session(),
        runArgs: ["--loops", "1000000", "--seed", "1", "--pace", "--tick-ms", "20", "--json", "--status-every", "1"],
        env: env(),
        onStart: ({ pid }) => runner = pid,
        onLine: (line) => line.startsWith("{\"loop\":") && trading()
      }).pipe(Effect.forkChild)
      yield* Effect.promise(() => tradingStarted).pipe(
        Effect.timeoutOrElse({ duration: "30 seconds", orElse: () => Effect.die(new Error("the runner never reported a loop")) })
      )
      yield* Fiber.interrupt(supervisor)
      assert.isDefined(runner)
      assert.isFalse(isRunning(runner!), `runner ${runner} still runs after its supervisor stopped`)
    }), { timeout: 60_000 })
})
