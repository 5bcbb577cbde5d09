/**
 * The trade ledger through the session, on memory stores: every close a
 * step's state counts is appended with the snapshot that counts it, a step
 * whose reported closes differ from its state is refused, closes survive a
 * crash while the durable tier is away (in the live tier's ledger tail), and
 * a resume that falls back past a damaged snapshot supersedes what that
 * snapshot appended.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Ref, Scope } from "effect"
import type { EngineState } from "../../src/domain/EngineState.ts"
import { Env, SessionId } from "../../src/domain/Ids.ts"
import { audit } from "../../src/recovery/LedgerAudit.ts"
import { runLoop, tradesChanged } from "../../src/runner/ArbitrageStrategy.ts"
import * as Runner from "../../src/runner/Runner.ts"
import * as Session from "../../src/session/Session.ts"
import * as LiveStateStoreModule from "../../src/store/LiveStateStore.ts"
import { LiveStateStore } from "../../src/store/LiveStateStore.ts"
import * as Persistence from "../../src/store/Persistence.ts"
import type { SnapshotRow } from "../../src/store/internal/SnapshotRows.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import { StoreError } from "../../src/store/StoreError.ts"
import { TradeLedger } from "../../src/store/TradeLedger.ts"
import { memoryDurableOver } from "../support/Backings.ts"
import { ledgerCampaign } from "../support/Ledger.ts"
import { sessionOptions } from "../support/Sessions.ts"

const env = Env.make("ledger")
const market = { seed: 11, tickMs: 1_000 }

/** Runs `session` from `state` until its loop count reaches `loops`, as the bundled runner does. */
const runTo = (session: Session.ActiveSession, state: EngineState, loops: number) =>
  Runner.run(session, state, { campaign: ledgerCampaign, market, targetLoops: loops })

/** Starts a session in a scope of its own. */
const start = (options: Session.SessionOptions) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    return { scope, session: yield* Session.initialize(options).pipe(Scope.provide(scope)) }
  })

describe("the trade ledger through a session", () => {
  it.effect("a run appends every close its state counts, numbered in order, summing to the metrics' PnL", () =>
    Effect.gen(function*() {
      const { scope, session } = yield* start(sessionOptions("CLEAN_RESET", ledgerCampaign, SessionId.make("sess_ledgerrun1")))
      const final = yield* runTo(session, session.initialState, 150)
      yield* Scope.close(scope, Exit.void)
      assert.isAtLeast(final.metrics.tradesClosed, 10, "the run closes trades")
      const summary = yield* (yield* TradeLedger).summary(session.sessionId)
      assert.strictEqual(summary.entries, final.metrics.tradesClosed)
      assert.deepStrictEqual([summary.firstClose, summary.lastClose], [1, final.metrics.tradesClosed])
      assert.closeTo(summary.realizedPnlUsd, final.metrics.totalPnlUsd, 1e-9 * Math.max(1, Math.abs(final.metrics.totalPnlUsd)))
      const found = yield* audit(final, [])
      assert.isTrue(found.agrees)
      assert.deepStrictEqual(found.missing, [])
    }).pipe(Effect.provide(Persistence.layerMemory(env))))

  it.effect("a step whose reported closes are not what its state counts is refused, and nothing of it is written", () =>
    Effect.gen(function*() {
      const { scope, session } = yield* start(sessionOptions("CLEAN_RESET", ledgerCampaign, SessionId.make("sess_ledgerbad1")))
      let state = session.initialState
      let step = runLoop(state, ledgerCampaign, market)
      while (step.events.closed.length === 0) {
        yield* session.persist(step.state, { tradesChanged: tradesChanged(step.events), closed: [] })
        state = step.state
        step = runLoop(state, ledgerCampaign, market)
      }
      const live = LiveStateStore.pipe(Effect.flatMap((store) => store.load(session.sessionId)), Effect.map(Option.getOrThrow))
      const before = yield* live
      const changes = [
        { why: "closes it did not report", closed: [] },
        { why: "a PnL its metrics did not count", closed: step.events.closed.map((t) => ({ ...t, realizedPnlUsd: t.realizedPnlUsd + 1 })) },
        { why: "one close twice", closed: [...step.events.closed, ...step.events.closed] }
      ]
      for (const { closed, why } of changes) {
        const refused = yield* Effect.flip(session.persist(step.state, { tradesChanged: true, closed }))
        assert.strictEqual(refused._tag, "StateCodecError", why)
        assert.include(refused.message, "sess_ledgerbad1", why)
        assert.deepStrictEqual(yield* live, before, why)
      }
      yield* session.persist(step.state, { tradesChanged: true, closed: step.events.closed })
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual((yield* (yield* TradeLedger).summary(session.sessionId)).entries, step.state.metrics.tradesClosed)
    }).pipe(Effect.provide(Persistence.layerMemory(env))))

  it.effect("closes made while the durable tier is away wait in the live tier's ledger tail; a crash then loses none, and the resumed session appends them", () =>
    Effect.gen(function*() {
      const durableDown = yield* Ref.make(false)
      const liveEntries = new Map<string, string>()
      const live = LiveStateStoreModule.makeMemory(env, liveEntries)
      const durable = memoryDurableOver(env)
      const stores = Layer.merge(
        Layer.succeed(LiveStateStore, live),
        Layer.effect(SnapshotStore, Effect.map(SnapshotStore, (snapshots) => ({
          ...snapshots,
          save: (metadata, state, entries) =>
            Effect.flatMap(Ref.get(durableDown), (down) =>
              down ? Effect.fail(StoreError.unreachable("postgres", "connect ECONNREFUSED")) : snapshots.save(metadata, state, entries))
        }))).pipe(Layer.provideMerge(durable))
      )
      yield* Effect.gen(function*() {
        const id = SessionId.make("sess_ledgertail1")
        const first = yield* start(sessionOptions("CLEAN_RESET", ledgerCampaign, id, { lease: { ttl: "1 day" } }))
        // Until trades are open, so that some close while the durable tier is away.
        let opened = yield* runTo(first.session, first.session.initialState, 1)
        while (Object.keys(opened.positions.activeTrades).length < 2) opened = yield* runTo(first.session, opened, opened.session.loopCount + 1)
        yield* Ref.set(durableDown, true)
        const crashedAt = yield* runTo(first.session, opened, opened.session.loopCount + 40)
        const written = yield* (yield* TradeLedger).summary(id)
        assert.isAbove(crashedAt.metrics.tradesClosed, written.entries, "closes were made while the durable tier was away")
        const held = Option.getOrThrow(yield* live.load(id))
        assert.deepStrictEqual(held.state, crashedAt)
        assert.strictEqual(held.ledgerTail.length, crashedAt.metrics.tradesClosed - written.entries)
        // The process dies: no stop, nothing more written.
        yield* Scope.close(first.scope, Exit.fail("killed"))
        yield* Ref.set(durableDown, false)

        const second = yield* start(sessionOptions("RESUME_FROM_STATE", ledgerCampaign, id, { lease: { ttl: "1 day", wait: "2 days" } }))
        assert.strictEqual(second.session.origin.kind === "resumed" ? second.session.origin.report.source : "", "live")
        assert.deepStrictEqual(second.session.initialState.metrics, crashedAt.metrics)
        const final = yield* runTo(second.session, second.session.initialState, 120)
        yield* Scope.close(second.scope, Exit.void)
        const found = yield* audit(final, [])
        assert.isTrue(found.agrees, JSON.stringify(found.missing))
        assert.strictEqual(found.entries.length, final.metrics.tradesClosed)
        assert.deepStrictEqual(Option.getOrThrow(yield* live.load(id)).ledgerTail, [], "the stop appended the tail")
      }).pipe(Effect.provide(stores))
    }))

  it.effect("a resume that falls back past a damaged newest snapshot supersedes the closes that snapshot appended", () =>
    Effect.gen(function*() {
      const rows: Array<SnapshotRow> = []
      const live = LiveStateStoreModule.makeMemory(env)
      const stores = Layer.merge(Layer.succeed(LiveStateStore, live), memoryDurableOver(env, rows))
      yield* Effect.gen(function*() {
        const id = SessionId.make("sess_ledgerback1")
        const first = yield* start(sessionOptions("CLEAN_RESET", ledgerCampaign, id))
        const ran = yield* runTo(first.session, first.session.initialState, 120)
        yield* Scope.close(first.scope, Exit.fail("killed"))
        // The newest trade snapshots are damaged and the live tier is lost: the resume falls back.
        const byNewest = rows.filter((row) => row.sessionId === id).sort((a, b) => b.sequence - a.sequence)
        const damaged = byNewest.slice(0, 3)
        for (const row of damaged) rows[rows.indexOf(row)] = { ...row, checksum: "sha256:damaged" }
        yield* live.delete(id, first.session.lease.fencingToken)

        const second = yield* start(sessionOptions("RESUME_FROM_STATE", ledgerCampaign, id))
        const restored = second.session.initialState
        assert.isBelow(restored.metrics.tradesClosed, ran.metrics.tradesClosed, "the state fallen back to counts fewer closes")
        const before = yield* audit(restored, [])
        assert.isAbove(before.abandoned, 0, "the damaged snapshots' closes are still standing until the session writes")
        const final = yield* runTo(second.session, restored, 200)
        yield* Scope.close(second.scope, Exit.void)
        const after = yield* audit(final, [])
        assert.strictEqual(after.abandoned, 0)
        assert.isTrue(after.agrees, JSON.stringify({ missing: after.missing, ledger: after.ledger, counted: after.counted }))
      }).pipe(Effect.provide(stores))
    }))
})
