/**
 * Chaos: a supervised session trades while its PostgreSQL connections are cut
 * at random moments (a proxy between the runners and the real server drops
 * every connection and refuses new ones for a random while). Statements in
 * flight at a cut are lost with their replies: some committed, some not.
 *
 * What must hold: the session is never lost (the supervisor completes it;
 * any runner that died did so only because a store was unreachable), every
 * durable snapshot holds exactly a state its runner took at that loop (no
 * trade the runner redid without, no sequence written twice), and with the
 * live tier gone the durable tier alone restores exactly the state the
 * runner stopped with, recorded as stopped, its trade ledger holding every
 * close once, their PnL summing to the metrics'.
 *
 * `npm test` runs a short version (CHAOS_CUTS, default 5); `npm run
 * test:chaos` runs 50 cuts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Option, Redacted, Result } from "effect"
import { randomInt } from "node:crypto"
import { SessionId } from "../../src/domain/Ids.ts"
import { audit, describeAudit } from "../../src/recovery/LedgerAudit.ts"
import * as Restore from "../../src/recovery/Restore.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import * as LiveStateStore from "../../src/store/LiveStateStore.ts"
import { durableOn } from "../../src/store/Persistence.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import * as Supervisor from "../../src/supervisor/Supervisor.ts"
import { testPostgres } from "../support/Backings.ts"
import { expectRestored } from "../support/Results.ts"
import { chaosRunArgs, storedForm } from "../support/Runs.ts"
import { testRedisUrl, uniqueEnv } from "../support/Services.ts"
import { testPostgresProxy } from "../support/TcpProxy.ts"

const cuts = Number(process.env.CHAOS_CUTS ?? "5")
// Long enough that the run outlasts every cut (a cut and its outage take about a second).
const loops = Math.max(2_000, cuts * 400)
const seed = 91
const campaign = campaigns.aggressive!
const tickMs = 2

/** What a runner printed after a loop it took (`run --json --status-every 1`). */
interface LoopLine {
  readonly loop: number
  readonly openTrades: number
  readonly tradesOpened: number
  readonly pnlUsd: number
  readonly fencingToken: number
}

const isLoopLine = (value: unknown): value is LoopLine =>
  typeof value === "object" && value !== null && "loop" in value && "fencingToken" in value

describe(`chaos: PostgreSQL connections cut ${cuts} times during trading`, () => {
  it.live("no session is lost, every snapshot holds a state its runner took, and the durable tier alone restores the final state", () =>
    Effect.gen(function*() {
      const env = uniqueEnv("pgcuts")
      const sessionId = SessionId.make(`sess_pgcuts${randomInt(1e9).toString(36)}`)
      const { proxy, url } = yield* testPostgresProxy

      // What each runner (by its token) took, loop by loop.
      const taken = new Map<number, Map<number, LoopLine>>()
      const onLine = (line: string) => {
        if (!line.startsWith("{\"loop\":")) return
        const parsed: unknown = JSON.parse(line)
        if (!isLoopLine(parsed)) return
        const byLoop = taken.get(parsed.fencingToken) ?? new Map<number, LoopLine>()
        byLoop.set(parsed.loop, parsed)
        taken.set(parsed.fencingToken, byLoop)
      }

      let cutsMade = 0
      const cutter = yield* Effect.forkChild(Effect.gen(function*() {
        while (cutsMade < cuts) {
          yield* Effect.sleep(Duration.millis(randomInt(200, 1_200)))
          yield* proxy.cut
          cutsMade++
          yield* Effect.sleep(Duration.millis(randomInt(0, 400)))
          yield* proxy.restore
        }
      }))

      const report = yield* Supervisor.supervise({
        sessionId,
        runArgs: chaosRunArgs({ loops, seed, campaign, tickMs }),
        env: {
          DATABASE_URL: Redacted.value(url),
          REDIS_URL: Redacted.value(testRedisUrl),
          STATE_ENV: env,
          LEASE_TTL: "2 seconds"
        },
        maxRestarts: cuts + 5,
        initialBackoff: "20 millis",
        maxBackoff: "500 millis",
        leaseWaitSeconds: 10,
        onLine
      })
      yield* Fiber.interrupt(cutter)
      yield* proxy.restore

      assert.strictEqual(report.outcome, "completed", JSON.stringify(report.deaths))
      for (const death of report.deaths.slice(0, -1)) {
        assert.strictEqual(death.exitCode, 4, `a runner died other than by an unreachable store: ${JSON.stringify(death)}`)
      }
      assert.isAtLeast(cutsMade, Math.min(cuts, 1), "no cut happened while the session ran")

      const durable = durableOn(env, testPostgres, { migrate: false })
      const stored = yield* SnapshotStore.pipe(
        Effect.flatMap((store) => store.loadRecent(sessionId, { limit: 100_000 })),
        Effect.provide(durable)
      )
      const sequences = stored.map((read) => read.sequence)
      assert.strictEqual(new Set(sequences).size, sequences.length, "a sequence was written twice")
      let checked = 0
      for (const read of stored) {
        const snapshot = Result.getOrThrow(read.result)
        if (snapshot.snapshotType === "shutdown") continue
        const loop = snapshot.state.session.loopCount
        const lines = taken.get(snapshot.fencingToken)
        // A runner that printed loops past this one printed this one too: the snapshot must match it.
        if (lines === undefined || ![...lines.keys()].some((l) => l >= loop) || loop === 0) continue
        const line = lines.get(loop)
        assert.isDefined(line, `snapshot #${snapshot.sequence} is at loop ${loop}, which its runner (token ${snapshot.fencingToken}) did not take`)
        assert.deepStrictEqual(
          {
            openTrades: Object.keys(snapshot.state.positions.activeTrades).length,
            tradesOpened: snapshot.state.metrics.tradesOpened,
            pnlUsd: snapshot.state.metrics.totalPnlUsd
          },
          { openTrades: line!.openTrades, tradesOpened: line!.tradesOpened, pnlUsd: line!.pnlUsd },
          `snapshot #${snapshot.sequence} at loop ${loop} holds a state its runner did not take`
        )
        checked++
      }
      assert.isAbove(checked, 0)

      // The live tier gone: the durable tier alone gives back the final state, stopped.
      const final = JSON.parse(report.lastLine!)
      const restored = expectRestored(yield* Restore.run(sessionId).pipe(
        Effect.provide(Layer.mergeAll(LiveStateStore.layerMemory(uniqueEnv("nolive")), durable))
      ))
      assert.deepStrictEqual(storedForm(restored.state), final)
      assert.strictEqual(restored.state.session.status, "stopped")
      assert.strictEqual(restored.state.session.loopCount, loops)
      const latest = Option.getOrThrow(yield* SnapshotStore.pipe(Effect.flatMap((s) => s.loadLatest(sessionId)), Effect.provide(durable)))
      assert.strictEqual(latest.snapshot.snapshotType, "shutdown")
      // Replies lost mid-append wrote no close twice and lost none: the durable ledger is every close, summing to the PnL.
      const found = yield* audit(restored.state, []).pipe(Effect.provide(durable))
      assert.isTrue(found.agrees, describeAudit(found))
      assert.strictEqual(found.entries.length, restored.state.metrics.tradesClosed)
      assert.isAbove(found.entries.length, 0)
    }), { timeout: 600_000 })
})
