/**
 * A stop the runner cannot record: SIGTERM arrives while PostgreSQL does not
 * answer. The session then stays `running` in the durable tier, and the
 * command must say so and exit with the store's code (4), not end as a clean
 * stop (143), which a supervisor or an operator would take for "recorded".
 *
 * The CLI as a real process; PostgreSQL behind a proxy the test cuts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Redacted, Schedule } from "effect"
import { spawn } from "node:child_process"
import { randomInt } from "node:crypto"
import { fileURLToPath } from "node:url"
import { SessionId } from "../../src/domain/Ids.ts"
import { durableOn } from "../../src/store/Persistence.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import { readLines } from "../../src/supervisor/LineReader.ts"
import { testPostgres } from "../support/Backings.ts"
import { testRedisUrl, uniqueEnv } from "../support/Services.ts"
import { testPostgresProxy } from "../support/TcpProxy.ts"

const cliMain = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url))

/**
 * The CLI started in the background with `env` on a clean environment: its stderr so far, each stdout
 * line to `onLine`, its exit code once it has ended; killed if it outlives the test.
 */
const startCli = (args: ReadonlyArray<string>, env: Record<string, string>, onLine: (line: string) => void = () => {}) =>
  Effect.gen(function*() {
    const { DATABASE_URL: _d, REDIS_URL: _r, ...inherited } = process.env
    const child = spawn(process.execPath, [cliMain, ...args], { env: { ...inherited, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
    let stderr = ""
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => void (stderr += chunk))
    readLines(child.stdout, onLine)
    const ended = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)))
    return { child, stderr: () => stderr, ended: Effect.promise(() => ended).pipe(Effect.timeout("30 seconds")) }
  })

describe("a stop that cannot be recorded", () => {
  it.live("SIGTERM while PostgreSQL does not answer: exit 4 with one line saying the session stays running", () =>
    Effect.gen(function*() {
      const stateEnv = uniqueEnv("clistop")
      const sessionId = SessionId.make(`sess_stop${randomInt(1e9).toString(36)}`)
      const { proxy, url } = yield* testPostgresProxy

      let trading: () => void = () => {}
      const tradingStarted = new Promise<void>((resolve) => void (trading = resolve))
      const cli = yield* startCli(
        ["run", "--session", sessionId, "--mode", "clean", "--loops", "1000000", "--seed", "7", "--pace", "--tick-ms", "10", "--json", "--status-every", "1"],
        { DATABASE_URL: Redacted.value(url), REDIS_URL: Redacted.value(testRedisUrl), STATE_ENV: stateEnv },
        (line) => line.startsWith("{\"loop\":") && trading()
      )

      // Trading (its first snapshot is durable), then the database goes away, then the operator stops it.
      yield* Effect.promise(() => tradingStarted).pipe(Effect.timeout("30 seconds"))
      yield* proxy.cut
      cli.child.kill("SIGTERM")
      const code = yield* cli.ended
      const stderr = cli.stderr()

      assert.strictEqual(code, 4, stderr)
      assert.include(stderr, "the stop could not be recorded")
      assert.notInclude(stderr, "    at ", "no stack trace")
      // The summary (stderr, with --json) says so too, and how to resume once the database is back.
      assert.match(stderr, new RegExp(`\n {2}snapshot {3}#\\d+ \\w+ is the last one: the stop could not be recorded \\(.*\\); the session stays running\n`))
      assert.include(stderr, `  resume     STATE_ENV=${stateEnv} npm run cli -- run --mode resume --session ${sessionId} --loops 1000000`)
      const latest = yield* SnapshotStore.pipe(
        Effect.flatMap((store) => store.loadLatest(sessionId)),
        Effect.provide(durableOn(stateEnv, testPostgres, { migrate: false }))
      )
      assert.strictEqual(Option.getOrThrow(latest).snapshot.state.session.status, "running", "the durable tier still says running")
    }), { timeout: 90_000 })

  it.live("supervise stopped with SIGTERM while PostgreSQL does not answer: it ends as its runner did, exit 4, not as a clean stop", () =>
    Effect.gen(function*() {
      const stateEnv = uniqueEnv("clistopsup")
      const sessionId = SessionId.make(`sess_stopsup${randomInt(1e9).toString(36)}`)
      const { proxy, url } = yield* testPostgresProxy
      const cli = yield* startCli(
        ["supervise", "--session", sessionId, "--loops", "1000000", "--seed", "7", "--pace", "--tick-ms", "10"],
        { DATABASE_URL: Redacted.value(url), REDIS_URL: Redacted.value(testRedisUrl), STATE_ENV: stateEnv }
      )

      // Trading: its runner's first snapshot is durable (read past the proxy).
      const durable = durableOn(stateEnv, testPostgres, { migrate: false })
      yield* SnapshotStore.pipe(
        Effect.flatMap((store) => store.listSnapshots(sessionId, 1)),
        Effect.provide(durable),
        Effect.flatMap((found) => (found.length > 0 ? Effect.void : Effect.fail("no snapshot yet"))),
        Effect.retry({ times: 300, schedule: Schedule.spaced("100 millis") })
      )
      yield* proxy.cut
      cli.child.kill("SIGTERM")
      const code = yield* cli.ended

      assert.strictEqual(code, 4, cli.stderr())
      assert.include(cli.stderr(), "the stop could not be recorded")
    }), { timeout: 90_000 })
})
