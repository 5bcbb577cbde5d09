/**
 * The contract of the durable tier, run against every backing.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Option, Result } from "effect"
import type { EngineState } from "../../src/domain/EngineState.ts"
import { SessionId } from "../../src/domain/Ids.ts"
import { sectionCodecs } from "../../src/domain/StateCodec.ts"
import { SessionEvents } from "../../src/store/SessionEvents.ts"
import { SnapshotStore, type SnapshotToSave } from "../../src/store/SnapshotStore.ts"
import { RawSnapshots, type SnapshotBacking } from "../support/Backings.ts"
import { stateWithSectionsArbitrary } from "../support/CustomSections.ts"
import { withoutNegativeZero } from "../support/Results.ts"
import { uniqueEnv } from "../support/Services.ts"
import { engineStateArbitrary } from "../support/StateArbitrary.ts"
import { ofSession, sampleStates } from "../support/States.ts"

const session = (suffix: string) => SessionId.make(`sess_${suffix}`)
const sessionVersion = sectionCodecs.session.currentVersion

const metadataFor = (state: EngineState, sequence: number, snapshotType: SnapshotToSave["snapshotType"] = "trade"): SnapshotToSave => ({
  sessionId: state.session.sessionId,
  snapshotType,
  sequence,
  fencingToken: 1,
  createdAt: 1_763_629_181_208 + sequence
})

/** Saves `states` as sequences 1..n of their session; returns the snapshot ids in order. */
const saveAll = (states: ReadonlyArray<EngineState>) =>
  Effect.gen(function*() {
    const store = yield* SnapshotStore
    const ids: Array<number> = []
    for (const [i, state] of states.entries()) ids.push((yield* store.save(metadataFor(state, i + 1), state)).snapshotId)
    return ids
  })

/** Registers the durable-tier contract for `backing`. */
export const snapshotStoreContract = (backing: SnapshotBacking, options: { readonly propertyRuns: number }) => {
  const env = uniqueEnv(`snap${backing.name}`)
  layer(backing.layer(env), { timeout: "90 seconds" })(`SnapshotStore contract on ${backing.name}`, (it) => {
    it.effect("a session without snapshots has no latest and an empty listing", () =>
      Effect.gen(function*() {
        const store = yield* SnapshotStore
        assert.isTrue(Option.isNone(yield* store.loadLatest(session("none0001"))))
        assert.deepStrictEqual(yield* store.listSnapshots(session("none0001")), [])
        assert.deepStrictEqual(yield* store.loadRecent(session("none0001"), { limit: 5 }), [])
      }))

    let propertySequence = 0
    it.effect.prop("save then loadLatest gives back the same state and metadata", { state: engineStateArbitrary() }, ({ state }) =>
      Effect.gen(function*() {
        const store = yield* SnapshotStore
        const metadata = metadataFor(state, ++propertySequence, "periodic")
        const summary = yield* store.save(metadata, state)
        const latest = Option.getOrThrow(yield* store.loadLatest(state.session.sessionId))
        assert.strictEqual(latest.snapshotId, summary.snapshotId)
        assert.deepStrictEqual(latest.snapshot.state, withoutNegativeZero(state))
        assert.strictEqual(latest.snapshot.sequence, metadata.sequence)
        assert.strictEqual(latest.snapshot.snapshotType, metadata.snapshotType)
        assert.strictEqual(latest.snapshot.fencingToken, metadata.fencingToken)
        assert.strictEqual(latest.snapshot.createdAt, metadata.createdAt)
        assert.strictEqual(summary.openTrades, Object.keys(state.positions.activeTrades).length)
        assert.strictEqual(summary.loopCount, state.session.loopCount)
      }), { arbitrary: { runs: options.propertyRuns } })

    it.effect.prop(
      "a runner's own sections are stored with the snapshot and read back verified; a changed byte there fails its checksum",
      { sample: stateWithSectionsArbitrary({ maxOpenTrades: 2 }) },
      ({ sample: { state } }) =>
        Effect.gen(function*() {
          const store = yield* SnapshotStore
          const metadata = metadataFor(state, ++propertySequence, "periodic")
          const summary = yield* store.save(metadata, state)
          const [read] = yield* store.loadRecent(state.session.sessionId, { limit: 1 })
          assert.strictEqual(read!.snapshotId, summary.snapshotId)
          assert.deepStrictEqual(Result.getOrThrow(read!.result).state, withoutNegativeZero(state))
          if (state.custom !== undefined) {
            const [name] = Object.keys(state.custom)
            yield* (yield* RawSnapshots).setCustom(summary.snapshotId, { ...state.custom, [name!]: { ...state.custom[name!], version: 99 } })
            const [damaged] = yield* store.loadRecent(state.session.sessionId, { limit: 1 })
            assert.isTrue(Result.isFailure(damaged!.result))
            assert.include(Result.isFailure(damaged!.result) ? damaged!.result.failure.message : "", "fails its checksum")
          }
        }),
      { arbitrary: { runs: options.propertyRuns } }
    )

    it.effect("a snapshot with 300 open trades round-trips", () =>
      Effect.gen(function*() {
        const store = yield* SnapshotStore
        const [state] = yield* sampleStates(session("many0001"), { count: 1, seed: 21, minOpenTrades: 300, maxOpenTrades: 300 })
        yield* store.save(metadataFor(state!, 1), state!)
        const latest = Option.getOrThrow(yield* store.loadLatest(session("many0001")))
        assert.deepStrictEqual(latest.snapshot.state, withoutNegativeZero(state!))
      }))

    it.effect("loadRecent returns snapshots newest first and pages back with beforeSequence", () =>
      Effect.gen(function*() {
        const store = yield* SnapshotStore
        const states = yield* sampleStates(session("recent01"), { count: 5, seed: 22 })
        const ids = yield* saveAll(states)
        const recent = yield* store.loadRecent(session("recent01"), { limit: 3 })
        assert.deepStrictEqual(recent.map((read) => read.sequence), [5, 4, 3])
        assert.deepStrictEqual(recent.map((read) => read.snapshotId), [ids[4], ids[3], ids[2]])
        for (const [i, read] of recent.entries()) {
          assert.deepStrictEqual(Result.getOrThrow(read.result).state, withoutNegativeZero(states[4 - i]!))
        }
        const older = yield* store.loadRecent(session("recent01"), { limit: 10, beforeSequence: 3 })
        assert.deepStrictEqual(older.map((read) => read.sequence), [2, 1])
        const listing = yield* store.listSnapshots(session("recent01"))
        assert.deepStrictEqual(listing.map((s) => s.sequence), [5, 4, 3, 2, 1])
      }))

    it.effect("olderCeiling: the highest loop count and token below the newest, within a limit, without the sections", () =>
      Effect.gen(function*() {
        const store = yield* SnapshotStore
        const states = yield* sampleStates(session("ceiling01"), { count: 4, seed: 23 })
        const loops = [100, 500, 300, 200]
        yield* saveAll(states.map((state, i) => ({ ...state, session: { ...state.session, loopCount: loops[i]! } })))
        assert.deepStrictEqual(yield* store.olderCeiling(session("ceiling01"), Number.POSITIVE_INFINITY), {
          newestSequence: 4, loopCount: 500, fencingToken: 1, unsealed: 0
        })
        assert.strictEqual((yield* store.olderCeiling(session("ceiling01"), 1)).loopCount, 300, "only the one just below the newest")
        assert.deepStrictEqual(yield* store.olderCeiling(session("ceiling01"), 0), { newestSequence: 4, loopCount: null, fencingToken: null, unsealed: 0 })
        assert.deepStrictEqual(yield* store.olderCeiling(session("ceiling02"), 5), { newestSequence: null, loopCount: null, fencingToken: null, unsealed: 0 })
      }))

    it.effect("a reused sequence number is a WriteConflict and changes nothing", () =>
      Effect.gen(function*() {
        const store = yield* SnapshotStore
        const [first, second] = yield* sampleStates(session("dupseq01"), { count: 2, seed: 23 })
        yield* store.save(metadataFor(first!, 1), first!)
        const error = yield* Effect.flip(store.save(metadataFor(second!, 1), second!))
        assert.strictEqual(error._tag, "StoreError")
        assert.strictEqual(error._tag === "StoreError" ? error.reason._tag : "", "WriteConflict")
        const latest = Option.getOrThrow(yield* store.loadLatest(session("dupseq01")))
        assert.deepStrictEqual(latest.snapshot.state, withoutNegativeZero(first!))
        assert.lengthOf(yield* store.listSnapshots(session("dupseq01")), 1)
      }))

    it.effect("the same snapshot written twice (a retry after a lost reply) is written once, and the retry reports it written", () =>
      Effect.gen(function*() {
        const store = yield* SnapshotStore
        const [state] = yield* sampleStates(session("retry0001"), { count: 1, seed: 31 })
        const first = yield* store.save(metadataFor(state!, 1), state!)
        const again = yield* store.save(metadataFor(state!, 1), state!)
        assert.strictEqual(again.snapshotId, first.snapshotId)
        assert.strictEqual(again.sequence, 1)
        assert.lengthOf(yield* store.listSnapshots(session("retry0001")), 1)
        // The same state under other metadata (another time, another type) is other contents.
        const other = yield* Effect.flip(store.save({ ...metadataFor(state!, 1), createdAt: 1 }, state!))
        assert.strictEqual(other._tag === "StoreError" ? other.reason._tag : other._tag, "WriteConflict")
      }))

    it.effect("highestSequence: the highest a writer can continue from, passing over a damaged row beyond the safe integers", () =>
      Effect.gen(function*() {
        const store = yield* SnapshotStore
        const raw = yield* RawSnapshots
        assert.strictEqual(yield* store.highestSequence(session("highest01")), 0)
        const states = yield* sampleStates(session("highest01"), { count: 3, seed: 32 })
        const ids = yield* saveAll(states)
        assert.strictEqual(yield* store.highestSequence(session("highest01")), 3)
        yield* raw.setSequence(ids[2]!, 2n ** 53n)
        assert.strictEqual(yield* store.highestSequence(session("highest01")), 2)
        // The writer goes on from there, and the restore passes over the damaged row.
        yield* store.save(metadataFor(states[2]!, 3), states[2]!)
        const [damaged, next] = yield* store.loadRecent(session("highest01"), { limit: 2 })
        assert.isTrue(Result.isFailure(damaged!.result))
        assert.strictEqual(Result.getOrThrow(next!.result).sequence, 3)
      }))

    it.effect("an invalid state is refused before anything is written", () =>
      Effect.gen(function*() {
        const store = yield* SnapshotStore
        const [state] = yield* sampleStates(session("invalid01"), { count: 1, seed: 24 })
        const broken = { ...state!, metrics: { ...state!.metrics, tradesClosed: state!.metrics.tradesOpened + 1 } }
        const exit = yield* Effect.exit(store.save(metadataFor(broken, 1), broken))
        assert.isTrue(Exit.isFailure(exit))
        assert.lengthOf(yield* store.listSnapshots(session("invalid01")), 0)
      }))

    it.effect("a corrupted latest snapshot is Unreadable from loadLatest, and loadRecent names it and keeps the older good one", () =>
      Effect.gen(function*() {
        const store = yield* SnapshotStore
        const raw = yield* RawSnapshots
        const states = yield* sampleStates(session("corrupt01"), { count: 2, seed: 25 })
        const ids = yield* saveAll(states)
        const stored = Option.getOrThrow(yield* store.loadLatest(session("corrupt01")))
        // The original report's S5: the campaign of the session section emptied.
        const { session: s } = stored.snapshot.state
        yield* raw.setSection(ids[1]!, "session", { version: sessionVersion, ...s, campaignId: "" })
        const error = yield* Effect.flip(store.loadLatest(session("corrupt01")))
        assert.strictEqual(error.reason._tag, "Unreadable")
        assert.include(error.message, `snapshot ${ids[1]}`)
        const [newest, older] = yield* store.loadRecent(session("corrupt01"), { limit: 2 })
        assert.isTrue(Result.isFailure(newest!.result))
        assert.deepStrictEqual(Result.getOrThrow(older!.result).state, withoutNegativeZero(states[0]!))
      }))

    it.effect("a snapshot missing one of its section rows reads as invalid, naming the section", () =>
      Effect.gen(function*() {
        const store = yield* SnapshotStore
        const raw = yield* RawSnapshots
        const states = yield* sampleStates(session("missing01"), { count: 3, seed: 26 })
        const ids = yield* saveAll(states)
        const dropped = [["positions", ids[0]!], ["metrics", ids[1]!], ["riskGuard", ids[2]!]] as const
        for (const [section, id] of dropped) yield* raw.dropSection(id, section)
        const reads = yield* store.loadRecent(session("missing01"), { limit: 3 })
        for (const [section, id] of dropped) {
          const read = reads.find((r) => r.snapshotId === id)!
          assert.isTrue(Result.isFailure(read.result))
          assert.include(Result.isFailure(read.result) ? read.result.failure.message : "", section)
        }
      }))

    it.effect("listSessions gives the newest snapshot of each session of this env only", () =>
      Effect.gen(function*() {
        const store = yield* SnapshotStore
        const states = yield* sampleStates(session("listed01"), { count: 2, seed: 27 })
        yield* saveAll(states)
        yield* saveAll([ofSession(states[0]!, session("listed02"))])
        const sessions = yield* store.listSessions()
        const one = sessions.find((s) => s.sessionId === session("listed01"))
        assert.strictEqual(one?.sequence, 2)
        assert.isDefined(sessions.find((s) => s.sessionId === session("listed02")))
        assert.strictEqual(new Set(sessions.map((s) => s.sessionId)).size, sessions.length)
        const otherEnvSees = yield* SnapshotStore.pipe(
          Effect.flatMap((other) => other.listSessions()),
          Effect.provide(backing.layer(uniqueEnv(`other${backing.name}`)))
        )
        assert.isUndefined(otherEnvSees.find((s) => s.sessionId === session("listed01")))
      }))

    it.effect("cleanup removes old snapshots but keeps the newest of each session and the newest valid one", () =>
      Effect.gen(function*() {
        const store = yield* SnapshotStore
        const raw = yield* RawSnapshots
        const plain = yield* sampleStates(session("retain01"), { count: 4, seed: 28 })
        yield* saveAll(plain)
        const damaged = yield* sampleStates(session("retain02"), { count: 3, seed: 29 })
        const damagedIds = yield* saveAll(damaged)
        // The newest snapshot of retain02 is corrupt: retention must also keep #2, its newest valid one.
        yield* raw.setSection(damagedIds[2]!, "metrics", { version: 2, tradesOpened: -1 })
        const before = (yield* store.listSessions()).length
        const cuts = yield* store.cleanup({ olderThanDays: 0, keepLatest: 1 })
        const cutOf = (suffix: string) => cuts.find((cut) => cut.sessionId === session(suffix))
        assert.deepStrictEqual(cutOf("retain01"), {
          sessionId: session("retain01"),
          removed: 3,
          oldestSequence: 1,
          newestSequence: 3,
          newestLoopCount: Math.max(...plain.slice(0, 3).map((s) => s.session.loopCount))
        })
        assert.deepInclude(cutOf("retain02"), { removed: 1, oldestSequence: 1, newestSequence: 1 })
        assert.deepStrictEqual((yield* store.listSnapshots(session("retain01"))).map((s) => s.sequence), [4])
        assert.deepStrictEqual((yield* store.listSnapshots(session("retain02"))).map((s) => s.sequence), [3, 2])
        assert.strictEqual((yield* store.listSessions()).length, before)
        const kept = yield* store.loadRecent(session("retain02"), { limit: 5 })
        assert.isTrue(Result.isSuccess(kept[1]!.result))
        assert.deepStrictEqual(yield* store.cleanup({ olderThanDays: 0, keepLatest: 1 }), [])
      }))

    it.effect("a dry run names exactly what the cut then removes, and removes and records nothing", () =>
      Effect.gen(function*() {
        const store = yield* SnapshotStore
        yield* saveAll(yield* sampleStates(session("dryrun01"), { count: 6, seed: 31 }))
        yield* saveAll(yield* sampleStates(session("dryrun02"), { count: 2, seed: 32 }))
        const planned = yield* store.cleanup({ olderThanDays: 0, keepLatest: 2, dryRun: true })
        const ours = (cuts: typeof planned) => cuts.filter((cut) => cut.sessionId.startsWith("sess_dryrun"))
        assert.deepStrictEqual(ours(planned).map((cut) => [cut.sessionId, cut.removed, cut.oldestSequence, cut.newestSequence]), [
          [session("dryrun01"), 4, 1, 4]
        ])
        assert.lengthOf(yield* store.listSnapshots(session("dryrun01")), 6)
        assert.deepStrictEqual(yield* (yield* SessionEvents).list(session("dryrun01")), [])

        const cut = yield* store.cleanup({ olderThanDays: 0, keepLatest: 2 })
        assert.deepStrictEqual(ours(cut), ours(planned))
        assert.deepStrictEqual((yield* store.listSnapshots(session("dryrun01"))).map((s) => s.sequence), [6, 5])
        assert.lengthOf(yield* store.listSnapshots(session("dryrun02")), 2)
      }))

    it.effect("a cut is recorded in the session's history: what went, and the retention it ran with", () =>
      Effect.gen(function*() {
        const store = yield* SnapshotStore
        const states = yield* sampleStates(session("cutlog01"), { count: 5, seed: 33 })
        yield* saveAll(states)
        yield* saveAll(yield* sampleStates(session("cutlog02"), { count: 3, seed: 34 }))
        yield* store.cleanup({ olderThanDays: 0, keepLatest: 3 })
        const events = yield* (yield* SessionEvents).list(session("cutlog01"))
        assert.deepStrictEqual(events.map(({ recordedAt: _, ...event }) => event), [{
          kind: "history_cut",
          fencingToken: 0,
          loopCount: Math.max(states[0]!.session.loopCount, states[1]!.session.loopCount),
          detail: { removed: 2, oldestSequence: 1, newestSequence: 2, olderThanDays: 0, keepLatest: 3 }
        }])
        // Nothing of cutlog02 went (it has no more than the 3 kept): nothing is recorded of it.
        assert.deepStrictEqual(yield* (yield* SessionEvents).list(session("cutlog02")), [])
      }))

    it.effect("cleanup keeps snapshots younger than the retention period", () =>
      Effect.gen(function*() {
        const store = yield* SnapshotStore
        yield* saveAll(yield* sampleStates(session("young001"), { count: 3, seed: 30 }))
        assert.deepStrictEqual(yield* store.cleanup({ olderThanDays: 1, keepLatest: 1 }), [])
        assert.lengthOf(yield* store.listSnapshots(session("young001")), 3)
      }))

    it.effect("cleanup refuses a negative retention period with a typed error", () =>
      Effect.gen(function*() {
        const store = yield* SnapshotStore
        const error = yield* Effect.flip(store.cleanup({ olderThanDays: -1 }))
        assert.strictEqual(error.reason._tag, "StoreFailure")
        assert.include(error.message, "olderThanDays")
      }))

    it.effect("session events come back oldest first, as recorded, and only the session's own", () =>
      Effect.gen(function*() {
        const events = yield* SessionEvents
        const resumed = (loopCount: number, after: string) => ({
          kind: "resumed" as const,
          fencingToken: loopCount,
          loopCount,
          detail: { source: "live", after, skipped: [{ sequence: loopCount - 1, reason: "checksum" }] }
        })
        yield* events.record(session("events01"), resumed(7, "crash"))
        yield* events.record(session("events02"), resumed(3, "stop"))
        yield* events.record(session("events01"), resumed(9, "stop"))
        const listed = yield* events.list(session("events01"))
        assert.deepStrictEqual(listed.map(({ recordedAt: _, ...event }) => event), [resumed(7, "crash"), resumed(9, "stop")])
        assert.isTrue(listed[0]!.recordedAt <= listed[1]!.recordedAt)
        assert.deepStrictEqual(yield* events.list(session("events03")), [])
      }))
  })
}
