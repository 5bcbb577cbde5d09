/**
 * A snapshot that PostgreSQL committed but whose reply never reached the
 * runner: the connection drops after the commit. The runner must not confuse
 * that with "not written": it may not redo the step as if the trade had not
 * been taken (the database would then hold a trade the runner never took),
 * and it may not reuse the snapshot's sequence (a duplicate that used to end
 * the session, and used to lose the shutdown snapshot of a stopped one).
 *
 * Real PostgreSQL behind a proxy that withholds exactly one reply, real Redis.
 */
import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Exit, Fiber, Layer, Option, Result, Schedule, Scope } from "effect"
import type { EngineState } from "../../src/domain/EngineState.ts"
import { type Env, SessionId } from "../../src/domain/Ids.ts"
import * as Restore from "../../src/recovery/Restore.ts"
import { newSessionState, runLoop, simulatedStart } from "../../src/runner/ArbitrageStrategy.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import * as Runner from "../../src/runner/Runner.ts"
import * as Session from "../../src/session/Session.ts"
import { LiveStateStore } from "../../src/store/LiveStateStore.ts"
import * as LiveStateMemory from "../../src/store/LiveStateStore.ts"
import { durableOn, postgresLayer, redisLiveLayer } from "../../src/store/Persistence.ts"
import { SessionLease } from "../../src/store/SessionLease.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import { testPostgres } from "../support/Backings.ts"
import { withoutNegativeZero, expectRestored } from "../support/Results.ts"
import { storedForm } from "../support/Runs.ts"
import { testRedisUrl, uniqueEnv } from "../support/Services.ts"
import { sessionOptions } from "../support/Sessions.ts"
import { type TcpProxy, testPostgresProxy } from "../support/TcpProxy.ts"

const campaign = campaigns.aggressive!
const market = { seed: 4242, tickMs: 5 }

/** The first loop of the uninterrupted run that opens a trade. */
const firstOpeningLoop = (sessionId: SessionId): number => {
  let state = newSessionState({ sessionId, campaign, startTime: simulatedStart })
  for (;;) {
    const step = runLoop(state, campaign, market)
    if (step.events.opened.length > 0) return step.state.session.loopCount
    state = step.state
  }
}

/** PostgreSQL through a fresh proxy, Redis direct; the proxy and the env of this test. */
const storesBehindProxy = (label: string) =>
  Effect.gen(function*() {
    const { proxy, url } = yield* testPostgresProxy
    const env = uniqueEnv(label)
    const durable = durableOn(env, postgresLayer(url, { maxConnections: 2 }))
    return { proxy, env, durable, stores: Layer.mergeAll(redisLiveLayer(env, testRedisUrl), durable) }
  })

/** Renewals far apart, so that the one statement whose reply is lost is the snapshot; the stop's outcome kept. */
const start = (sessionId: SessionId, stops: Array<Session.ShutdownOutcome> = [], ttl: Duration.Input = "60 seconds") =>
  Session.initialize(sessionOptions("CLEAN_RESET", campaign, sessionId, {
    lease: { ttl },
    onShutdown: (outcome) => Effect.sync(() => void stops.push(outcome))
  }))

/** A session at the loop before its first trade, and that loop's step, which opens one. */
const beforeOpening = (sessionId: SessionId, stops: Array<Session.ShutdownOutcome>, ttl?: Duration.Input) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const session = yield* start(sessionId, stops, ttl).pipe(Scope.provide(scope))
    const before = yield* Runner.run(session, session.initialState, { campaign, market, targetLoops: firstOpeningLoop(sessionId) - 1 })
    const step = runLoop(before, campaign, market)
    assert.isAbove(step.events.opened.length, 0)
    return { scope, session, before, step }
  })

/**
 * A session whose trade-opening step has its snapshot committed and its reply lost, then the
 * database away while the runner waits to learn the outcome, then the operator's stop (SIGTERM)
 * interrupting the runner; the session's scope is left for the test to close.
 */
const stoppedInDoubt = (sessionId: SessionId, stops: Array<Session.ShutdownOutcome>, proxy: TcpProxy) =>
  Effect.gen(function*() {
    const opened = yield* beforeOpening(sessionId, stops)
    const replyLost = yield* proxy.loseNextReply
    const persisting = yield* Effect.forkChild(opened.session.persist(opened.step.state, { tradesChanged: true, opensTrades: true }))
    yield* replyLost.pipe(Effect.timeout("10 seconds"))
    yield* proxy.cut
    yield* Fiber.interrupt(persisting)
    return opened
  })

/** The newest snapshot of the session, read past the proxy. */
const newest = (sessionId: SessionId, env: Env) =>
  SnapshotStore.pipe(
    Effect.flatMap((store) => store.loadLatest(sessionId)),
    Effect.map(Option.getOrThrow),
    Effect.provide(durableOn(env, testPostgres, { migrate: false }))
  )

/** Every snapshot of the session, each with the state it holds. */
const storedStates = (sessionId: SessionId) =>
  Effect.gen(function*() {
    const reads = yield* (yield* SnapshotStore).loadRecent(sessionId, { limit: 10_000 })
    return reads.map((read) => ({ sequence: read.sequence, state: Result.getOrThrow(read.result).state }))
  })

describe("a snapshot committed whose reply is lost", () => {
  it.live("the trade is kept (the outcome is resolved first), no sequence is reused, the session runs on, and the database holds only states the runner took", () =>
    Effect.gen(function*() {
      const { durable, proxy, stores } = yield* storesBehindProxy("lostreply")
      const sessionId = SessionId.make("sess_lostreply1")
      const opening = firstOpeningLoop(sessionId)
      const accepted = new Map<number, EngineState>()
      const record = (state: EngineState) => Effect.sync(() => void accepted.set(state.session.loopCount, state))
      const final = yield* Effect.gen(function*() {
        const scope = yield* Scope.make()
        const session = yield* start(sessionId).pipe(Scope.provide(scope))
        yield* record(session.initialState)
        const before = yield* Runner.run(session, session.initialState, { campaign, market, targetLoops: opening - 1, onLoop: record })

        const replyLost = yield* proxy.loseNextReply
        // Paced, so that the session's retries have time to run within the loops.
        const after = yield* Runner.run(session, before, { campaign, market, targetLoops: opening + 60, pace: true, onLoop: record })
        yield* replyLost.pipe(Effect.timeout("10 seconds"))
        assert.isAbove(after.metrics.tradesOpened, 0)
        assert.strictEqual(
          accepted.get(opening)!.metrics.tradesOpened,
          1,
          "the step whose snapshot committed without a reply was kept, not redone without its trade"
        )
        yield* Scope.close(scope, Exit.void)
        return after
      }).pipe(Effect.provide(stores))

      // Every snapshot holds a state the runner took at that loop (the shutdown one, its last, stopped).
      const stored = yield* storedStates(sessionId).pipe(Effect.provide(durable))
      const sequences = stored.map((s) => s.sequence)
      assert.strictEqual(new Set(sequences).size, sequences.length)
      for (const { sequence, state } of stored) {
        const taken = accepted.get(state.session.loopCount)
        assert.isDefined(taken, `snapshot #${sequence} is at loop ${state.session.loopCount}, which the runner never reached`)
        assert.deepStrictEqual(
          storedForm({ ...state, session: { ...state.session, status: "running" } }),
          storedForm(taken!),
          `snapshot #${sequence} at loop ${state.session.loopCount} holds a state the runner did not take`
        )
      }
      // With the live tier gone (as after a Redis restart without persistence), the durable tier alone
      // gives back exactly the state the runner stopped with.
      const restored = expectRestored(yield* Restore.run(sessionId).pipe(
        Effect.provide(Layer.mergeAll(LiveStateMemory.layerMemory(uniqueEnv("nolive")), durable))
      ))
      assert.strictEqual(restored.source, "snapshot")
      assert.deepStrictEqual(restored.state, withoutNegativeZero({ ...final, session: { ...final.session, status: "stopped" } }))
    }), { timeout: 60_000 })

  it.live("a stop right after a lost reply is recorded as stopped, with the state the runner last took", () =>
    Effect.gen(function*() {
      const { durable, proxy, stores } = yield* storesBehindProxy("lostreplystop")
      const sessionId = SessionId.make("sess_lostreply2")
      const opening = firstOpeningLoop(sessionId)
      const { kept, taken } = yield* Effect.gen(function*() {
        const scope = yield* Scope.make()
        const session = yield* start(sessionId).pipe(Scope.provide(scope))
        const before = yield* Runner.run(session, session.initialState, { campaign, market, targetLoops: opening - 1 })
        const step = runLoop(before, campaign, market)
        assert.isAbove(step.events.opened.length, 0)

        const replyLost = yield* proxy.loseNextReply
        const kept = yield* session.persist(step.state, { tradesChanged: true, opensTrades: true }).pipe(
          Effect.as(true),
          Effect.catchTag("StepRefused", () => Effect.succeed(false))
        )
        yield* replyLost.pipe(Effect.timeout("10 seconds"))
        // The operator stops the runner (SIGTERM): the scope closes by interruption.
        yield* Scope.close(scope, Exit.interrupt())
        return { kept, taken: kept ? step.state : before }
      }).pipe(Effect.provide(stores))

      assert.isTrue(kept, "a snapshot that committed is a trade taken")
      const latest = Option.getOrThrow(
        yield* SnapshotStore.pipe(Effect.flatMap((store) => store.loadLatest(sessionId)), Effect.provide(durable))
      )
      assert.strictEqual(latest.snapshot.snapshotType, "shutdown")
      assert.strictEqual(latest.snapshot.state.session.status, "stopped")
      assert.deepStrictEqual(
        storedForm(latest.snapshot.state),
        storedForm({ ...taken, session: { ...taken.session, status: "stopped" } })
      )
      const lease = Option.getOrThrow(
        yield* SessionLease.pipe(Effect.flatMap((leases) => leases.current(sessionId)), Effect.provide(durable))
      )
      assert.isBelow(lease.expiresAt, Date.now() + 1_000, "the lease was released")
    }), { timeout: 60_000 })

  it.live("while the outcome cannot be known (the database is away), the runner decides nothing; it goes on once it is known", () =>
    Effect.gen(function*() {
      const { proxy, stores } = yield* storesBehindProxy("lostreplywait")
      const sessionId = SessionId.make("sess_lostreply3")
      const opening = firstOpeningLoop(sessionId)
      yield* Effect.gen(function*() {
        const scope = yield* Scope.make()
        const session = yield* start(sessionId).pipe(Scope.provide(scope))
        const before = yield* Runner.run(session, session.initialState, { campaign, market, targetLoops: opening - 1 })
        const step = runLoop(before, campaign, market)

        const replyLost = yield* proxy.loseNextReply
        const persisting = yield* Effect.forkChild(session.persist(step.state, { tradesChanged: true, opensTrades: true }))
        yield* replyLost.pipe(Effect.timeout("10 seconds"))
        yield* proxy.cut
        // The database stays away while the session tries (and fails) to learn the outcome; the step
        // is neither taken nor refused meanwhile.
        const health = yield* session.health.pipe(
          Effect.flatMap((h) => (h.inDoubt === null ? Effect.fail("not yet in doubt") : Effect.succeed(h))),
          Effect.retry({ times: 200, schedule: Schedule.spaced("25 millis") })
        )
        assert.strictEqual(health.durableTier, "degraded")
        assert.strictEqual(health.inDoubt?.loopCount, step.state.session.loopCount)
        assert.isFalse(yield* session.canTrade)
        const unresolved = yield* (yield* LiveStateStore).load(sessionId)
        assert.strictEqual(Option.getOrThrow(unresolved).state.session.loopCount, before.session.loopCount)
        assert.isUndefined(persisting.pollUnsafe(), "the step was decided while its outcome was unknown")

        yield* proxy.restore
        // Once known to be committed, the trade is kept: the step is taken, not refused.
        yield* Fiber.join(persisting).pipe(Effect.timeout("30 seconds"))
        assert.isNull((yield* session.health).inDoubt)
        yield* Scope.close(scope, Exit.void)
      }).pipe(Effect.provide(stores))
    }), { timeout: 60_000 })

  it.live("a stop while a trade snapshot is in doubt settles it first: the trade stands, and the stop is recorded above it", () =>
    Effect.gen(function*() {
      const { env, proxy, stores } = yield* storesBehindProxy("settlestop")
      const sessionId = SessionId.make("sess_settle0001")
      const stops: Array<Session.ShutdownOutcome> = []
      const step = yield* Effect.gen(function*() {
        const { scope, step } = yield* stoppedInDoubt(sessionId, stops, proxy)
        const closing = yield* Effect.forkChild(Scope.close(scope, Exit.interrupt()))
        yield* proxy.restore
        yield* Fiber.join(closing)
        return step
      }).pipe(Effect.provide(stores))

      assert.deepStrictEqual(stops.map((stop) => stop.kind), ["recorded"])
      const latest = yield* newest(sessionId, env)
      assert.strictEqual(latest.snapshot.snapshotType, "shutdown")
      assert.deepStrictEqual(
        storedForm(latest.snapshot.state),
        storedForm({ ...step.state, session: { ...step.state.session, status: "stopped" } }),
        "the stop holds the trade whose snapshot was in doubt"
      )
    }), { timeout: 60_000 })

  it.live("a stop that cannot settle a trade snapshot in doubt writes nothing over it, and says the stop was not recorded", () =>
    Effect.gen(function*() {
      const { env, proxy, stores } = yield* storesBehindProxy("unsettledstop")
      const sessionId = SessionId.make("sess_settle0002")
      const stops: Array<Session.ShutdownOutcome> = []
      const step = yield* Effect.gen(function*() {
        const { scope, step } = yield* stoppedInDoubt(sessionId, stops, proxy)
        yield* Scope.close(scope, Exit.interrupt())
        return step
      }).pipe(Effect.provide(stores))
      yield* proxy.restore

      assert.deepStrictEqual(stops.map((stop) => stop.kind), ["not_recorded"])
      // What the database holds decides the next resume: here the trade had committed, and stands.
      const latest = yield* newest(sessionId, env)
      assert.strictEqual(latest.snapshot.snapshotType, "trade")
      assert.deepStrictEqual(storedForm(latest.snapshot.state), storedForm(step.state))
    }), { timeout: 60_000 })

  it.live("an interruption while a trade snapshot is in flight: its sequence is never reused, and the stop settles it and is recorded above it", () =>
    Effect.gen(function*() {
      const { env, proxy, stores } = yield* storesBehindProxy("inflightstop")
      const sessionId = SessionId.make("sess_inflight01")
      const stops: Array<Session.ShutdownOutcome> = []
      const step = yield* Effect.gen(function*() {
        const { scope, session, step } = yield* beforeOpening(sessionId, stops)
        const held = yield* proxy.holdNextReply
        const persisting = yield* Effect.forkChild(session.persist(step.state, { tradesChanged: true, opensTrades: true }))
        yield* held.completed.pipe(Effect.timeout("10 seconds"))
        // SIGTERM arrives while the statement is in flight: the runner's step is interrupted, the stop runs.
        yield* Fiber.interrupt(persisting)
        yield* Scope.close(scope, Exit.interrupt())
        yield* held.release
        return step
      }).pipe(Effect.provide(stores))

      assert.deepStrictEqual(stops.map((stop) => stop.kind), ["recorded"])
      const stored = yield* storedStates(sessionId).pipe(Effect.provide(durableOn(env, testPostgres, { migrate: false })))
      assert.strictEqual(new Set(stored.map((s) => s.sequence)).size, stored.length, "a sequence was written twice")
      const latest = yield* newest(sessionId, env)
      assert.strictEqual(latest.snapshot.snapshotType, "shutdown")
      assert.deepStrictEqual(storedForm(latest.snapshot.state), storedForm({ ...step.state, session: { ...step.state.session, status: "stopped" } }))
    }), { timeout: 60_000 })

  it.live("a stop after the database was away longer than the lease: the lease, which nobody took, is extended and the stop recorded", () =>
    Effect.gen(function*() {
      const { env, proxy, stores } = yield* storesBehindProxy("longawaystop")
      const sessionId = SessionId.make("sess_longaway01")
      const stops: Array<Session.ShutdownOutcome> = []
      const direct = durableOn(env, testPostgres, { migrate: false })
      const final = yield* Effect.gen(function*() {
        const scope = yield* Scope.make()
        const session = yield* start(sessionId, stops, "1 second").pipe(Scope.provide(scope))
        const final = yield* Runner.run(session, session.initialState, { campaign, market, targetLoops: 50 })
        yield* proxy.cut
        // The lease runs out while the runner cannot reach the database (read past the proxy).
        yield* SessionLease.pipe(
          Effect.flatMap((leases) => leases.current(sessionId)),
          Effect.provide(direct),
          Effect.flatMap((lease) => Option.isSome(lease) && lease.value.expiresAt < Date.now() ? Effect.void : Effect.fail("live")),
          Effect.retry({ times: 100, schedule: Schedule.spaced("50 millis") })
        )
        const closing = yield* Effect.forkChild(Scope.close(scope, Exit.interrupt()))
        yield* proxy.restore
        yield* Fiber.join(closing)
        return final
      }).pipe(Effect.provide(stores))

      assert.deepStrictEqual(stops.map((stop) => stop.kind), ["recorded"])
      const latest = yield* newest(sessionId, env)
      assert.strictEqual(latest.snapshot.snapshotType, "shutdown")
      assert.deepStrictEqual(storedForm(latest.snapshot.state), storedForm({ ...final, session: { ...final.session, status: "stopped" } }))
    }), { timeout: 60_000 })
})
