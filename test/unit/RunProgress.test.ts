/**
 * What `run` prints about its progress and its end, from given times and
 * states: the rate and the time left follow the recent pace; the summary
 * says how the stop was recorded and gives the command to carry on, except
 * when another runner took the session over.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { SessionId } from "../../src/domain/Ids.ts"
import { formatDuration, leaseWaitLine, progressMeter, statusText, summaryLines } from "../../src/cli/RunProgress.ts"
import { SessionHeld } from "../../src/store/SessionLease.ts"
import { StoreError } from "../../src/store/StoreError.ts"
import type { SnapshotSummary } from "../../src/store/SnapshotStore.ts"
import { sampleStates } from "../support/States.ts"

const sessionId = SessionId.make("sess_progress1")

const periodic = (sequence: number, loopCount: number): Option.Option<SnapshotSummary> =>
  Option.some({
    snapshotId: sequence,
    sessionId,
    sequence,
    snapshotType: "trade",
    fencingToken: 1,
    createdAt: 0,
    recordedAt: 0,
    loopCount,
    status: "running",
    openTrades: 0
  })

describe("progressMeter", () => {
  it("gives the percent at once, and the rate and time left once time has passed, following a change of pace", () => {
    const meter = progressMeter(1000)
    assert.deepStrictEqual(meter(0, 10_000), { percent: 0, loopsPerSecond: null, etaSeconds: null })
    assert.deepStrictEqual(meter(100, 12_000), { percent: 10, loopsPerSecond: 50, etaSeconds: 18 })
    assert.deepStrictEqual(meter(400, 18_000), { percent: 40, loopsPerSecond: 50, etaSeconds: 12 })
    // Slower now: 10 loops in the 10 s since; the rate over the last seconds says so, not the average since the start.
    const slowed = meter(410, 28_000)
    assert.isBelow(slowed.loopsPerSecond!, 5)
    assert.isAbove(slowed.etaSeconds!, 100)
    assert.deepStrictEqual(meter(1000, 29_000).etaSeconds, 0)
  })

  it("a target of 0 is done", () => {
    assert.strictEqual(progressMeter(0)(0, 0).percent, 100)
  })
})

describe("formatDuration", () => {
  it("reads as seconds, minutes and seconds, or hours and minutes", () => {
    assert.deepStrictEqual([0, 0.2, 45, 185, 7380].map(formatDuration), ["0s", "1s", "45s", "3m 05s", "2h 03m"])
  })
})

describe("statusText", () => {
  it.effect("on a terminal: target, percent, rate, time left and the last snapshot; in a log, no rate", () =>
    Effect.gen(function*() {
      const [sampled] = yield* sampleStates(sessionId, { count: 1, seed: 3, minOpenTrades: 2, maxOpenTrades: 2 })
      const state = { ...sampled!, session: { ...sampled!.session, loopCount: 250 } }
      const live = statusText(state, 1000, "#12 trade", { percent: 25, loopsPerSecond: 31.25, etaSeconds: 24 })
      assert.match(live, /^loop 250\/1000 25\.0% {2}31 loops\/s {2}ETA 24s {2}open 2 {2}pnl -?\d+\.\d\d {2}equity -?\d+\.\d\d {2}last snapshot #12 trade$/)
      assert.match(statusText(state, 1000, "#12 trade"), /^loop 250\/1000 25\.0% {2}open 2 .*last snapshot #12 trade$/)
    }))
})

describe("summaryLines", () => {
  it.effect("a recorded stop short of the target: the loop, each open position, the shutdown snapshot, the command to resume", () =>
    Effect.gen(function*() {
      const [sampled] = yield* sampleStates(sessionId, { count: 1, seed: 4, minOpenTrades: 3, maxOpenTrades: 3 })
      const state = { ...sampled!, session: { ...sampled!.session, loopCount: 2334, status: "stopped" as const } }
      const lines = summaryLines({ kind: "recorded", sequence: 219, state }, { target: 5000, lastSnapshot: periodic(218, 2330), env: "prod" })
      assert.strictEqual(lines[0], `${sessionId} stopped at loop 2334 of 5000`)
      assert.strictEqual(lines[1], "  open       3 position(s)")
      for (const tradeId of Object.keys(state.positions.activeTrades)) assert.isTrue(lines.some((line) => line.startsWith(`    ${tradeId} `)))
      assert.include(lines, "  snapshot   #219 shutdown: the stop is recorded")
      assert.strictEqual(lines.at(-1), `  resume     STATE_ENV=prod npm run cli -- run --mode resume --session ${sessionId} --loops 5000`)
    }))

  it.effect("at the target in the default env: a command to go on further, without STATE_ENV", () =>
    Effect.gen(function*() {
      const [state] = yield* sampleStates(sessionId, { count: 1, seed: 5 })
      const at = { ...state!, session: { ...state!.session, loopCount: 5000 } }
      const lines = summaryLines({ kind: "recorded", sequence: 300, state: at }, { target: 5000, lastSnapshot: Option.none(), env: "dev" })
      assert.strictEqual(lines[0], `${sessionId} reached loop 5000 (its target)`)
      assert.strictEqual(lines.at(-1), `  go on      npm run cli -- run --mode resume --session ${sessionId} --loops 10000`)
    }))

  it.effect("past the target with trades still in flight: says so, lists them, and offers the command that settles them", () =>
    Effect.gen(function*() {
      const states = yield* sampleStates(sessionId, { count: 20, seed: 6 })
      const state = states.find((s) => Object.keys(s.positions.pendingTrades ?? {}).length > 0)
      assert.isDefined(state, "a sampled state has trades in flight")
      const at = { ...state!, session: { ...state!.session, loopCount: 5003 } }
      const pending = Object.keys(at.positions.pendingTrades!).length
      const lines = summaryLines({ kind: "recorded", sequence: 300, state: at }, { target: 5000, lastSnapshot: Option.none(), env: "dev", venueUrl: "http://127.0.0.1:7100" })
      assert.strictEqual(lines[0], `${sessionId} stopped at loop 5003 (its target 5000) with ${pending} trade(s) still in flight: resume it to follow them`)
      assert.isTrue(lines.some((line) => line.startsWith(`  in flight  ${pending} trade(s)`)))
      assert.strictEqual(
        lines.at(-1),
        `  settle     npm run cli -- run --mode resume --session ${sessionId} --loops 5003 --venue-url http://127.0.0.1:7100  (follows them, decides nothing new)`
      )
    }))

  it.effect("run on stores named by the environment: the command to go on says they must be set again, naming them only", () =>
    Effect.gen(function*() {
      const [state] = yield* sampleStates(sessionId, { count: 1, seed: 5 })
      const lines = summaryLines(
        { kind: "recorded", sequence: 3, state: state! },
        { target: 9_999_999, lastSnapshot: Option.none(), env: "dev", storeVariables: ["DATABASE_URL", "REDIS_URL"] }
      )
      assert.match(lines.at(-2)!, /^  (resume|go on)  +npm run cli -- run --mode resume/)
      assert.strictEqual(lines.at(-1), "             with DATABASE_URL and REDIS_URL set as for this run (the session is in those stores)")
    }))

  it.effect("run with state keys: the command to go on names them too (a run without them restores nothing of the session)", () =>
    Effect.gen(function*() {
      const [state] = yield* sampleStates(sessionId, { count: 1, seed: 5 })
      const lines = summaryLines(
        { kind: "recorded", sequence: 3, state: state! },
        { target: 9_999_999, lastSnapshot: Option.none(), env: "dev", storeVariables: ["DATABASE_URL", "STATE_KEYS_FILE", "STATE_ENCRYPTION"] }
      )
      assert.strictEqual(lines.at(-1), "             with DATABASE_URL, STATE_KEYS_FILE and STATE_ENCRYPTION set as for this run (the session is in those stores)")
    }))

  it.effect("a stop not recorded names the last durable snapshot and why; one taken over by another runner offers no command", () =>
    Effect.gen(function*() {
      const [sampled] = yield* sampleStates(sessionId, { count: 1, seed: 6 })
      const state = { ...sampled!, session: { ...sampled!.session, loopCount: 40 } }
      const notRecorded = summaryLines(
        { kind: "not_recorded", error: StoreError.unreachable("postgres", "connection refused"), state },
        { target: 9999999, lastSnapshot: periodic(41, 40), env: "dev" }
      )
      assert.isTrue(notRecorded.some((line) => /^ {2}snapshot {3}#41 trade is the last one: the stop could not be recorded \(.*connection refused.*\); the session stays running$/.test(line)), notRecorded.join("\n"))
      assert.match(notRecorded.at(-1)!, /^ {2}resume {5}npm run cli -- run --mode resume/)
      const fenced = summaryLines({ kind: "left_running", reason: "fenced", state }, { target: 9999999, lastSnapshot: periodic(41, 40), env: "dev" })
      assert.include(fenced.at(-1), "another runner took the session over")
      assert.isFalse(fenced.some((line) => line.includes("npm run cli")))
    }))

  it.effect("past ten open positions, the rest are counted, not listed", () =>
    Effect.gen(function*() {
      const [state] = yield* sampleStates(sessionId, { count: 1, seed: 7, minOpenTrades: 13, maxOpenTrades: 13 })
      const lines = summaryLines({ kind: "recorded", sequence: 2, state: state! }, { target: 9999999, lastSnapshot: Option.none(), env: "dev" })
      assert.lengthOf(lines.filter((line) => /^ {4}\S+ /.test(line) && !line.startsWith("    and ")), 10)
      assert.include(lines, "    and 3 more")
    }))
})

describe("leaseWaitLine", () => {
  it("names the session, the holder and when its lease expires", () => {
    const held = new SessionHeld({ sessionId, holder: "host-42-abc", expiresAt: Date.UTC(2026, 0, 2, 3, 4, 5), message: "held" })
    assert.strictEqual(
      leaseWaitLine(held, 30),
      `waiting for the lease of ${sessionId} held by host-42-abc until 2026-01-02T03:04:05.000Z (a dead runner's lease expires then; giving up after 30 s)`
    )
  })
})
