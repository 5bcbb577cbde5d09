/**
 * The restore pipeline's choices, on the memory stores (the same contract as
 * Redis and PostgreSQL). The tier failures are stand-ins here; the
 * scenarios run the same pipeline against the real servers.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { EngineState } from "../../src/domain/EngineState.ts"
import { Env, SessionId } from "../../src/domain/Ids.ts"
import * as Restore from "../../src/recovery/Restore.ts"
import { describeReport } from "../../src/recovery/RestoreReport.ts"
import { LiveStateStore, makeMemory as makeMemoryLive } from "../../src/store/LiveStateStore.ts"
import type { SnapshotRow } from "../../src/store/internal/SnapshotRows.ts"
import { makeMemory as makeMemorySnapshots, SnapshotStore } from "../../src/store/SnapshotStore.ts"
import * as SessionLease from "../../src/store/SessionLease.ts"
import { StoreError } from "../../src/store/StoreError.ts"
import { sectionKey } from "../../src/store/StateKeys.ts"
import { withoutNegativeZero, expectRestored } from "../support/Results.ts"
import { sampleStates } from "../support/States.ts"

const env = Env.make("unit")
const sessionId = SessionId.make("sess_restore01")

/** Memory stores with raw access to what they hold. */
const stores = () => {
  const entries = new Map<string, string>()
  const rows: Array<SnapshotRow> = []
  return {
    entries,
    rows,
    layer: Layer.mergeAll(
      Layer.succeed(LiveStateStore, makeMemoryLive(env, entries)),
      Layer.succeed(SnapshotStore, makeMemorySnapshots(env, rows)),
      SessionLease.layerMemory(env)
    )
  }
}

/** Writes the live state as the runner holding token 1 does. */
const saveLive = (state: EngineState, token = 1) =>
  Effect.gen(function*() {
    const liveStore = yield* LiveStateStore
    yield* liveStore.raiseFence(state.session.sessionId, token)
    yield* liveStore.save(state, token)
  })

const atLoop = (state: EngineState, loopCount: number): EngineState => ({ ...state, session: { ...state.session, loopCount } })

const saveSnapshots = (states: ReadonlyArray<EngineState>) =>
  Effect.gen(function*() {
    const store = yield* SnapshotStore
    for (const [i, state] of states.entries()) {
      yield* store.save({ sessionId, snapshotType: "trade", sequence: i + 1, fencingToken: 1, createdAt: i }, state)
    }
  })

const threeStates = sampleStates(sessionId, { count: 3, seed: 61 }).pipe(
  Effect.map((states) => states.map((state, i) => atLoop(state, 100 * (i + 1))))
)

describe("Restore.run", () => {
  it.effect("no state anywhere: fresh", () => {
    const s = stores()
    return Effect.gen(function*() {
      const report = yield* Restore.run(sessionId)
      assert.strictEqual(report.outcome, "fresh")
      assert.notProperty(report, "state")
      assert.deepStrictEqual(report.skipped, [])
    }).pipe(Effect.provide(s.layer))
  })

  it.effect("the live tier ahead of the snapshots wins, and the snapshot is reported superseded", () => {
    const s = stores()
    return Effect.gen(function*() {
      const [a, b, c] = yield* threeStates
      yield* saveSnapshots([a!, b!])
      yield* saveLive(c!)
      const report = expectRestored(yield* Restore.run(sessionId))
      assert.strictEqual(report.outcome, "restored")
      assert.strictEqual(report.source, "live")
      assert.deepStrictEqual(report.state, withoutNegativeZero(c!))
      assert.deepStrictEqual(report.skipped.map((k) => [k.source, k.kind, k.sequence]), [["snapshot", "superseded", 2]])
    }).pipe(Effect.provide(s.layer))
  })

  it.effect("a snapshot ahead of the live tier wins (freshness, not tier, decides)", () => {
    const s = stores()
    return Effect.gen(function*() {
      const [a, b] = yield* threeStates
      yield* saveLive(a!)
      yield* saveSnapshots([b!])
      const report = expectRestored(yield* Restore.run(sessionId))
      assert.strictEqual(report.source, "snapshot")
      assert.strictEqual(report.sequence, 1)
      assert.deepStrictEqual(report.state, withoutNegativeZero(b!))
    }).pipe(Effect.provide(s.layer))
  })

  it.effect("on equal loop counts the snapshot, vouched for by its checksum, wins", () => {
    const s = stores()
    return Effect.gen(function*() {
      const [a] = yield* threeStates
      yield* saveLive(a!)
      yield* saveSnapshots([a!])
      assert.strictEqual(expectRestored(yield* Restore.run(sessionId)).source, "snapshot")
    }).pipe(Effect.provide(s.layer))
  })

  it.effect("a corrupted latest snapshot and a corrupted live state: falls back to the previous good snapshot and names both", () => {
    const s = stores()
    return Effect.gen(function*() {
      const [a, b, c] = yield* threeStates
      yield* saveSnapshots([a!, b!])
      yield* saveLive(c!)
      s.entries.set(sectionKey(env, sessionId, "metrics"), "{\"version\":2")
      s.rows[1] = { ...s.rows[1]!, session: { ...(s.rows[1]!.session as object), campaignId: "" } }
      const report = expectRestored(yield* Restore.run(sessionId))
      assert.strictEqual(report.outcome, "restored")
      assert.strictEqual(report.sequence, 1)
      assert.deepStrictEqual(report.state, withoutNegativeZero(a!))
      assert.deepStrictEqual(report.skipped.map((k) => [k.source, k.kind]), [["live", "invalid"], ["snapshot", "invalid"]])
      assert.include(report.skipped[0]!.reason, "metrics is not valid JSON")
      assert.include(report.skipped[1]!.reason, "checksum")
    }).pipe(Effect.provide(s.layer))
  })

  it.effect("only invalid state: unrecoverable, never a fresh session, and no state returned", () => {
    const s = stores()
    return Effect.gen(function*() {
      const [a] = yield* threeStates
      yield* saveSnapshots([a!])
      s.rows[0] = { ...s.rows[0]!, metrics: { version: 3 } }
      const report = yield* Restore.run(sessionId)
      assert.strictEqual(report.outcome, "unrecoverable")
      assert.notProperty(report, "state")
      assert.lengthOf(report.skipped, 1)
    }).pipe(Effect.provide(s.layer))
  })

  it.effect("finds the newest valid snapshot however deep (25 damaged ones in a row), and says how far it read", () => {
    const s = stores()
    return Effect.gen(function*() {
      const states = yield* sampleStates(sessionId, { count: 30, seed: 62 })
      yield* saveSnapshots(states.map((state, i) => atLoop(state, 10 * (i + 1))))
      for (let i = 5; i < 30; i++) s.rows[i] = { ...s.rows[i]!, checksum: "sha256:0" }
      const report = expectRestored(yield* Restore.run(sessionId))
      assert.strictEqual(report.outcome, "restored")
      assert.strictEqual(report.sequence, 5)
      assert.strictEqual(report.skipped.filter((k) => k.kind === "invalid").length, 25)
      assert.strictEqual(report.scanned.snapshots, 26)
      assert.isNull(report.scanned.olderUnread)
      // One line for a person: the first few passed over are named, the rest counted.
      assert.include(describeReport(report), "and 22 more")
    }).pipe(Effect.provide(s.layer))
  })

  it.effect("by headers or by decoding everything, a restore chooses the same, whatever the history, the damage, the depth and the budget", () =>
    Effect.gen(function*() {
      const states = yield* sampleStates(sessionId, { count: 4, seed: 64 })
      const histories: ReadonlyArray<readonly [ReadonlyArray<number>, number]> = [
        [[100, 200, 300], 400], [[100, 500, 300], 400], [[100, 200, 300], 250], [[100, 400, 300], 400], [[600, 200, 300], 350]
      ]
      for (const [loops, liveLoop] of histories) {
        for (const damaged of [false, true]) {
          for (const options of [{}, { depth: 1 }, { depth: 2 }, { scanBudgetBytes: 0 }, { scanBudgetBytes: 1 }]) {
            const s = stores()
            const choose = (sealed: boolean) =>
              Effect.gen(function*() {
                s.rows.length = 0
                s.entries.clear()
                yield* saveSnapshots(loops.map((loop, i) => atLoop(states[i]!, loop)))
                yield* saveLive(atLoop(states[3]!, liveLoop))
                const newest = s.rows.length - 1
                // The newest's payload damaged under an intact header.
                if (damaged) s.rows[newest] = { ...s.rows[newest]!, metrics: { ...(s.rows[newest]!.metrics as object), totalPnlUsd: 12345.5 } }
                if (!sealed) for (const [i, row] of s.rows.entries()) s.rows[i] = { ...row, headerChecksum: null }
                const report = yield* Restore.run(sessionId, options)
                return report.outcome === "restored" ? [report.outcome, report.source, report.sequence, report.loopCount] : [report.outcome]
              })
            const where = `loops ${loops} live ${liveLoop} damaged ${damaged} ${JSON.stringify(options)}`
            assert.deepStrictEqual(yield* choose(true).pipe(Effect.provide(s.layer)), yield* choose(false).pipe(Effect.provide(s.layer)), where)
          }
        }
      }
    }))

  it.effect("a scan budget spent before a valid snapshot: unrecoverable, and the report says what was left unread and how to read it", () => {
    const s = stores()
    return Effect.gen(function*() {
      const states = yield* sampleStates(sessionId, { count: 8, seed: 63 })
      yield* saveSnapshots(states.map((state, i) => atLoop(state, 10 * (i + 1))))
      for (let i = 1; i < 8; i++) s.rows[i] = { ...s.rows[i]!, checksum: "sha256:0" }
      const report = yield* Restore.run(sessionId, { scanBudgetBytes: 1 })
      assert.strictEqual(report.outcome, "unrecoverable")
      assert.strictEqual(report.scanned.olderUnread, "budget")
      assert.isBelow(report.scanned.snapshots, 8)
      assert.include(describeReport(report), "--scan-budget-mb")
      assert.strictEqual(expectRestored(yield* Restore.run(sessionId)).sequence, 1, "with the default budget it is found")
    }).pipe(Effect.provide(s.layer))
  })

  it.effect("large snapshots are read a few at a time: a page never holds more than a quarter of the budget", () => {
    const s = stores()
    const limits: Array<number> = []
    return Effect.gen(function*() {
      const states = yield* sampleStates(sessionId, { count: 40, seed: 64, minOpenTrades: 20, maxOpenTrades: 20 })
      yield* saveSnapshots(states.map((state, i) => atLoop(state, 10 * (i + 1))))
      for (let i = 0; i < 40; i++) s.rows[i] = { ...s.rows[i]!, checksum: "sha256:0" }
      const rowBytes = (yield* (yield* SnapshotStore).loadRecent(sessionId, { limit: 1 }))[0]!.bytes
      const counting = Layer.succeed(SnapshotStore, {
        ...makeMemorySnapshots(env, s.rows),
        loadRecent: (id, options) => {
          limits.push(options.limit)
          return makeMemorySnapshots(env, s.rows).loadRecent(id, options)
        }
      })
      const report = yield* Restore.run(sessionId, { scanBudgetBytes: 12 * rowBytes }).pipe(
        Effect.provide(Layer.mergeAll(counting, Layer.succeed(LiveStateStore, makeMemoryLive(env)), SessionLease.layerMemory(env)))
      )
      assert.strictEqual(report.outcome, "unrecoverable")
      assert.strictEqual(report.scanned.olderUnread, "budget")
      assert.isAtMost(Math.max(...limits), 3, `pages of ${JSON.stringify(limits)} snapshots of ${rowBytes} bytes`)
      assert.isAtMost(report.scanned.bytes, 12 * rowBytes + 3 * rowBytes)
    }).pipe(Effect.provide(s.layer))
  })

  it.effect("a live state written with a token older than the newest snapshot's is stale: its writer had lost the session", () => {
    const s = stores()
    return Effect.gen(function*() {
      const [a, b] = yield* threeStates
      const leases = yield* SessionLease.SessionLease
      yield* leases.acquire(sessionId, "runner", "1 minute")
      const current = yield* leases.acquire(sessionId, "runner", "1 minute")
      const snapshots = yield* SnapshotStore
      yield* snapshots.save({ sessionId, snapshotType: "shutdown", sequence: 1, fencingToken: current.fencingToken, createdAt: 0 }, a!)
      // The live tier forgot its fence, and the runner that lost the session wrote a fresher-looking state.
      yield* saveLive(b!, current.fencingToken - 1)
      const report = expectRestored(yield* Restore.run(sessionId))
      assert.strictEqual(report.source, "snapshot")
      assert.deepStrictEqual(report.state, withoutNegativeZero(a!))
      const stale = report.skipped.find((k) => k.source === "live")!
      assert.strictEqual(stale.kind, "stale")
      assert.include(stale.reason, `token ${current.fencingToken - 1}`)
    }).pipe(Effect.provide(s.layer))
  })

  it.effect("a live state with a token the lease never granted, or none while a lease exists, is stale", () => {
    const s = stores()
    return Effect.gen(function*() {
      const [a, b] = yield* threeStates
      yield* saveSnapshots([a!])
      const lease = yield* (yield* SessionLease.SessionLease).acquire(sessionId, "runner", "1 minute")
      yield* saveLive(b!, lease.fencingToken + 5)
      const forged = expectRestored(yield* Restore.run(sessionId))
      assert.strictEqual(forged.source, "snapshot")
      assert.include(forged.skipped.find((k) => k.source === "live")!.reason, "never granted")

      s.entries.clear()
      yield* (yield* LiveStateStore).save(b!)
      const unleased = expectRestored(yield* Restore.run(sessionId))
      assert.strictEqual(unleased.source, "snapshot")
      assert.strictEqual(unleased.skipped.find((k) => k.source === "live")!.kind, "stale")

      s.entries.clear()
      yield* saveLive(b!, lease.fencingToken)
      assert.strictEqual(expectRestored(yield* Restore.run(sessionId)).source, "live", "the lease holder's own live state wins")
    }).pipe(Effect.provide(s.layer))
  })

  it.effect("looks back at most `depth` snapshots", () => {
    const s = stores()
    return Effect.gen(function*() {
      const [a, b, c] = yield* threeStates
      yield* saveSnapshots([a!, b!, c!])
      s.rows[1] = { ...s.rows[1]!, checksum: "sha256:0" }
      s.rows[2] = { ...s.rows[2]!, checksum: "sha256:0" }
      assert.strictEqual((yield* Restore.run(sessionId, { depth: 2 })).outcome, "unrecoverable")
      assert.strictEqual(expectRestored(yield* Restore.run(sessionId, { depth: 3 })).sequence, 1)
    }).pipe(Effect.provide(s.layer))
  })

  const unreachableLive = Layer.succeed(LiveStateStore, {
    ...makeMemoryLive(env),
    load: () => Effect.fail(StoreError.unreachable("redis", "connect ECONNREFUSED")),
    read: () => Effect.fail(StoreError.unreachable("redis", "connect ECONNREFUSED"))
  })

  it.effect("live tier unreachable: the durable tier decides, and the report says the live tier was degraded", () => {
    const s = stores()
    return Effect.gen(function*() {
      const [a] = yield* threeStates
      yield* saveSnapshots([a!]).pipe(Effect.provide(s.layer))
      const report = yield* Restore.run(sessionId).pipe(
        Effect.provide(Layer.mergeAll(unreachableLive, Layer.succeed(SnapshotStore, makeMemorySnapshots(env, s.rows)), SessionLease.layerMemory(env)))
      )
      assert.strictEqual(report.outcome, "restored")
      assert.isTrue(report.liveTierDegraded)
      assert.deepStrictEqual(report.skipped.map((k) => k.kind), ["unreachable"])
    })
  })

  it.effect("live tier unreachable and no snapshot: a typed RestoreError, not a fresh session", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Restore.run(sessionId))
      assert.strictEqual(error._tag, "RestoreError")
      assert.include(error.message, "cannot be told apart")
    }).pipe(Effect.provide(Layer.mergeAll(unreachableLive, Layer.succeed(SnapshotStore, makeMemorySnapshots(env)), SessionLease.layerMemory(env)))))

  it.effect("durable tier unreachable: a typed RestoreError, whatever the live tier holds", () =>
    Effect.gen(function*() {
      const [a] = yield* threeStates
      yield* saveLive(a!)
      const error = yield* Effect.flip(Restore.run(sessionId))
      assert.strictEqual(error._tag, "RestoreError")
      assert.include(error.message, "ECONNREFUSED")
    }).pipe(Effect.provide(Layer.mergeAll(
      Layer.succeed(LiveStateStore, makeMemoryLive(env)),
      Layer.succeed(SnapshotStore, {
        ...makeMemorySnapshots(env),
        loadRecent: () => Effect.fail(StoreError.unreachable("postgres", "connect ECONNREFUSED"))
      }),
      SessionLease.layerMemory(env)
    ))))
})
