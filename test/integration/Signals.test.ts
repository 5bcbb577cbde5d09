/**
 * The documented entry points stopped the way a process manager stops what
 * it started: SIGTERM to the `npm run cli -- ...` process, and to nothing
 * else. The runner must stop gracefully (its shutdown snapshot, status
 * `stopped`, its lease released), and no process of the tree may outlive npm:
 * an orphaned runner would go on trading under a lease nobody supervises.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Redacted, Schedule } from "effect"
import { spawn } from "node:child_process"
import { randomInt } from "node:crypto"
import { fileURLToPath } from "node:url"
import { SessionId } from "../../src/domain/Ids.ts"
import { SessionLease } from "../../src/store/SessionLease.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import { readLines } from "../../src/supervisor/LineReader.ts"
import { postgresSnapshots, redisLive } from "../support/Backings.ts"
import { commandLineOf, descendantsOf, isRunning } from "../support/Processes.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"

const projectRoot = fileURLToPath(new URL("../..", import.meta.url))
const env = uniqueEnv("signals")
const session = () => SessionId.make(`sess_sig${randomInt(1e9).toString(36)}`)
// A session that would trade for hours: whatever ends it, it is the signal.
const longRun = (sessionId: SessionId) => ["--session", sessionId, "--loops", "1000000", "--seed", "7", "--pace", "--tick-ms", "20"]

/** An npm process started in the background as a process manager starts it, and what it wrote. */
interface NpmProcess {
  readonly pid: number
  readonly output: () => string
  readonly exited: Promise<void>
}

/**
 * Starts `npm run cli -- args` in the project. When the scope closes, every process of its tree that
 * the test has seen and that still runs is killed, so that a failing test leaves no runner behind.
 */
const startNpm = (args: ReadonlyArray<string>, seen: Set<number>) =>
  Effect.acquireRelease(
    Effect.sync((): NpmProcess => {
      const { DATABASE_URL: _d, REDIS_URL: _r, ...inherited } = process.env
      const child = spawn("npm", ["run", "cli", "--", ...args], {
        cwd: projectRoot,
        env: { ...inherited, DATABASE_URL: Redacted.value(testDatabaseUrl), REDIS_URL: Redacted.value(testRedisUrl), STATE_ENV: env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      const collect = (line: string) => void (output += `${line}\n`)
      readLines(child.stdout, collect)
      readLines(child.stderr, collect)
      // "exit", not "close": an orphan that inherited npm's pipes would keep them open after npm is gone.
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
      seen.add(child.pid!)
      return { pid: child.pid!, output: () => output, exited }
    }),
    () => Effect.sync(() => [...seen].filter(isRunning).forEach((pid) => process.kill(pid, "SIGKILL")))
  )

/** Waits (bounded) until the session has its first durable snapshot: the runner is trading. */
const firstSnapshot = (sessionId: SessionId, npm: NpmProcess) =>
  Effect.gen(function*() {
    const snapshots = yield* SnapshotStore
    const [latest] = yield* snapshots.listSnapshots(sessionId, 1)
    if (latest === undefined) {
      if (!isRunning(npm.pid)) return yield* Effect.die(new Error(`npm ended before the first snapshot:\n${npm.output()}`))
      return yield* Effect.fail("no snapshot yet" as const)
    }
  }).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 300 }))

/**
 * Starts `npm run cli -- args`, waits until it trades, sends SIGTERM to npm alone, and waits for npm
 * to exit; returns the processes npm had started (found before the signal) that still run then.
 */
const stopWithSigterm = (sessionId: SessionId, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const seen = new Set<number>()
    const npm = yield* startNpm(args, seen)
    yield* firstSnapshot(sessionId, npm)
    const tree = descendantsOf(npm.pid)
    tree.forEach((pid) => seen.add(pid))
    const runners = tree.filter((pid) => commandLineOf(pid).includes(sessionId))
    assert.isNotEmpty(runners, `no process of npm's tree runs ${sessionId}:\n${npm.output()}`)
    process.kill(npm.pid, "SIGTERM")
    yield* Effect.promise(() => npm.exited).pipe(
      Effect.timeoutOrElse({
        duration: "30 seconds",
        orElse: () => Effect.die(new Error(`npm did not exit within 30 s of SIGTERM:\n${npm.output()}`))
      })
    )
    return { leftRunning: tree.filter(isRunning), output: npm.output() }
  })

/** The session ended gracefully: its newest snapshot is the shutdown one, status stopped, its lease released. */
const assertStoppedGracefully = (sessionId: SessionId, output: string) =>
  Effect.gen(function*() {
    const [latest] = yield* (yield* SnapshotStore).listSnapshots(sessionId, 1)
    assert.strictEqual(latest?.snapshotType, "shutdown", output)
    assert.strictEqual(latest?.status, "stopped", output)
    const live = yield* (yield* SessionLease).listLive()
    assert.notInclude(live.map((lease) => lease.sessionId), sessionId)
  })

// Real time throughout (no TestClock): the processes run on the clock of the machine.
layer(Layer.mergeAll(redisLive.layer(env), postgresSnapshots.layer(env)), { excludeTestServices: true })("SIGTERM to npm", (it) => {
  it.effect("npm run cli -- run: the runner takes its shutdown snapshot, releases its lease, and is gone when npm exits", () =>
    Effect.gen(function*() {
      const sessionId = session()
      const { leftRunning, output } = yield* stopWithSigterm(sessionId, ["run", "--mode", "clean", ...longRun(sessionId)])
      assert.deepStrictEqual(leftRunning, [], `processes of npm's tree outlived it:\n${output}`)
      yield* assertStoppedGracefully(sessionId, output)
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.effect("npm run cli -- supervise: the supervisor stops its runner gracefully, and nothing outlives npm", () =>
    Effect.gen(function*() {
      const sessionId = session()
      const { leftRunning, output } = yield* stopWithSigterm(sessionId, ["supervise", ...longRun(sessionId)])
      assert.deepStrictEqual(leftRunning, [], `processes of npm's tree outlived it:\n${output}`)
      yield* assertStoppedGracefully(sessionId, output)
    }).pipe(Effect.scoped), { timeout: 60_000 })
})
