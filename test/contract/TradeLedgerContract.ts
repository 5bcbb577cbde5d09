/**
 * The contract of the trade ledger, run against every durable backing: the
 * snapshot save appends a state's closes in the same write, a retry appends
 * them once, a refused or invalid save appends nothing, a resume's older
 * state supersedes the closes it does not count, snapshot retention never
 * touches the ledger, and the ledger's own retention does what its dry run
 * says.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Result } from "effect"
import type { LedgerEntry } from "../../src/domain/ClosedTrade.ts"
import type { EngineState } from "../../src/domain/EngineState.ts"
import { SessionId } from "../../src/domain/Ids.ts"
import { SessionEvents } from "../../src/store/SessionEvents.ts"
import { SessionLease } from "../../src/store/SessionLease.ts"
import { SnapshotStore, type SnapshotToSave } from "../../src/store/SnapshotStore.ts"
import { TradeLedger } from "../../src/store/TradeLedger.ts"
import { RawSnapshots, type SnapshotBacking } from "../support/Backings.ts"
import { type ClosingStep, closingRun, entriesByStep } from "../support/Ledger.ts"
import { uniqueEnv } from "../support/Services.ts"

const session = (suffix: string) => SessionId.make(`sess_${suffix}`)

const metadataFor = (state: EngineState, sequence: number, fencingToken = 0): SnapshotToSave => ({
  sessionId: state.session.sessionId,
  snapshotType: "trade",
  sequence,
  fencingToken,
  createdAt: 1_767_225_600_000 + sequence
})

/**
 * Saves every `every`-th step as a snapshot (and the last), each carrying the closes since the
 * snapshot before it, as a session does; returns the next sequence.
 */
const saveEvery = (initial: EngineState, steps: ReadonlyArray<ClosingStep>, every: number, firstSequence = 1) =>
  Effect.gen(function*() {
    const store = yield* SnapshotStore
    const entries = entriesByStep(initial, steps)
    let tail: Array<LedgerEntry> = []
    let sequence = firstSequence
    for (const [i, step] of steps.entries()) {
      tail = [...tail, ...entries[i]!]
      if ((i + 1) % every !== 0 && i !== steps.length - 1) continue
      yield* store.save(metadataFor(step.state, sequence++), step.state, tail)
      tail = []
    }
    return sequence
  })

const standing = (sessionId: SessionId) =>
  Effect.flatMap(TradeLedger, (ledger) => ledger.list(sessionId, { limit: 10_000 })).pipe(
    Effect.map((reads) => reads.map((read) => ({ closeNumber: read.closeNumber, entry: Result.getOrThrow(read.result) })))
  )

/** Registers the trade-ledger contract for `backing`. */
export const tradeLedgerContract = (backing: SnapshotBacking) => {
  const env = uniqueEnv(`ledger${backing.name}`)
  layer(backing.layer(env), { timeout: "90 seconds" })(`TradeLedger contract on ${backing.name}`, (it) => {
    it.effect("snapshots append every close their state counts, once each, read back verified in close order; their PnL sums to the metrics'", () =>
      Effect.gen(function*() {
        const id = session("ledger0001")
        const { initial, steps } = closingRun(id, 12)
        yield* saveEvery(initial, steps, 7)
        const final = steps.at(-1)!.state
        const found = yield* standing(id)
        const expected = entriesByStep(initial, steps).flat()
        assert.deepStrictEqual(found.map((f) => f.closeNumber), expected.map((e) => e.closeNumber))
        assert.deepStrictEqual(found.map((f) => f.entry.trade), expected.map((e) => e.trade))
        assert.strictEqual(found.length, final.metrics.tradesClosed)
        const summary = yield* (yield* TradeLedger).summary(id)
        assert.strictEqual(summary.entries, final.metrics.tradesClosed)
        assert.strictEqual(summary.invalid, 0)
        assert.closeTo(summary.realizedPnlUsd, final.metrics.totalPnlUsd, 1e-9 * Math.max(1, Math.abs(final.metrics.totalPnlUsd)))
        assert.strictEqual(summary.winning, final.metrics.winningTrades)
        for (const { entry } of found) assert.notProperty(final.positions.activeTrades, entry.trade.tradeId)
      }))

    it.effect("the same snapshot written again (a retry after a lost reply) appends its closes once", () =>
      Effect.gen(function*() {
        const id = session("ledger0002")
        const { initial, steps } = closingRun(id, 3)
        const store = yield* SnapshotStore
        const last = steps.at(-1)!.state
        const tail = entriesByStep(initial, steps).flat()
        yield* store.save(metadataFor(last, 1), last, tail)
        yield* store.save(metadataFor(last, 1), last, tail)
        assert.deepStrictEqual((yield* standing(id)).map((f) => f.closeNumber), tail.map((e) => e.closeNumber))
      }))

    it.effect("closes still in doubt are carried by the next snapshot as well, and stored once", () =>
      Effect.gen(function*() {
        const id = session("ledger0003")
        const { initial, steps } = closingRun(id, 4)
        const store = yield* SnapshotStore
        const entries = entriesByStep(initial, steps)
        const firstClose = entries.findIndex((e) => e.length > 0)
        const upToFirst = entries.slice(0, firstClose + 1).flat()
        yield* store.save(metadataFor(steps[firstClose]!.state, 1), steps[firstClose]!.state, upToFirst)
        // Its outcome unknown to the writer, the next snapshot carries those closes again with the rest.
        const last = steps.at(-1)!.state
        yield* store.save(metadataFor(last, 2), last, entries.flat())
        const found = yield* standing(id)
        assert.deepStrictEqual(found.map((f) => f.closeNumber), entries.flat().map((e) => e.closeNumber))
      }))

    it.effect("a snapshot the lease refuses appends nothing; an invalid ledger is refused with the snapshot", () =>
      Effect.gen(function*() {
        const id = session("ledger0004")
        const { initial, steps } = closingRun(id, 2)
        const store = yield* SnapshotStore
        const lease = yield* (yield* SessionLease).acquire(id, "contract", "60 seconds")
        const last = steps.at(-1)!.state
        const tail = entriesByStep(initial, steps).flat()
        const fenced = yield* Effect.exit(store.save(metadataFor(last, 1, lease.fencingToken + 1), last, tail))
        assert.isTrue(Exit.isFailure(fenced))
        // Numbered wrong: not the state's newest closes.
        const misnumbered = tail.map((entry) => ({ ...entry, closeNumber: entry.closeNumber + 1 }))
        const refused = yield* Effect.flip(store.save(metadataFor(last, 1, lease.fencingToken), last, misnumbered))
        assert.strictEqual(refused._tag, "StateCodecError")
        assert.include(refused.message, "ledger tail entry")
        // One more close than the state counts.
        const extra = { ...tail.at(-1)!, closeNumber: tail.at(-1)!.closeNumber + 1 }
        const beyond = yield* Effect.flip(store.save(metadataFor(last, 1, lease.fencingToken), last, [...tail, extra]))
        assert.strictEqual(beyond._tag, "StateCodecError")
        assert.deepStrictEqual(yield* standing(id), [])
        assert.deepStrictEqual(yield* store.listSnapshots(id), [])
      }))

    it.effect("a snapshot of an older state (a resume that fell back) supersedes the closes it does not count; its own close of the same number stands instead", () =>
      Effect.gen(function*() {
        const id = session("ledger0005")
        const { initial, steps } = closingRun(id, 4)
        const store = yield* SnapshotStore
        const entries = entriesByStep(initial, steps)
        const secondClose = entries.findIndex((_, i) => entries.slice(0, i + 1).flat().length >= 2)
        const older = steps[secondClose]!.state
        yield* store.save(metadataFor(older, 1), older, entries.slice(0, secondClose + 1).flat())
        const newest = steps.at(-1)!.state
        yield* store.save(metadataFor(newest, 2), newest, entries.slice(secondClose + 1).flat())
        const all = (yield* standing(id)).length
        assert.strictEqual(all, newest.metrics.tradesClosed)
        // The newest snapshot is lost; the session resumes from the older one and trades another way.
        const other = closingRun(id, 1, { from: older, seed: 99 })
        const replaced = entriesByStep(older, other.steps).flat()
        const resumed = other.steps.at(-1)!.state
        yield* store.save(metadataFor(resumed, 3), resumed, replaced)
        const found = yield* standing(id)
        assert.deepStrictEqual(found.map((f) => f.closeNumber), [...Array(resumed.metrics.tradesClosed).keys()].map((i) => i + 1))
        assert.deepStrictEqual(found.slice(older.metrics.tradesClosed).map((f) => f.entry.trade), replaced.map((e) => e.trade))
        const summary = yield* (yield* TradeLedger).summary(id)
        assert.closeTo(summary.realizedPnlUsd, resumed.metrics.totalPnlUsd, 1e-9 * Math.max(1, Math.abs(resumed.metrics.totalPnlUsd)))
        // A snapshot of the older state once more, closing nothing: every close above it is superseded.
        yield* store.save(metadataFor(older, 4), older, [])
        assert.strictEqual((yield* standing(id)).length, older.metrics.tradesClosed)
      }))

    it.effect("snapshot retention never removes a ledger entry", () =>
      Effect.gen(function*() {
        const id = session("ledger0006")
        const { initial, steps } = closingRun(id, 5)
        yield* saveEvery(initial, steps, 3)
        const before = yield* standing(id)
        yield* (yield* SnapshotStore).cleanup({ olderThanDays: 0, keepLatest: 1 })
        assert.strictEqual((yield* (yield* SnapshotStore).listSnapshots(id)).length, 1)
        assert.deepStrictEqual(yield* standing(id), before)
      }))

    it.effect("the ledger's own retention: a dry run says what goes and removes nothing; the cut removes it and records it in the session's events", () =>
      Effect.gen(function*() {
        const id = session("ledger0007")
        const { initial, steps } = closingRun(id, 3)
        yield* saveEvery(initial, steps, 1)
        const ledger = yield* TradeLedger
        const count = steps.at(-1)!.state.metrics.tradesClosed
        const kept = yield* ledger.cleanup({ olderThanDays: 30 })
        assert.isFalse(kept.some((cut) => cut.sessionId === id))
        const plan = (yield* ledger.cleanup({ olderThanDays: 0, dryRun: true })).find((cut) => cut.sessionId === id)
        assert.deepStrictEqual(plan, { sessionId: id, removed: count, oldestClose: 1, newestClose: count })
        assert.strictEqual((yield* standing(id)).length, count)
        const cut = (yield* ledger.cleanup({ olderThanDays: 0 })).find((c) => c.sessionId === id)
        assert.deepStrictEqual(cut, plan)
        assert.deepStrictEqual(yield* standing(id), [])
        const events = (yield* (yield* SessionEvents).list(id)).filter((e) => e.kind === "ledger_cut")
        assert.deepStrictEqual(events.map((e) => e.detail), [{ removed: count, oldestClose: 1, newestClose: count, olderThanDays: 0 }])
        const refused = yield* Effect.flip(ledger.cleanup({ olderThanDays: -1 }))
        assert.strictEqual(refused._tag, "StoreError")
      }))

    it.effect("a damaged entry reads as invalid (its checksum), and the summary counts it apart", () =>
      Effect.gen(function*() {
        const id = session("ledger0008")
        const { initial, steps } = closingRun(id, 3)
        yield* saveEvery(initial, steps, 100)
        const [first] = yield* standing(id)
        yield* (yield* RawSnapshots).setLedgerEntry(id, 1, { ...first!.entry.trade, version: 1, realizedPnlUsd: 1_000_000 })
        const reads = yield* (yield* TradeLedger).list(id)
        assert.isTrue(Result.isFailure(reads[0]!.result))
        assert.include(Result.isFailure(reads[0]!.result) ? reads[0]!.result.failure.message : "", "fails its checksum")
        const summary = yield* (yield* TradeLedger).summary(id)
        assert.strictEqual(summary.invalid, 1)
        assert.strictEqual(summary.entries, steps.at(-1)!.state.metrics.tradesClosed - 1)
      }))
  })
}
