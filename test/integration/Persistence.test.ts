/**
 * The whole stack as configured from the environment: the embedded default
 * when no URLs are given (snapshots survive a restart of the stack), the real
 * servers when they are.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Logger, Option, Redacted } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { SessionId } from "../../src/domain/Ids.ts"
import { LiveStateStore } from "../../src/store/LiveStateStore.ts"
import * as Persistence from "../../src/store/Persistence.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import { withoutNegativeZero } from "../support/Results.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"
import { sampleStates } from "../support/States.ts"

/** The stack configured by `env`, with the log lines it writes collected in `logs`. */
const stackFrom = (variables: Record<string, string>, logs: Array<string> = []) =>
  Layer.fresh(Persistence.layer).pipe(
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(variables))),
    Layer.provide(Logger.layer([Logger.make(({ message }) => void logs.push(String(message)))]))
  )

const sessionId = SessionId.make("sess_config01")

describe("Persistence.layer", () => {
  it.live("without DATABASE_URL and REDIS_URL: embedded PostgreSQL on disk, live state in memory, said once", () =>
    Effect.gen(function*() {
      const dataDir = mkdtempSync(join(tmpdir(), "arbitrage-state-pglite-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dataDir, { recursive: true, force: true })))
      const [state] = yield* sampleStates(sessionId, { count: 1, seed: 51 })
      const logs: Array<string> = []
      const variables = { PGLITE_DATA_DIR: dataDir, STATE_ENV: "demo" }

      yield* Effect.gen(function*() {
        const liveStore = yield* LiveStateStore
        const snapshots = yield* SnapshotStore
        assert.strictEqual(liveStore.kind, "memory")
        assert.isFalse(liveStore.durable)
        assert.strictEqual(snapshots.kind, "postgres")
        yield* snapshots.save({ sessionId, snapshotType: "shutdown", sequence: 1, fencingToken: 1, createdAt: 1 }, state!)
      }).pipe(Effect.provide(stackFrom(variables, logs)))
      assert.strictEqual(logs.filter((line) => line.includes("REDIS_URL is not set")).length, 1)

      // A new stack on the same directory (as after a restart of the process) finds the snapshot.
      const restored = yield* SnapshotStore.pipe(
        Effect.flatMap((store) => store.loadLatest(sessionId)),
        Effect.provide(stackFrom(variables))
      )
      assert.deepStrictEqual(Option.getOrThrow(restored).snapshot.state, withoutNegativeZero(state!))
    }), { timeout: 60_000 })

  it.live("a second stack cannot open an embedded database another live stack holds", () =>
    Effect.gen(function*() {
      const dataDir = mkdtempSync(join(tmpdir(), "arbitrage-state-pglite-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dataDir, { recursive: true, force: true })))
      const variables = { PGLITE_DATA_DIR: dataDir }
      const error = yield* SnapshotStore.pipe(
        Effect.andThen(SnapshotStore.pipe(Effect.provide(stackFrom(variables)), Effect.flip)),
        Effect.provide(stackFrom(variables))
      )
      assert.include(error.message, "is in use by process")
    }), { timeout: 60_000 })

  it.live("with DATABASE_URL and REDIS_URL: the real servers", () =>
    Effect.gen(function*() {
      const liveStore = yield* LiveStateStore
      const snapshots = yield* SnapshotStore
      assert.strictEqual(liveStore.kind, "redis")
      assert.strictEqual(snapshots.kind, "postgres")
      assert.isTrue(liveStore.durable)
      const [state] = yield* sampleStates(sessionId, { count: 1, seed: 52 })
      yield* liveStore.save(state!)
      assert.deepStrictEqual(Option.getOrThrow(yield* liveStore.load(sessionId)).state, withoutNegativeZero(state!))
      yield* liveStore.delete(sessionId)
    }).pipe(Effect.provide(stackFrom({
      DATABASE_URL: Redacted.value(testDatabaseUrl),
      REDIS_URL: Redacted.value(testRedisUrl),
      STATE_ENV: uniqueEnv("config")
    }))), { timeout: 60_000 })

  it.live("a malformed STATE_ENV is a configuration error naming the variable", () =>
    Effect.gen(function*() {
      const error = yield* SnapshotStore.pipe(Effect.provide(stackFrom({ STATE_ENV: "Prod:Main" })), Effect.flip)
      assert.include(String(error), "STATE_ENV")
    }), { timeout: 60_000 })
})
