/**
 * The session's outage handling on the memory stores, with a switch that
 * makes a tier stop answering, and the test clock: when the durable tier is
 * tried again (the backoff), what is pending meanwhile, which steps are
 * refused, and how both tiers come back. (The same behaviour against real
 * servers behind a proxy: test/integration/Outages.test.ts.)
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Ref, Scope } from "effect"
import { TestClock } from "effect/testing"
import type { EngineState } from "../../src/domain/EngineState.ts"
import { Env, SessionId } from "../../src/domain/Ids.ts"
import { newSessionState, simulatedStart } from "../../src/runner/ArbitrageStrategy.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import * as Session from "../../src/session/Session.ts"
import * as TierHealth from "../../src/session/TierHealth.ts"
import * as LiveStateStoreModule from "../../src/store/LiveStateStore.ts"
import { LiveStateStore } from "../../src/store/LiveStateStore.ts"
import * as SessionEvents from "../../src/store/SessionEvents.ts"
import * as SessionLeaseModule from "../../src/store/SessionLease.ts"
import * as SnapshotStoreModule from "../../src/store/SnapshotStore.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import { StoreError } from "../../src/store/StoreError.ts"
import * as TradeLedger from "../../src/store/TradeLedger.ts"

const env = Env.make("outages")
const sessionId = SessionId.make("sess_outage0001")
const campaign = campaigns.balanced!

/** Memory stores whose tiers stop answering while their switch is on; counts the snapshot saves tried. */
const switchable = Effect.gen(function*() {
  const liveDown = yield* Ref.make(false)
  const durableDown = yield* Ref.make(false)
  const saves = yield* Ref.make(0)
  const leases: SessionLeaseModule.MemoryLeases = new Map()
  const ledger: TradeLedger.MemoryLedger = []
  const live = LiveStateStoreModule.makeMemory(env)
  const snapshots = SnapshotStoreModule.makeMemory(env, [], leases, new Map(), ledger)
  const away = (store: "redis" | "postgres") => Effect.fail(StoreError.unreachable(store, "connect ECONNREFUSED"))
  const layer = Layer.mergeAll(
    Layer.succeed(LiveStateStore, {
      ...live,
      save: (state, token, tail) => Effect.flatMap(Ref.get(liveDown), (down) => (down ? away("redis") : live.save(state, token, tail)))
    }),
    Layer.succeed(SnapshotStore, {
      ...snapshots,
      save: (metadata, state, entries) =>
        Ref.update(saves, (n) => n + 1).pipe(
          Effect.andThen(Ref.get(durableDown)),
          Effect.flatMap((down) => (down ? away("postgres") : snapshots.save(metadata, state, entries)))
        )
    }),
    // The lease and the events are not what is tested here: they answer as long as the session lives.
    SessionLeaseModule.layerMemory(env, leases),
    SessionEvents.layerMemory(env),
    TradeLedger.layerMemory(env, ledger)
  )
  return { liveDown, durableDown, saves, layer }
})

/** A new session in `scope`, its interval and lease long enough not to matter. */
const startOn = (scope: Scope.Scope) =>
  Session.initialize({
    mode: "CLEAN_RESET",
    sessionId,
    newState: (id) => newSessionState({ sessionId: id, campaign, startTime: simulatedStart }),
    policy: { snapshotInterval: "1 hour" },
    lease: { ttl: "1 day" }
  }).pipe(Scope.provide(scope))

/** The state at `loop` (only the loop moves: enough for the policy to see a new step). */
const at = (state: EngineState, loop: number): EngineState => ({ ...state, session: { ...state.session, loopCount: loop } })

describe("session outages on switchable memory stores", () => {
  it.effect("durable tier away: no trade opens, a snapshot stays pending, tries back off (100, 200, 400 ms...), and the pending one is written when it is back", () =>
    Effect.gen(function*() {
      const stores = yield* switchable
      yield* Effect.gen(function*() {
        const scope = yield* Scope.make()
        const session = yield* startOn(scope)
        const state = session.initialState
        yield* Ref.set(stores.durableDown, true)

        // A step that closed a trade asks for a trade snapshot: the tier does not answer.
        const tries = yield* Ref.get(stores.saves)
        yield* session.persist(at(state, 1), { tradesChanged: true })
        assert.deepStrictEqual(yield* session.health, { liveTier: "ok", durableTier: "degraded", pendingSnapshot: "trade", inDoubt: null })
        assert.isFalse(yield* session.canTrade)
        // A step that opens trades is refused, and writes nothing.
        const refused = yield* Effect.flip(session.persist(at(state, 2), { tradesChanged: true, opensTrades: true }))
        assert.strictEqual(refused._tag, "StepRefused")

        // Before the backoff has passed, steps do not try the tier; after it, one does, and backs off longer.
        yield* session.persist(at(state, 3), { tradesChanged: false })
        assert.strictEqual(yield* Ref.get(stores.saves), tries + 1)
        yield* TestClock.adjust("100 millis")
        yield* session.persist(at(state, 4), { tradesChanged: false })
        assert.strictEqual(yield* Ref.get(stores.saves), tries + 2)
        yield* TestClock.adjust("100 millis")
        yield* session.persist(at(state, 5), { tradesChanged: false })
        assert.strictEqual(yield* Ref.get(stores.saves), tries + 2, "the second wait is 200 ms")
        yield* TestClock.adjust("100 millis")
        yield* session.persist(at(state, 6), { tradesChanged: false })
        assert.strictEqual(yield* Ref.get(stores.saves), tries + 3)
        assert.strictEqual((yield* session.health).pendingSnapshot, "trade")

        // Back: the pending trade snapshot is written, of the newest state, and trading may resume.
        yield* Ref.set(stores.durableDown, false)
        yield* TestClock.adjust("400 millis")
        yield* session.persist(at(state, 7), { tradesChanged: false })
        assert.deepStrictEqual(yield* session.health, { liveTier: "ok", durableTier: "ok", pendingSnapshot: null, inDoubt: null })
        assert.isTrue(yield* session.canTrade)
        const [newest] = yield* (yield* SnapshotStore).listSnapshots(sessionId, 1)
        assert.deepStrictEqual([newest?.snapshotType, newest?.loopCount], ["trade", 7])
        yield* Scope.close(scope, Exit.void)
      }).pipe(Effect.provide(stores.layer))
    }))

  it.effect("live tier away: every step is snapshotted instead, and the live tier is re-synced whole when it takes writes again", () =>
    Effect.gen(function*() {
      const stores = yield* switchable
      yield* Effect.gen(function*() {
        const scope = yield* Scope.make()
        const session = yield* startOn(scope)
        const state = session.initialState
        yield* Ref.set(stores.liveDown, true)
        for (let loop = 1; loop <= 5; loop++) yield* session.persist(at(state, loop), { tradesChanged: false })
        assert.strictEqual((yield* session.health).liveTier, "degraded")
        const loops = (yield* (yield* SnapshotStore).listSnapshots(sessionId, 10)).map((s) => s.loopCount)
        assert.deepStrictEqual(loops, [5, 4, 3, 2, 1, 0], "a snapshot for every loop while the live tier was away")

        yield* Ref.set(stores.liveDown, false)
        yield* session.persist(at(state, 6), { tradesChanged: false })
        assert.strictEqual((yield* session.health).liveTier, "ok")
        const live = yield* (yield* LiveStateStore).load(sessionId)
        assert.strictEqual(live._tag === "Some" ? live.value.state.session.loopCount : -1, 6)
        yield* Scope.close(scope, Exit.void)
      }).pipe(Effect.provide(stores.layer))
    }))
})

describe("TierHealth", () => {
  it.effect("the durable tier's backoff doubles from 100 ms up to 5 s, and starts over after the tier is back", () =>
    Effect.gen(function*() {
      const health = yield* TierHealth.make
      const waits: Array<number> = []
      for (let i = 0; i < 8; i++) {
        yield* health.durableAway(null)
        let waited = 0
        while (!(yield* health.durableDue)) {
          yield* TestClock.adjust("100 millis")
          waited += 100
        }
        waits.push(waited)
      }
      assert.deepStrictEqual(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000])
      assert.isTrue(yield* health.durableBack)
      yield* health.durableAway(null)
      assert.isFalse(yield* health.durableDue)
      yield* TestClock.adjust("100 millis")
      assert.isTrue(yield* health.durableDue, "a new outage starts at 100 ms again")
    }))
})
