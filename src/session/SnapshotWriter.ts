/**
 * SnapshotWriter: a session's durable snapshots, in sequence.
 *
 * A snapshot's sequence is taken before it is sent: whatever becomes of the
 * write (a lost reply, an interruption while the statement is in flight),
 * nothing else is ever written under that sequence. A snapshot that opened a
 * trade is "in doubt" from the moment it is sent until its outcome is known;
 * writing the same snapshot again (the store's save is idempotent) tells
 * which, once the durable tier answers: either it was committed, or the
 * retry commits it. Each snapshot carries the ledger entries its state counts
 * and the ledger does not hold yet (the session's ledger tail), appended by
 * the same write.
 */
import { Clock, Duration, Effect, Option, Ref, Result } from "effect"
import type { LedgerEntry } from "../domain/ClosedTrade.ts"
import type { EngineState } from "../domain/EngineState.ts"
import type { SessionId } from "../domain/Ids.ts"
import type { SnapshotType } from "../domain/Snapshot.ts"
import type { StateCodecError } from "../domain/StateCodecError.ts"
import * as Metrics from "../observability/PersistenceMetrics.ts"
import type { LeaseError } from "../store/SessionLease.ts"
import { SnapshotStore, type SnapshotSummary, type SnapshotToSave } from "../store/SnapshotStore.ts"
import { StoreError } from "../store/StoreError.ts"
import type { LeaseKeeper } from "./LeaseKeeper.ts"

/** A snapshot that opened a trade, sent, whose outcome is not known yet (with the ledger entries it carried). */
export interface Unsettled {
  readonly metadata: SnapshotToSave
  readonly state: EngineState
  readonly ledger: ReadonlyArray<LedgerEntry>
}

/** A write that may have been committed, its reply lost. */
export const isOutcomeUnknown = (error: StoreError | StateCodecError): boolean =>
  error._tag === "StoreError" && error.reason._tag === "OutcomeUnknown"

/** The store did not answer (the write did not happen, or its outcome is unknown): worth trying again later. */
export const isStoreAway = (error: StoreError | StateCodecError): boolean =>
  error._tag === "StoreError" && (error.reason._tag === "Unreachable" || error.reason._tag === "OutcomeUnknown")

/** The reason tag of a failed write, for the failure metric. */
export const failureReason = (error: StoreError | StateCodecError): string => error.reason._tag

/** A session's snapshot writer. */
export interface SnapshotWriter {
  /** The metadata of the next snapshot: one above every sequence written or possibly written. */
  readonly next: (snapshotType: SnapshotType) => Effect.Effect<SnapshotToSave>
  /** Writes one snapshot (or the same one again), appending `ledger` to the trade ledger with it. */
  readonly commit: (
    metadata: SnapshotToSave,
    state: EngineState,
    ledger: ReadonlyArray<LedgerEntry>
  ) => Effect.Effect<SnapshotSummary, StoreError | StateCodecError>
  /**
   * Writes one snapshot until the durable tier answers, confirming the lease before each attempt,
   * for at most `budgetMs` (forever when `undefined`).
   */
  readonly commitPatiently: (
    metadata: SnapshotToSave,
    state: EngineState,
    ledger: ReadonlyArray<LedgerEntry>,
    budgetMs?: number
  ) => Effect.Effect<SnapshotSummary, StoreError | StateCodecError | LeaseError>
  /** The most recent snapshot this session wrote (or found at its start). */
  readonly last: Effect.Effect<Option.Option<SnapshotSummary>>
  /** When the most recent snapshot was taken (its `createdAt`; the start, before the first). */
  readonly lastAt: Effect.Effect<number>
  /** The trade snapshot in doubt, if any. */
  readonly unsettled: Ref.Ref<Option.Option<Unsettled>>
}

/** The writer of `sessionId`'s snapshots under `token`, continuing its sequence. */
export const make = Effect.fnUntraced(function*(sessionId: SessionId, token: number, keeper: LeaseKeeper) {
  const snapshots = yield* SnapshotStore
  /** The highest sequence written, or possibly written (a write that was sent, whatever became of it). */
  const sequence = yield* Ref.make(yield* snapshots.highestSequence(sessionId))
  const latest = yield* snapshots.listSnapshots(sessionId, 1)
  const last = yield* Ref.make<Option.Option<SnapshotSummary>>(Option.fromNullishOr(latest[0]))
  const lastAt = yield* Ref.make(yield* Clock.currentTimeMillis)
  const unsettled = yield* Ref.make(Option.none<Unsettled>())

  const next = (snapshotType: SnapshotType) =>
    Effect.gen(function*() {
      return {
        sessionId,
        snapshotType,
        sequence: (yield* Ref.get(sequence)) + 1,
        fencingToken: token,
        createdAt: yield* Clock.currentTimeMillis
      } satisfies SnapshotToSave
    })

  const commit = Effect.fnUntraced(function*(metadata: SnapshotToSave, state: EngineState, ledger: ReadonlyArray<LedgerEntry>) {
    yield* Ref.update(sequence, (n) => Math.max(n, metadata.sequence))
    const [took, written] = yield* Effect.timed(Effect.result(snapshots.save(metadata, state, ledger)))
    if (written._tag === "Failure") {
      yield* Metrics.recordFailure("durable", failureReason(written.failure))
      return yield* written.failure
    }
    const summary = written.success
    yield* Metrics.recordDuration(Metrics.snapshotDuration, Duration.toMillis(took))
    if (summary.payloadBytes !== undefined) yield* Metrics.count(Metrics.bytesWritten, summary.payloadBytes, { tier: "durable" })
    yield* Ref.set(last, Option.some(summary))
    yield* Ref.set(lastAt, metadata.createdAt)
    return summary
  })

  const commitPatiently = Effect.fnUntraced(function*(
    metadata: SnapshotToSave,
    state: EngineState,
    ledger: ReadonlyArray<LedgerEntry>,
    budgetMs?: number
  ) {
    const deadline = budgetMs === undefined ? Number.POSITIVE_INFINITY : (yield* Clock.currentTimeMillis) + budgetMs
    let backoffMs = 100
    while (true) {
      const standing = yield* keeper.confirm
      if (standing === "lost") return yield* keeper.lose(`lost before snapshot #${metadata.sequence} was known to be written`)
      const written = standing === "confirmed"
        ? yield* Effect.result(commit(metadata, state, ledger))
        : Result.fail(StoreError.unreachable(snapshots.kind, `the lease of ${sessionId} could not be confirmed`))
      if (Result.isSuccess(written)) return written.success
      if (!isStoreAway(written.failure)) return yield* written.failure
      if ((yield* Clock.currentTimeMillis) + backoffMs > deadline) return yield* written.failure
      yield* Effect.sleep(Duration.millis(backoffMs))
      backoffMs = Math.min(backoffMs * 2, 5_000)
    }
  })

  return {
    next,
    commit,
    commitPatiently,
    last: Ref.get(last),
    lastAt: Ref.get(lastAt),
    unsettled
  } satisfies SnapshotWriter
})
