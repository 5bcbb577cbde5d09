/**
 * A store that cannot be reached is a typed `Unreachable`, within a bounded
 * time, and never mistaken for "no state". The bound is enforced by a
 * timeout that fails the test with its own message; nothing here measures
 * speed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Layer, Option, Redacted, Schedule } from "effect"
import { SessionId } from "../../src/domain/Ids.ts"
import { LiveStateStore } from "../../src/store/LiveStateStore.ts"
import { postgresLayer, redisLiveLayer, snapshotsOn } from "../../src/store/Persistence.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import type { StoreError } from "../../src/store/StoreError.ts"
import { freePort } from "../support/Ports.ts"
import { privateRedis } from "../support/PrivateRedis.ts"
import { uniqueEnv } from "../support/Services.ts"
import { sampleStates } from "../support/States.ts"

const bound = "15 seconds"

/** The error of building `layer` and using it, or a test failure if it did not fail within the bound. */
const failureOf = <A, R>(program: Effect.Effect<A, StoreError, R>, layer: Layer.Layer<R, StoreError>) =>
  program.pipe(
    Effect.provide(layer),
    Effect.flip,
    Effect.timeoutOrElse({ duration: bound, orElse: () => Effect.die(new Error(`no typed failure within ${bound}`)) })
  )

describe("unreachable stores", () => {
  it.live("Redis with nothing listening: Unreachable, and the password never appears in the message", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const url = Redacted.make(`redis://:s3cret-pw@127.0.0.1:${port}/0`)
      const error = yield* failureOf(
        LiveStateStore.pipe(Effect.flatMap((store) => store.load(SessionId.make("sess_nobody01")))),
        redisLiveLayer(uniqueEnv("unreach"), url)
      )
      assert.strictEqual(error.reason._tag, "Unreachable")
      assert.include(error.message, "ECONNREFUSED")
      assert.notInclude(error.message, "s3cret-pw")
      assert.notInclude(String(url), "s3cret-pw")
    }), { timeout: 30_000 })

  it.live("Redis given a URL that is not a redis: URL (ioredis reads it as a socket path): Unreachable, the password not in the message", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const error = yield* failureOf(
        LiveStateStore.pipe(Effect.flatMap((store) => store.load(SessionId.make("sess_nobody01")))),
        redisLiveLayer(uniqueEnv("unreach"), Redacted.make(`http://x:s3cret-pw@127.0.0.1:${port}`))
      )
      assert.strictEqual(error.reason._tag, "Unreachable")
      assert.notInclude(error.message, "s3cret-pw")
    }), { timeout: 30_000 })

  it.live("PostgreSQL with nothing listening: Unreachable, and the password never appears in the message", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const url = Redacted.make(`postgres://postgres:s3cret-pw@127.0.0.1:${port}/test`)
      const error = yield* failureOf(
        SnapshotStore.pipe(Effect.flatMap((store) => store.loadLatest(SessionId.make("sess_nobody01")))),
        snapshotsOn(uniqueEnv("unreach"), postgresLayer(url, { maxConnections: 1 }))
      )
      assert.strictEqual(error.reason._tag, "Unreachable")
      assert.notInclude(error.message, "s3cret-pw")
    }), { timeout: 30_000 })

  it.live("Redis that dies after connecting: saves and loads fail as Unreachable (not None), and work again when it is back", () =>
    Effect.gen(function*() {
      const redis = yield* privateRedis
      const sessionId = SessionId.make("sess_outage001")
      const [state] = yield* sampleStates(sessionId, { count: 1, seed: 41 })
      const program = Effect.gen(function*() {
        const store = yield* LiveStateStore
        yield* store.save(state!)
        yield* redis.stop
        const loadError = yield* Effect.flip(store.load(sessionId))
        assert.strictEqual(loadError.reason._tag, "Unreachable")
        const saveError = yield* Effect.flip(store.save(state!))
        assert.strictEqual(saveError._tag === "StoreError" ? saveError.reason._tag : saveError._tag, "Unreachable")
        yield* redis.start
        // The client reconnects by itself; the restarted server is empty (it keeps nothing on disk).
        const back = yield* store.load(sessionId).pipe(Effect.retry({ times: 200, schedule: Schedule.spaced("50 millis") }))
        assert.isTrue(Option.isNone(back))
      })
      yield* program.pipe(
        Effect.provide(redisLiveLayer(uniqueEnv("outage"), redis.url)),
        Effect.timeoutOrElse({ duration: "30 seconds", orElse: () => Effect.die(new Error("no answer within 30 seconds")) })
      )
    }), { timeout: 60_000 })
})
