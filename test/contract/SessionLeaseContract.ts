/**
 * The contract of session leases, run against every backing.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Option } from "effect"
import { TestClock } from "effect/testing"
import { SessionId } from "../../src/domain/Ids.ts"
import { SessionLease } from "../../src/store/SessionLease.ts"
import type { SnapshotBacking } from "../support/Backings.ts"
import { uniqueEnv } from "../support/Services.ts"

const session = (suffix: string) => SessionId.make(`sess_${suffix}`)

/** Registers the lease contract for `backing`; `expire` lets a lease's time run out (real or test clock). */
export const sessionLeaseContract = (backing: SnapshotBacking) => {
  const env = uniqueEnv(`lease${backing.name}`)
  // PostgreSQL judges expiry by its own clock, so its leases are given real time to run out (this
  // waits for a TTL to lapse, the behaviour under test); memory leases follow the test clock.
  const expire = (ms: number) =>
    backing.name === "memory"
      ? TestClock.adjust(`${ms} millis`)
      : Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))
  layer(backing.layer(env), { timeout: "60 seconds" })(`SessionLease contract on ${backing.name}`, (it) => {
    it.effect("the first runner gets token 1; a second runner is refused with SessionHeld naming the holder", () =>
      Effect.gen(function*() {
        const leases = yield* SessionLease
        const lease = yield* leases.acquire(session("held0001"), "runner-a", "30 seconds")
        assert.strictEqual(lease.fencingToken, 1)
        const error = yield* Effect.flip(leases.acquire(session("held0001"), "runner-b", "30 seconds"))
        assert.strictEqual(error._tag === "LeaseError" ? error.reason._tag : error._tag, "SessionHeld")
        assert.include(error.message, "runner-a")
      }))

    it.effect("an expired lease can be taken over, with a higher token; the old holder's renewal fails with LeaseLost", () =>
      Effect.gen(function*() {
        const leases = yield* SessionLease
        const first = yield* leases.acquire(session("expire01"), "runner-a", "200 millis")
        yield* expire(400)
        const second = yield* leases.acquire(session("expire01"), "runner-b", "30 seconds")
        assert.isAbove(second.fencingToken, first.fencingToken)
        const lost = yield* Effect.flip(leases.renew(first, "30 seconds"))
        assert.strictEqual(lost._tag === "LeaseError" ? lost.reason._tag : lost._tag, "LeaseLost")
        assert.include(lost.message, "runner-b")
      }))

    it.effect("a renewed lease outlives its first expiry; an expired one nobody took can be renewed, keeping its token", () =>
      Effect.gen(function*() {
        const leases = yield* SessionLease
        const lease = yield* leases.acquire(session("renew001"), "runner-a", "300 millis")
        yield* expire(150)
        // Renewed for long enough that a loaded machine cannot let it lapse before the next check.
        const renewed = yield* leases.renew(lease, "1500 millis")
        assert.strictEqual(renewed.fencingToken, lease.fencingToken)
        yield* expire(200) // past the first expiry
        const refused = yield* Effect.flip(leases.acquire(session("renew001"), "runner-b", "30 seconds"))
        assert.strictEqual(refused._tag === "LeaseError" ? refused.reason._tag : refused._tag, "SessionHeld")
        yield* expire(1_500)
        const revived = yield* leases.renew(renewed, "30 seconds")
        assert.strictEqual(revived.fencingToken, lease.fencingToken)
        const held = yield* Effect.flip(leases.acquire(session("renew001"), "runner-b", "30 seconds"))
        assert.include(held.message, "runner-a")
      }))

    it.effect("a released lease is free at once, and the token keeps counting up", () =>
      Effect.gen(function*() {
        const leases = yield* SessionLease
        const tokens: Array<number> = []
        for (const holder of ["runner-a", "runner-b", "runner-c"]) {
          const lease = yield* leases.acquire(session("release1"), holder, "30 seconds")
          tokens.push(lease.fencingToken)
          yield* leases.release(lease)
        }
        assert.deepStrictEqual(tokens, [1, 2, 3])
        const current = Option.getOrThrow(yield* leases.current(session("release1")))
        assert.strictEqual(current.fencingToken, 3)
        assert.strictEqual(current.holder, "runner-c")
      }))

    it.effect("leases of different sessions are independent", () =>
      Effect.gen(function*() {
        const leases = yield* SessionLease
        const a = yield* leases.acquire(session("indep001"), "runner-a", "30 seconds")
        const b = yield* leases.acquire(session("indep002"), "runner-b", "30 seconds")
        assert.strictEqual(a.fencingToken, 1)
        assert.strictEqual(b.fencingToken, 1)
      }))
  })
}
