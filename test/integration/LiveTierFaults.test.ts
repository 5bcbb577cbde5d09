/**
 * What goes wrong below the live tier mid-run, on a private redis-server the
 * test damages, and the real PostgreSQL:
 *
 * - Redis restarts empty (it keeps nothing on disk) while a runner that lost
 *   its session is paused: the fence went with the data, and the paused
 *   runner must still not write, nor win a restore.
 * - Redis runs out of memory, or a key of the session has the wrong type:
 *   the runner goes on with the live tier degraded (snapshotting every loop),
 *   re-syncs it when it takes writes again, and a later resume works.
 */
import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Exit, Layer, Option, Schedule, Scope } from "effect"
import { SessionId } from "../../src/domain/Ids.ts"
import * as Restore from "../../src/recovery/Restore.ts"
import { newSessionState, runLoop, simulatedStart, tradesChanged } from "../../src/runner/ArbitrageStrategy.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import * as Runner from "../../src/runner/Runner.ts"
import * as Session from "../../src/session/Session.ts"
import { LiveStateStore } from "../../src/store/LiveStateStore.ts"
import { durableOn, redisLiveLayer } from "../../src/store/Persistence.ts"
import { SessionLease } from "../../src/store/SessionLease.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import { fenceKey, sectionKey, writeMarkKey } from "../../src/store/StateKeys.ts"
import { testPostgres } from "../support/Backings.ts"
import { type PrivateRedis, privateRedis } from "../support/PrivateRedis.ts"
import { withoutNegativeZero, expectRestored } from "../support/Results.ts"
import { storedForm, uninterruptedRun } from "../support/Runs.ts"
import { uniqueEnv } from "../support/Services.ts"
import { sessionOptions } from "../support/Sessions.ts"

const campaign = campaigns.aggressive!
const market = { seed: 808, tickMs: 1000 }

/** Lets real time pass for a lease to lapse (PostgreSQL judges expiry by its own clock). */
const lapse = (ms: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

/** Waits (bounded) until the store's client has reconnected to a restarted Redis. */
const liveTierAnswers = (sessionId: SessionId) =>
  Effect.flatMap(LiveStateStore, (liveStore) => liveStore.load(sessionId)).pipe(
    Effect.retry({ times: 200, schedule: Schedule.spaced("50 millis") })
  )

/** A loop count from `from` on after which the next loop changes no trade (so the runner's next write is a live one). */
const beforeQuietLoop = (sessionId: SessionId, from: number): number => {
  let state = newSessionState({ sessionId, campaign, startTime: simulatedStart })
  for (;;) {
    const step = runLoop(state, campaign, market)
    if (state.session.loopCount >= from && !tradesChanged(step.events)) return state.session.loopCount
    state = step.state
  }
}

const stack = (redis: PrivateRedis, label: string) => {
  const env = uniqueEnv(label)
  return { env, layer: Layer.mergeAll(redisLiveLayer(env, redis.url), durableOn(env, testPostgres)) }
}

describe("live tier faults", () => {
  it.live("Redis restarted empty: a runner that lost its session cannot write it again, and cannot win a restore", () =>
    Effect.gen(function*() {
      const redis = yield* privateRedis
      const { layer } = stack(redis, "fencelost")
      const sessionId = SessionId.make("sess_fencelost1")
      yield* Effect.gen(function*() {
        const leases = yield* SessionLease
        // Runner A is paused (no renewals arrive) until it wakes up.
        let paused = true
        const pausable = Layer.succeed(SessionLease, {
          ...leases,
          renew: (lease, ttl) => Effect.suspend(() => (paused ? Effect.never : leases.renew(lease, ttl)))
        })
        const options = (holder: string, ttl: Duration.Input) => sessionOptions("AUTO", campaign, sessionId, { lease: { holder, ttl } })
        const scopeA = yield* Scope.make()
        const a = yield* Session.initialize(options("runner-a", "1500 millis")).pipe(Effect.provide(pausable), Scope.provide(scopeA))
        // A stops just before a loop that changes no trade: when it wakes, its first write is to the live tier.
        const afterA = yield* Runner.run(a, a.initialState, { campaign, market, targetLoops: beforeQuietLoop(sessionId, 100) })
        yield* lapse(1_800)

        // Runner B takes over, runs on and stops cleanly.
        const scopeB = yield* Scope.make()
        const b = yield* Session.initialize(options("runner-b", "30 seconds")).pipe(Scope.provide(scopeB))
        const afterB = yield* Runner.run(b, b.initialState, { campaign, market, targetLoops: afterA.session.loopCount + 30 })
        yield* Scope.close(scopeB, Exit.void)

        // Redis restarts with nothing: the fence that kept A out is gone.
        yield* redis.stop
        yield* redis.start
        assert.isTrue(Option.isNone(yield* liveTierAnswers(sessionId)))

        // A wakes up and goes on from where it was: refused before it writes anything.
        paused = false
        const woken = yield* Effect.exit(Runner.run(a, afterA, { campaign, market, targetLoops: 300 }))
        assert.isTrue(Exit.isFailure(woken), "the stale runner was let go on")
        // Its lease, confirmed before the fence is raised again, turns out taken: the session says it lost it.
        const reason = Exit.isFailure(woken) ? woken.cause.reasons[0] : undefined
        assert.strictEqual(reason?._tag === "Fail" && reason.error._tag === "LeaseError" ? reason.error.reason._tag : "", "LeaseLost")
        assert.isTrue(Option.isNone(yield* (yield* LiveStateStore).load(sessionId)), "the stale runner wrote the live tier")
        yield* Scope.close(scopeA, Exit.void)

        const restored = expectRestored(yield* Restore.run(sessionId))
        assert.strictEqual(restored.source, "snapshot")
        assert.deepStrictEqual(restored.state, withoutNegativeZero({ ...afterB, session: { ...afterB.session, status: "stopped" } }))
      }).pipe(Effect.provide(layer))
    }), { timeout: 60_000 })

  it.live("Redis out of memory mid-run: the runner goes on with the live tier degraded, and re-syncs it when memory is back", () =>
    Effect.gen(function*() {
      const redis = yield* privateRedis
      const { layer } = stack(redis, "oom")
      const sessionId = SessionId.make("sess_oommidrun1")
      yield* Effect.gen(function*() {
        const scope = yield* Scope.make()
        const session = yield* Session.initialize(sessionOptions("CLEAN_RESET", campaign, sessionId)).pipe(Scope.provide(scope))
        const at100 = yield* Runner.run(session, session.initialState, { campaign, market, targetLoops: 100 })

        yield* redis.command("CONFIG", "SET", "maxmemory-policy", "noeviction")
        yield* redis.command("CONFIG", "SET", "maxmemory", "1")
        const at200 = yield* Runner.run(session, at100, { campaign, market, targetLoops: 200 })
        assert.strictEqual((yield* session.health).liveTier, "degraded")
        const during = (yield* (yield* SnapshotStore).listSnapshots(sessionId, 1_000)).filter((s) => s.loopCount > 100 && s.loopCount <= 200)
        assert.strictEqual(during.length, 100, "a durable snapshot for every loop while the live tier took no writes")

        yield* redis.command("CONFIG", "SET", "maxmemory", "0")
        const at300 = yield* Runner.run(session, at200, { campaign, market, targetLoops: 300 })
        assert.strictEqual((yield* session.health).liveTier, "ok")
        assert.deepStrictEqual(Option.getOrThrow(yield* (yield* LiveStateStore).load(sessionId)).state, withoutNegativeZero(at300))
        assert.deepStrictEqual(
          storedForm(at300),
          storedForm(uninterruptedRun({ sessionId, campaign, seed: market.seed, loops: 300, status: "running" }))
        )
        yield* Scope.close(scope, Exit.void)
      }).pipe(Effect.provide(layer))
    }), { timeout: 60_000 })

  it.live("a fence above every token the lease granted (the lease table reset or restored, a forged key): the next runner takes the lease above it, and writes", () =>
    Effect.gen(function*() {
      const redis = yield* privateRedis
      const { env, layer } = stack(redis, "highfence")
      const sessionId = SessionId.make("sess_highfence1")
      yield* Effect.gen(function*() {
        const first = yield* Effect.scoped(Effect.gen(function*() {
          const session = yield* Session.initialize(sessionOptions("CLEAN_RESET", campaign, sessionId))
          return yield* Runner.run(session, session.initialState, { campaign, market, targetLoops: 80 })
        }))
        yield* redis.command("SET", fenceKey(env, sessionId), "999")

        const resumed = yield* Effect.scoped(Effect.gen(function*() {
          const session = yield* Session.initialize(sessionOptions("RESUME_FROM_STATE", campaign, sessionId))
          assert.isAbove(session.lease.fencingToken, 999)
          return yield* Runner.run(session, session.initialState, { campaign, market, targetLoops: 160 })
        }))
        assert.strictEqual(resumed.session.loopCount, 160)
        assert.isAbove(first.session.loopCount, 0)
        const live = Option.getOrThrow(yield* (yield* LiveStateStore).load(sessionId))
        assert.strictEqual(live.state.session.loopCount, 160)
        assert.strictEqual(expectRestored(yield* Restore.run(sessionId)).loopCount, 160)
      }).pipe(Effect.provide(layer))
    }), { timeout: 60_000 })

  for (const [key, damage] of [
    ["positions", ["RPUSH"]],
    ["mark", ["HSET"]],
    ["fence", ["HSET"]],
    ["session", ["SADD"]]
  ] as const) {
    it.live(`the ${key} key turned into the wrong type mid-run: the runner goes on, rewrites the live state whole, and a resume works`, () =>
      Effect.gen(function*() {
        const redis = yield* privateRedis
        const { env, layer } = stack(redis, `wrongtype${key}`)
        const sessionId = SessionId.make(`sess_wrongtype${key}`)
        const redisKey = key === "positions" || key === "session"
          ? sectionKey(env, sessionId, key)
          : key === "mark"
          ? writeMarkKey(env, sessionId)
          : fenceKey(env, sessionId)
        yield* Effect.gen(function*() {
          const scope = yield* Scope.make()
          const session = yield* Session.initialize(sessionOptions("CLEAN_RESET", campaign, sessionId)).pipe(Scope.provide(scope))
          const at100 = yield* Runner.run(session, session.initialState, { campaign, market, targetLoops: 100 })
          yield* redis.command("DEL", redisKey)
          yield* redis.command(damage[0], redisKey, "x", "y")
          const at200 = yield* Runner.run(session, at100, { campaign, market, targetLoops: 200 })
          assert.deepStrictEqual(Option.getOrThrow(yield* (yield* LiveStateStore).load(sessionId)).state, withoutNegativeZero(at200))
          yield* Scope.close(scope, Exit.interrupt())

          // The key is damaged again while nobody runs: a resume still starts, from the newest valid state.
          yield* redis.command("DEL", redisKey)
          yield* redis.command(damage[0], redisKey, "x", "y")
          const resumed = yield* Effect.scoped(Session.initialize(sessionOptions("RESUME_FROM_STATE", campaign, sessionId)))
          assert.strictEqual(resumed.initialState.session.loopCount, 200)
        }).pipe(Effect.provide(layer))
      }), { timeout: 60_000 })
  }
})
