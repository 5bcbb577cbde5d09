/**
 * Restore: finds the freshest valid state of a session.
 *
 * Candidates: the live state (Redis), then the snapshots newest first, down
 * to the first valid one (at most `depth` of them). Each is verified by the
 * stores' codecs: checksum, Schema decode, version upgrade, invariants. The
 * freshest valid candidate wins, by loop count (a tie goes to the snapshot,
 * whose checksum vouches for it), whichever tier it came from.
 *
 * Bad data never fails the restore and is never returned: it is skipped and
 * named in the report. A durable tier that cannot be reached is a typed
 * error, never "no state". A live tier that cannot be reached is reported
 * and the durable tier decides alone, unless nothing durable exists, in
 * which case the restore cannot tell "fresh" from "unreadable" and fails.
 */
import { Effect, Option, Result, Schema } from "effect"
import type { EngineState } from "../domain/EngineState.ts"
import type { SessionId } from "../domain/Ids.ts"
import * as Metrics from "../observability/PersistenceMetrics.ts"
import { HotStateStore } from "../store/HotStateStore.ts"
import { SnapshotStore, type SnapshotRead } from "../store/SnapshotStore.ts"
import type { StoreError } from "../store/StoreError.ts"
import type { RestoreReport, SkippedCandidate } from "./RestoreReport.ts"

/** The restore could not decide: a store it needs did not answer. */
export class RestoreError extends Schema.TaggedError<RestoreError>()("RestoreError", {
  sessionId: Schema.String,
  message: Schema.String,
  storeError: Schema.Defect()
}) {}

/** How far back a restore looks. */
export interface RestoreOptions {
  /** At most this many snapshots are read, newest first (default 10). */
  readonly depth?: number
}

interface Candidate {
  readonly source: "hot" | "snapshot"
  readonly snapshotId: number | null
  readonly sequence: number | null
  readonly state: EngineState
}

const skippedSnapshot = (read: SnapshotRead, kind: SkippedCandidate["kind"], reason: string): SkippedCandidate => ({
  source: "snapshot",
  snapshotId: read.snapshotId,
  sequence: read.sequence,
  kind,
  reason
})

/** Restores `sessionId` without writing anything; see the module header for the rules. */
export const run = Effect.fn("Restore.run")(function*(sessionId: SessionId, options: RestoreOptions = {}) {
  const report = yield* choose(sessionId, options)
  yield* Metrics.count(Metrics.restores, 1, { outcome: report.outcome, source: report.source ?? "none" })
  for (const skipped of report.skipped) {
    yield* Metrics.count(Metrics.skippedCandidates, 1, { source: skipped.source, kind: skipped.kind })
  }
  return report
})

const choose = Effect.fnUntraced(function*(sessionId: SessionId, options: RestoreOptions) {
  const hot = yield* HotStateStore
  const snapshots = yield* SnapshotStore
  const depth = options.depth ?? 10
  const skipped: Array<SkippedCandidate> = []

  const unreachable = (error: StoreError) =>
    new RestoreError({ sessionId, message: `cannot restore ${sessionId}: ${error.message}`, storeError: error })

  // The live tier: a state, nothing, damaged data, or no answer.
  let hotCandidate: Candidate | undefined
  let liveTierDegraded = false
  // Both tiers are read at once: their I/O overlaps.
  const [live, newest] = yield* Effect.all([
    Effect.result(hot.load(sessionId)).pipe(Effect.withSpan("Restore.liveCandidate")),
    snapshots.loadRecent(sessionId, { limit: Math.min(1, depth) }).pipe(
      Effect.mapError(unreachable),
      Effect.withSpan("Restore.newestSnapshot")
    )
  ], { concurrency: 2 })
  if (Result.isSuccess(live)) {
    if (Option.isSome(live.success)) {
      hotCandidate = { source: "hot", snapshotId: null, sequence: null, state: live.success.value }
    }
  } else if (live.failure.reason._tag === "Unreadable") {
    skipped.push({ source: "hot", snapshotId: null, sequence: null, kind: "invalid", reason: live.failure.message })
  } else {
    liveTierDegraded = true
    skipped.push({ source: "hot", snapshotId: null, sequence: null, kind: "unreachable", reason: live.failure.message })
  }

  // The durable tier: newest first, down to the first valid snapshot. The newest is read alone (it
  // is almost always valid, and a snapshot can be large); older ones a few at a time after it.
  let snapshotCandidate: Candidate | undefined
  let readCount = 0
  let beforeSequence: number | undefined
  while (snapshotCandidate === undefined && readCount < depth) {
    const limit = Math.min(readCount === 0 ? 1 : 4, depth - readCount)
    const reads = readCount === 0
      ? newest
      : yield* snapshots.loadRecent(sessionId, { limit, ...(beforeSequence === undefined ? {} : { beforeSequence }) }).pipe(
        Effect.mapError(unreachable),
        Effect.withSpan("Restore.olderSnapshots")
      )
    for (const read of reads) {
      readCount++
      beforeSequence = read.sequence
      if (Result.isFailure(read.result)) {
        skipped.push(skippedSnapshot(read, "invalid", read.result.failure.message))
        continue
      }
      snapshotCandidate = { source: "snapshot", snapshotId: read.snapshotId, sequence: read.sequence, state: read.result.success.state }
      break
    }
    if (reads.length < limit) break
  }

  const candidates = [snapshotCandidate, hotCandidate].filter((c): c is Candidate => c !== undefined)
  if (candidates.length === 0) {
    const anythingStored = readCount > 0 || skipped.some((s) => s.kind === "invalid")
    if (!anythingStored && liveTierDegraded) {
      return yield* new RestoreError({
        sessionId,
        message: `cannot restore ${sessionId}: the live tier did not answer and no snapshot exists, so "no state" cannot be told apart from "state not reachable"`,
        storeError: null
      })
    }
    return {
      sessionId,
      outcome: anythingStored ? "unrecoverable" : "fresh",
      source: null,
      snapshotId: null,
      sequence: null,
      loopCount: null,
      liveTierDegraded,
      skipped,
      state: null
    } satisfies RestoreReport
  }

  // The freshest by loop count; on a tie the snapshot (listed first) wins.
  const chosen = candidates.reduce((best, c) => (c.state.session.loopCount > best.state.session.loopCount ? c : best))
  for (const other of candidates) {
    if (other === chosen) continue
    skipped.push({
      source: other.source,
      snapshotId: other.snapshotId,
      sequence: other.sequence,
      kind: "superseded",
      reason: `valid but at loop ${other.state.session.loopCount}, not after loop ${chosen.state.session.loopCount}`
    })
  }
  return {
    sessionId,
    outcome: "restored",
    source: chosen.source,
    snapshotId: chosen.snapshotId,
    sequence: chosen.sequence,
    loopCount: chosen.state.session.loopCount,
    liveTierDegraded,
    skipped,
    state: chosen.state
  } satisfies RestoreReport
})
