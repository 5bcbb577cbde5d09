/**
 * The five scenarios of the original report, against the real Redis and
 * PostgreSQL. The original system skipped S1 and "loaded S5 despite
 * corruption"; here both must pass.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Scope } from "effect"
import { type EngineState, sectionNames } from "../../src/domain/EngineState.ts"
import { SessionId } from "../../src/domain/Ids.ts"
import { newSessionState, simulatedStart } from "../../src/runner/ArbitrageStrategy.ts"
import { type Campaign, campaigns } from "../../src/runner/Campaign.ts"
import * as Runner from "../../src/runner/Runner.ts"
import * as Session from "../../src/session/Session.ts"
import { sectionKey } from "../../src/store/StateKeys.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import { postgresSnapshots, RawLive, RawSnapshots, redisLive } from "../support/Backings.ts"
import { withoutNegativeZero } from "../support/Results.ts"
import { storedForm, uninterruptedRun } from "../support/Runs.ts"
import { uniqueEnv } from "../support/Services.ts"

const env = uniqueEnv("scenarios")
const seed = 424242
const market = { seed, tickMs: 1000 }

const options = (mode: Session.SessionMode, campaign: Campaign, sessionId?: SessionId): Session.SessionOptions => ({
  mode,
  ...(sessionId === undefined ? {} : { sessionId }),
  newState: (id) => newSessionState({ sessionId: id, campaign, startTime: simulatedStart }),
  policy: { snapshotInterval: "5 minutes" }
})

/**
 * Runs a session until `until` holds of the state (or the loop target), then
 * ends it: `stop` closes it cleanly (shutdown snapshot), `crash` abandons it
 * as a killed process would (no shutdown snapshot, status left running).
 */
const runSession = (
  sessionOptions: Session.SessionOptions,
  campaign: Campaign,
  targetLoops: number,
  end: "stop" | "crash",
  until: (state: EngineState) => boolean = () => false
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const session = yield* Session.initialize(sessionOptions).pipe(Scope.provide(scope))
    // One loop at a time, so that the run can end as soon as `until` holds.
    let result = session.initialState
    while (result.session.loopCount < targetLoops && !until(result)) {
      result = yield* Runner.run(session, result, { campaign, market, targetLoops: result.session.loopCount + 1 })
    }
    yield* Scope.close(scope, end === "stop" ? Exit.void : Exit.fail("killed"))
    return { session, state: result }
  })

const openTrades = (state: EngineState) => Object.keys(state.positions.activeTrades).length

/** The live tier loses the session (a flushed or replaced Redis), below the store and its fences. */
const loseLiveTier = (sessionId: SessionId) =>
  Effect.gen(function*() {
    const raw = yield* RawLive
    for (const section of sectionNames) yield* raw.remove(sectionKey(env, sessionId, section))
  })

layer(Layer.mergeAll(redisLive.layer(env), postgresSnapshots.layer(env)), { timeout: "120 seconds" })("scenarios", (it) => {
  it.effect("S1: a session with an open position (both leg orders) is restored exactly, from either tier", () =>
    Effect.gen(function*() {
      const campaign = campaigns.balanced!
      const { session, state } = yield* runSession(options("CLEAN_RESET", campaign), campaign, 2_000, "crash", (s) => openTrades(s) > 0)
      assert.isAbove(openTrades(state), 0, "the run opened a trade")
      const resumed = yield* runSession(options("RESUME_FROM_STATE", campaign, session.sessionId), campaign, 0, "crash")
      assert.deepStrictEqual(resumed.session.initialState, withoutNegativeZero(state))
      const [trade] = Object.values(resumed.session.initialState.positions.activeTrades)
      assert.deepStrictEqual(trade, withoutNegativeZero(Object.values(state.positions.activeTrades)[0]))
      assert.sameMembers([trade!.buyLeg.venue, trade!.sellLeg.venue], ["A", "B"])

      // Without the live tier, the trade snapshot (committed before the next loop) holds it too.
      yield* loseLiveTier(session.sessionId)
      const fromPostgres = yield* runSession(options("RESUME_FROM_STATE", campaign, session.sessionId), campaign, 0, "crash")
      const origin = fromPostgres.session.origin
      assert.strictEqual(origin.kind === "resumed" ? origin.report.source : "", "snapshot")
      assert.deepStrictEqual(fromPostgres.session.initialState.positions, withoutNegativeZero(state.positions))
    }))

  it.effect("S2: trades, PnL and equity carry on across a resume and keep growing", () =>
    Effect.gen(function*() {
      const campaign = campaigns.aggressive!
      const first = yield* runSession(options("CLEAN_RESET", campaign), campaign, 500, "stop")
      const sessionId = first.session.sessionId
      assert.isAbove(first.state.metrics.tradesClosed, 0)
      const second = yield* runSession(options("RESUME_FROM_STATE", campaign, sessionId), campaign, 1_000, "stop")
      assert.strictEqual(second.session.initialState.metrics.tradesOpened, first.state.metrics.tradesOpened)
      assert.strictEqual(second.session.initialState.metrics.totalPnlUsd, first.state.metrics.totalPnlUsd)
      assert.isAbove(second.state.metrics.tradesOpened, first.state.metrics.tradesOpened)
      assert.isAbove(second.state.metrics.tradesClosed, first.state.metrics.tradesClosed)
      assert.closeTo(second.state.metrics.portfolioEquityUsd, campaign.initialCapitalUsd + second.state.metrics.totalPnlUsd, 1e-6)
      const expected = uninterruptedRun({ sessionId, campaign, seed, loops: 1_000, status: "running" })
      assert.deepStrictEqual(storedForm(second.state), storedForm(expected))
    }))

  it.effect("S3: the risk guard (daily loss, per-symbol counters) is restored exactly and keeps deciding the same", () =>
    Effect.gen(function*() {
      const campaign = campaigns.cautious!
      const first = yield* runSession(
        options("CLEAN_RESET", campaign),
        campaign,
        3_000,
        "crash",
        (s) => s.riskGuard.dailyLossUsd > 0 && Object.values(s.riskGuard.perSymbol).some((r) => r.tradesRejected > 0)
      )
      const sessionId = first.session.sessionId
      assert.isAbove(first.state.riskGuard.dailyLossUsd, 0)
      const second = yield* runSession(options("RESUME_FROM_STATE", campaign, sessionId), campaign, 1_500, "stop")
      assert.deepStrictEqual(second.session.initialState.riskGuard, withoutNegativeZero(first.state.riskGuard))
      const expected = uninterruptedRun({ sessionId, campaign, seed, loops: 1_500, status: "running" })
      assert.deepStrictEqual(storedForm(second.state), storedForm(expected))
      assert.deepStrictEqual(second.state.riskGuard, withoutNegativeZero(expected.riskGuard))
    }))

  it.effect("S4: a clean reset gives a new, empty session; a resume gives back the original", () =>
    Effect.gen(function*() {
      const campaign = campaigns.balanced!
      const original = yield* runSession(options("CLEAN_RESET", campaign), campaign, 300, "stop")
      assert.isAbove(original.state.metrics.tradesOpened, 0)
      const reset = yield* runSession(options("CLEAN_RESET", campaign), campaign, 0, "stop")
      assert.notStrictEqual(reset.session.sessionId, original.session.sessionId)
      assert.strictEqual(reset.session.initialState.session.loopCount, 0)
      assert.strictEqual(reset.session.initialState.metrics.tradesOpened, 0)
      const resumed = yield* runSession(options("RESUME_FROM_STATE", campaign, original.session.sessionId), campaign, 0, "stop")
      assert.strictEqual(resumed.session.sessionId, original.session.sessionId)
      assert.strictEqual(resumed.session.initialState.session.loopCount, 300)
      assert.deepStrictEqual(resumed.session.initialState.metrics, withoutNegativeZero(original.state.metrics))
    }))

  it.effect("S5: a corrupted latest snapshot (campaign emptied) is never restored; the previous good one is, and the report says why", () =>
    Effect.gen(function*() {
      const campaign = campaigns.balanced!
      const first = yield* runSession(options("CLEAN_RESET", campaign), campaign, 400, "crash")
      const sessionId = first.session.sessionId
      const snapshots = yield* SnapshotStore
      const [latest, previous] = yield* snapshots.listSnapshots(sessionId, 2)
      const stored = Option.getOrThrow(yield* snapshots.loadLatest(sessionId))
      yield* (yield* RawSnapshots).setSection(latest!.snapshotId, "session", {
        version: 1,
        ...stored.snapshot.state.session,
        campaignId: ""
      })
      yield* loseLiveTier(sessionId)

      const resumed = yield* runSession(options("RESUME_FROM_STATE", campaign, sessionId), campaign, 400, "stop")
      const origin = resumed.session.origin
      assert.strictEqual(origin.kind, "resumed")
      if (origin.kind !== "resumed") return
      assert.strictEqual(origin.report.source, "snapshot")
      assert.strictEqual(origin.report.snapshotId, previous!.snapshotId)
      const skipped = origin.report.skipped.find((s) => s.snapshotId === latest!.snapshotId)
      assert.strictEqual(skipped?.kind, "invalid")
      assert.include(skipped?.reason ?? "", "checksum")
      assert.notStrictEqual(resumed.session.initialState.session.campaignId, "")
      // Resuming from the older state replays the lost loops and still ends where the uninterrupted run does.
      assert.deepStrictEqual(storedForm(resumed.state), storedForm(uninterruptedRun({ sessionId, campaign, seed, loops: 400, status: "running" })))
    }))
})

