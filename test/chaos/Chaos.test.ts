/**
 * Chaos: a supervised session is killed with SIGKILL at random moments
 * (while starting, while waiting for the dead runner's lease, while trading),
 * and resumed by the supervisor each time. Real child processes, the real
 * Redis and PostgreSQL.
 *
 * After each kill, before the restart, the restore pipeline's choice is
 * checked against the same run computed without interruption: the restored
 * state must be exactly the uninterrupted run's state at its loop count (so
 * no committed trade is lost or counted twice, and equity is initial capital
 * plus realized PnL), never behind a committed trade snapshot, and its loop
 * count never goes backwards; and its trade ledger (with the live tier's
 * tail) must be exactly the uninterrupted run's closes up to that loop, their
 * PnL summing to the metrics'. At the end, the final state must equal the
 * uninterrupted run's, and the durable ledger hold every close.
 *
 * `npm test` runs a short version (CHAOS_KILLS, default 5); `npm run
 * test:chaos` runs 50 kills.
 */
import { expectRestored } from "../support/Results.ts"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { randomInt } from "node:crypto"
import type { ClosedTrade, LedgerEntry } from "../../src/domain/ClosedTrade.ts"
import type { EngineState } from "../../src/domain/EngineState.ts"
import { SessionId } from "../../src/domain/Ids.ts"
import { audit, describeAudit } from "../../src/recovery/LedgerAudit.ts"
import * as Restore from "../../src/recovery/Restore.ts"
import { newSessionState, runLoop, simulatedStart } from "../../src/runner/ArbitrageStrategy.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import * as Supervisor from "../../src/supervisor/Supervisor.ts"
import { durableOn, redisLiveLayer } from "../../src/store/Persistence.ts"
import { testPostgres } from "../support/Backings.ts"
import { chaosRunArgs, differences, storedForm } from "../support/Runs.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"

const kills = Number(process.env.CHAOS_KILLS ?? "5")
// Long enough that the run cannot end before every kill has happened (a kill costs about 100 loops).
const loops = Math.max(2_000, kills * 250)
const seed = 77
const campaign = campaigns.aggressive!
// Paced at 2 ms a loop, so that a run lasts long enough to be killed many times.
const tickMs = 2

/** A value as JSON gives it back (what a store holds of it). */
const jsonOf = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

describe(`chaos: ${kills} SIGKILLs of a supervised session`, () => {
  it.live("every restore is exact and never goes back; the final state equals the uninterrupted run", () =>
    Effect.gen(function*() {
      const env = uniqueEnv("chaos")
      const sessionId = SessionId.make(`sess_chaos${randomInt(1e9).toString(36)}`)

      // The uninterrupted run, loop by loop, and every trade it closes, in order.
      const reference: Array<EngineState> = [newSessionState({ sessionId, campaign, startTime: simulatedStart, market: { seed, tickMs } })]
      const referenceCloses: Array<ClosedTrade> = []
      while (reference.length <= loops) {
        const step = runLoop(reference.at(-1)!, campaign, { seed, tickMs })
        reference.push(step.state)
        referenceCloses.push(...step.events.closed)
      }
      /** The trade ledger (with the live tier's tail) must be exactly the uninterrupted run's closes, summing to the metrics' PnL. */
      const assertLedger = (state: EngineState, tail: ReadonlyArray<LedgerEntry>, where: string) =>
        Effect.gen(function*() {
          const found = yield* audit(state, tail)
          assert.isTrue(found.agrees, `${where}: ${describeAudit(found)}`)
          assert.deepStrictEqual(
            found.entries.map(({ entry }) => jsonOf(entry.trade)),
            referenceCloses.slice(0, state.metrics.tradesClosed).map(jsonOf),
            `${where}: the ledger differs from the uninterrupted run's closes`
          )
        })

      let remaining = kills
      let current: { pid: number; killed: boolean } | undefined
      const kill = (pid: number) => {
        if (remaining > 0 && current?.pid === pid && !current.killed) {
          current.killed = true
          remaining--
          try {
            process.kill(pid, "SIGKILL")
          } catch {
            // it ended on its own first
          }
        }
      }
      // The stores as the runners see them (not the test backings, which remove their namespace when released).
      const stores = Layer.mergeAll(redisLiveLayer(env, testRedisUrl), durableOn(env, testPostgres))
      let lastRestoredLoop = -1
      const restoredLoops: Array<number> = []

      const report = yield* Supervisor.supervise({
        sessionId,
        runArgs: chaosRunArgs({ loops, seed, campaign, tickMs }),
        env: {
          DATABASE_URL: Redacted.value(testDatabaseUrl),
          REDIS_URL: Redacted.value(testRedisUrl),
          STATE_ENV: env,
          LEASE_TTL: "1 second"
        },
        maxRestarts: kills + 5,
        initialBackoff: "20 millis",
        maxBackoff: "200 millis",
        leaseWaitSeconds: 10,
        onStart: ({ pid }) => {
          current = { pid, killed: false }
          // Half the kills come at a random moment after the start (maybe before any loop ran) ...
          if (randomInt(2) === 0) setTimeout(() => kill(pid), randomInt(50, 1_500))
        },
        // ... the other half on a random loop while trading.
        onLine: (line) => {
          if (current !== undefined && line.startsWith("{\"loop\":") && randomInt(150) === 0) kill(current.pid)
        },
        beforeRestart: () =>
          Effect.gen(function*() {
            const report = yield* Restore.run(sessionId)
            if (report.outcome === "fresh") return // killed before its first snapshot
            const restored = expectRestored(report)
            const state = restored.state
            const loop = state.session.loopCount
            assert.isAtLeast(loop, lastRestoredLoop, `the loop count went backwards: ${JSON.stringify({ ...restored, state: null })}`)
            lastRestoredLoop = loop
            restoredLoops.push(loop)
            const expected = { ...reference[loop]!, session: { ...reference[loop]!.session, status: state.session.status } }
            assert.deepStrictEqual(
              storedForm(state),
              storedForm(expected),
              `restored state (${restored.source} #${restored.sequence}) at loop ${loop} differs from the uninterrupted run: ${
                differences(storedForm(state), storedForm(expected)).slice(0, 5).join("; ")
              }`
            )
            assert.closeTo(state.metrics.portfolioEquityUsd, state.metrics.initialCapitalUsd + state.metrics.totalPnlUsd, 1e-6)
            yield* assertLedger(state, restored.ledgerTail, `restored at loop ${loop} from ${restored.source}`)
            const [latestSnapshot] = yield* (yield* SnapshotStore).listSnapshots(sessionId, 1)
            if (latestSnapshot !== undefined) assert.isAtLeast(loop, latestSnapshot.loopCount, "a committed snapshot was lost")
          }).pipe(Effect.provide(stores))
      })

      assert.strictEqual(report.outcome, "completed", JSON.stringify(report.deaths))
      assert.strictEqual(report.deaths.filter((d) => d.signal === "SIGKILL").length, kills)
      assert.strictEqual(remaining, 0)
      const final = JSON.parse(report.lastLine!)
      const expected = reference[loops]!
      assert.deepStrictEqual(final, storedForm({ ...expected, session: { ...expected.session, status: "stopped" } }))
      // Stopped: every close is in the durable ledger (the stop appended the tail), summing to the final PnL.
      yield* assertLedger(expected, [], "at the end").pipe(Effect.provide(stores))
    }), { timeout: 600_000 })
})
