/**
 * One writer per session, enforced by the storage: a runner whose lease
 * was taken over cannot write to PostgreSQL (the check inside the snapshot
 * transaction) or to Redis (the fenced script), whatever it believes.
 */
import { sessionOptions } from "../support/Sessions.ts"
import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Exit, Layer, Option, Scope } from "effect"
import { SessionId } from "../../src/domain/Ids.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import * as Runner from "../../src/runner/Runner.ts"
import * as Session from "../../src/session/Session.ts"
import { LiveStateStore } from "../../src/store/LiveStateStore.ts"
import { SessionLease } from "../../src/store/SessionLease.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import { type LiveBacking, memoryLive, memorySnapshots, postgresSnapshots, redisLive, type SnapshotBacking } from "../support/Backings.ts"
import { withoutNegativeZero } from "../support/Results.ts"
import { uniqueEnv } from "../support/Services.ts"
import { sampleStates } from "../support/States.ts"

/** Lets real time pass for a lease to lapse (PostgreSQL judges expiry by its own clock). */
// The leases are long enough that a loaded machine does not let them lapse before the test means them to.
const lapse = (ms: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

const stacks: ReadonlyArray<readonly [LiveBacking, SnapshotBacking]> = [[memoryLive, memorySnapshots], [redisLive, postgresSnapshots]]

for (const [live, durable] of stacks) {
  const env = uniqueEnv(`fence${live.name}`)
  // Real time throughout: leases expire by the clock of their store.
  const stack = Layer.mergeAll(live.layer(env), durable.layer(env))
  describe(`fencing on ${live.name} + ${durable.name}`, () => {
    it.live("100 writes attempted by a stale runner: 0 accepted, and the new runner's state is untouched", () =>
      Effect.gen(function*() {
        const leases = yield* SessionLease
        const liveStore = yield* LiveStateStore
        const snapshots = yield* SnapshotStore
        const sessionId = SessionId.make("sess_stale0001")
        const [staleState, freshState] = yield* sampleStates(sessionId, { count: 2, seed: 71 })
        const meta = (sequence: number, fencingToken: number) => ({
          sessionId,
          snapshotType: "trade" as const,
          sequence,
          fencingToken,
          createdAt: sequence
        })

        const stale = yield* leases.acquire(sessionId, "runner-stale", "1 second")
        yield* liveStore.raiseFence(sessionId, stale.fencingToken)
        yield* liveStore.save(staleState!, stale.fencingToken)
        yield* snapshots.save(meta(1, stale.fencingToken), staleState!)
        yield* lapse(1_300) // the stale runner is paused past its lease
        const current = yield* leases.acquire(sessionId, "runner-new", "30 seconds")
        yield* liveStore.raiseFence(sessionId, current.fencingToken)
        yield* liveStore.save(freshState!, current.fencingToken)
        yield* snapshots.save(meta(2, current.fencingToken), freshState!)

        let accepted = 0
        const refusals = new Set<string>()
        for (let attempt = 0; attempt < 100; attempt++) {
          const write = attempt % 2 === 0
            ? liveStore.save(staleState!, stale.fencingToken)
            : snapshots.save(meta(100 + attempt, stale.fencingToken), staleState!)
          const exit = yield* Effect.exit(write)
          if (Exit.isSuccess(exit)) accepted++
          else {
            const error = exit.cause.reasons[0]
            if (error?._tag === "Fail" && error.error._tag === "StoreError") refusals.add(error.error.reason._tag)
          }
        }
        assert.strictEqual(accepted, 0)
        assert.deepStrictEqual([...refusals], ["Fenced"])
        assert.deepStrictEqual(Option.getOrThrow(yield* liveStore.load(sessionId)).state, withoutNegativeZero(freshState!))
        assert.deepStrictEqual((yield* snapshots.listSnapshots(sessionId)).map((s) => s.sequence), [2, 1])
      }).pipe(Effect.provide(stack)), { timeout: 60_000 })

    it.live("a snapshot carrying the token of a lease that has expired is refused, and nothing of it is written", () =>
      Effect.gen(function*() {
        const leases = yield* SessionLease
        const snapshots = yield* SnapshotStore
        const sessionId = SessionId.make("sess_expired01")
        const [state] = yield* sampleStates(sessionId, { count: 1, seed: 72 })
        const meta = (sequence: number, fencingToken: number) => ({ sessionId, snapshotType: "trade" as const, sequence, fencingToken, createdAt: sequence })
        const lease = yield* leases.acquire(sessionId, "runner-a", "1 second")
        yield* snapshots.save(meta(1, lease.fencingToken), state!)
        yield* lapse(1_300) // nobody took the session, but the lease ran out
        const refused = yield* Effect.flip(snapshots.save(meta(2, lease.fencingToken), state!))
        assert.strictEqual(refused._tag === "StoreError" ? refused.reason._tag : refused._tag, "Fenced")
        assert.include(refused.message, `token ${lease.fencingToken}`)
        assert.deepStrictEqual((yield* snapshots.listSnapshots(sessionId)).map((s) => s.sequence), [1])
        // Renewed (the token kept), the same runner writes again.
        const renewed = yield* leases.renew(lease, "30 seconds")
        yield* snapshots.save(meta(2, renewed.fencingToken), state!)
        assert.deepStrictEqual((yield* snapshots.listSnapshots(sessionId)).map((s) => s.sequence), [2, 1])
      }).pipe(Effect.provide(stack)), { timeout: 60_000 })

    it.live("a runner paused past its lease is fenced: its next step fails with Fenced and it trades no more", () =>
      Effect.gen(function*() {
        const campaign = campaigns.balanced!
        const sessionId = SessionId.make("sess_paused001")
        const leases = yield* SessionLease
        const options = (holder: string, ttl: Duration.Input) => sessionOptions("AUTO", campaign, sessionId, { lease: { holder, ttl } })
        // Runner A, whose renewals never arrive (a process stopped by the OS, a long GC pause).
        const scopeA = yield* Scope.make()
        const paused = Layer.succeed(SessionLease, { ...leases, renew: () => Effect.never })
        const a = yield* Session.initialize(options("runner-a", "1500 millis")).pipe(Effect.provide(paused), Scope.provide(scopeA))
        const afterA = yield* Runner.run(a, a.initialState, { campaign, market: { seed: 9, tickMs: 1000 }, targetLoops: 100 })
        yield* lapse(1_800)

        // Runner B takes the session over and runs on.
        const scopeB = yield* Scope.make()
        const b = yield* Session.initialize(options("runner-b", "30 seconds")).pipe(Scope.provide(scopeB))
        assert.isAbove(b.lease.fencingToken, a.lease.fencingToken)
        assert.strictEqual(b.initialState.session.loopCount, afterA.session.loopCount)
        const afterB = yield* Runner.run(b, b.initialState, { campaign, market: { seed: 9, tickMs: 1000 }, targetLoops: 200 })

        // A wakes up and tries to go on from where it was.
        const woken = yield* Effect.exit(Runner.run(a, afterA, { campaign, market: { seed: 9, tickMs: 1000 }, targetLoops: 300 }))
        assert.isTrue(Exit.isFailure(woken))
        const reason = Exit.isFailure(woken) ? woken.cause.reasons[0] : undefined
        assert.strictEqual(reason?._tag === "Fail" && reason.error._tag === "StoreError" ? reason.error.reason._tag : "", "Fenced")
        yield* Scope.close(scopeA, Exit.void) // its shutdown snapshot is refused too
        const latest = Option.getOrThrow(yield* (yield* SnapshotStore).loadLatest(sessionId))
        assert.strictEqual(latest.snapshot.fencingToken, b.lease.fencingToken)
        assert.strictEqual(Option.getOrThrow(yield* (yield* LiveStateStore).load(sessionId)).state.session.loopCount, afterB.session.loopCount)
        yield* Scope.close(scopeB, Exit.void)
      }).pipe(Effect.provide(stack)), { timeout: 60_000 })
  })
}

