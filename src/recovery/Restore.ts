/**
 * Restore: finds the freshest valid state of a session.
 *
 * Candidates: the live state (Redis, with its ledger tail: the closes it
 * counts that no snapshot has appended to the trade ledger yet), then the
 * snapshots newest first, down
 * to the first valid one, however deep, within a read budget (1 GiB of
 * stored sections by default; a `depth` can cap the count). Each is verified
 * by the stores' codecs: checksum, Schema decode, version upgrade,
 * invariants. The freshest valid candidate wins, by loop count (a tie goes
 * to the snapshot, whose checksum vouches for it), whichever tier it came
 * from.
 *
 * The live state must also prove its writer: it carries the fencing token it
 * was written with, and it is passed over (`stale`) when that token is one
 * the session's lease never granted (above the lease's newest, or written
 * without a token while a lease exists), or is older than the token of the
 * newest valid snapshot (its writer had lost the session). So a runner that
 * lost its session cannot win a restore through the live tier, even if the
 * live tier forgot its fence.
 *
 * Only the fresher candidate is decoded when both can be placed without it:
 * the live state by its session section, the newest snapshot by its sealed
 * header (its metadata, loop count and payload checksum under a checksum of
 * their own). The other is reported superseded, "not decoded". Whenever the
 * fresher does not verify, a header does not hold (or a row has none), or
 * the live state is the fresher but its writer's token is not above doubt
 * against the header's, or an older snapshot (by its columns, read without
 * its sections; any without a sealed header counts as unknown) is at its
 * loop or after, or has a later token, every candidate is decoded and the
 * rules above decide. A state that was not verified is never returned.
 *
 * Bad data never fails the restore and is never returned: it is skipped and
 * named in the report. A durable tier that cannot be reached is a typed
 * error, never "no state". A live tier that cannot be reached is reported
 * and the durable tier decides alone, unless nothing durable exists, in
 * which case the restore cannot tell "fresh" from "unreadable" and fails.
 *
 * @module
 */
import { Effect, Option, Result, Schema } from "effect"
import * as CustomSection from "../domain/CustomSection.ts"
import type { LedgerEntry } from "../domain/ClosedTrade.ts"
import type { EngineState } from "../domain/EngineState.ts"
import type { SessionId } from "../domain/Ids.ts"
import * as Metrics from "../observability/PersistenceMetrics.ts"
import { type LiveRead, LiveStateStore, type LiveState } from "../store/LiveStateStore.ts"
import { type Lease, SessionLease } from "../store/SessionLease.ts"
import { type OlderCeiling, type SnapshotHeader, SnapshotStore, type SnapshotRead } from "../store/SnapshotStore.ts"
import type { StoreError } from "../store/StoreError.ts"
import { keyNotHeldIn } from "../store/StateProtection.ts"
import type { RestoreReport, SkippedCandidate } from "./RestoreReport.ts"

/** The restore could not decide: a store it needs did not answer. */
export class RestoreError extends Schema.TaggedError<RestoreError>()("RestoreError", {
  sessionId: Schema.String,
  message: Schema.String,
  storeError: Schema.Defect()
}) {}

/** How far back a restore looks. */
export interface RestoreOptions {
  /** At most this many snapshots are read, newest first (default: as many as the budget allows). */
  readonly depth?: number
  /** At most this many bytes of stored snapshot sections are read looking for a valid one (default 1 GiB). */
  readonly scanBudgetBytes?: number
  /**
   * The runner's own sections: each one a candidate holds is verified by its Schema and upgraded to
   * its current version; a candidate whose section is refused is passed over as invalid.
   */
  readonly sections?: ReadonlyArray<CustomSection.DeclaredSection>
}

/** The read budget of a restore unless told otherwise: 1 GiB of stored sections. */
export const defaultScanBudgetBytes = 1024 * 1024 * 1024

/** The most one page of older snapshots may hold, by the sizes seen so far. */
const maxPageBytes = 64 * 1024 * 1024

interface Candidate {
  readonly source: "live" | "snapshot"
  readonly snapshotId: number | null
  readonly sequence: number | null
  readonly fencingToken: number | null
  readonly state: EngineState
  readonly ledgerTail: ReadonlyArray<LedgerEntry>
}

const skippedSnapshot = (read: SnapshotRead, kind: SkippedCandidate["kind"], reason: string): SkippedCandidate => ({
  source: "snapshot",
  snapshotId: read.snapshotId,
  sequence: read.sequence,
  kind,
  reason
})

/**
 * Why the live state cannot be trusted against the lease and the newest valid snapshot, if it
 * cannot: its writer's token must be one the lease granted, and not older than the snapshot's.
 */
const staleLiveReason = (
  token: number | null,
  lease: Option.Option<Lease>,
  snapshot: { readonly sequence: number | null; readonly fencingToken: number | null } | undefined
): string | undefined => {
  if (Option.isSome(lease)) {
    const granted = lease.value.fencingToken
    if (token === null) return `written without a recorded fencing token, while the session has a lease (token ${granted})`
    if (token < 1 || token > granted) return `written with token ${token}, which the lease never granted (its newest is ${granted})`
  }
  if (token !== null && snapshot?.fencingToken !== null && snapshot !== undefined && token < snapshot.fencingToken) {
    return `written with token ${token}, older than token ${snapshot.fencingToken} of snapshot #${snapshot.sequence}: its writer had lost the session`
  }
  return undefined
}

/** A snapshot read, verified and decoded with the runner's own sections: a candidate, or why it is not one. */
const openSnapshot = (read: SnapshotRead, sections: ReadonlyArray<CustomSection.DeclaredSection>): Result.Result<Candidate, string> => {
  if (Result.isFailure(read.result)) return Result.fail(read.result.failure.message)
  const { fencingToken, state } = read.result.success
  const verified = CustomSection.verify(state, sections)
  if (Result.isFailure(verified)) return Result.fail(verified.failure.message)
  return Result.succeed({ source: "snapshot", snapshotId: read.snapshotId, sequence: read.sequence, fencingToken, state: verified.success, ledgerTail: [] })
}

/** The live state read, decoded and verified with the runner's own sections, or why it is not valid. */
const openLive = (read: LiveRead, sections: ReadonlyArray<CustomSection.DeclaredSection>): Result.Result<LiveState, string> => {
  const opened = read.open()
  if (Result.isFailure(opened)) return Result.fail(opened.failure.message)
  const verified = CustomSection.verify(opened.success.state, sections)
  if (Result.isFailure(verified)) return Result.fail(verified.failure.message)
  return Result.succeed({ ...opened.success, state: verified.success, fencingToken: read.fencingToken })
}

const liveCandidateOf = (live: LiveState): Candidate => ({
  source: "live",
  snapshotId: null,
  sequence: null,
  fencingToken: live.fencingToken,
  state: live.state,
  ledgerTail: live.ledgerTail
})

/** The report of a restore that chose `chosen`, having passed over `skipped`. */
const restoredReport = (
  sessionId: SessionId,
  chosen: Candidate,
  rest: { readonly liveTierDegraded: boolean; readonly skipped: ReadonlyArray<SkippedCandidate>; readonly scanned: RestoreReport["scanned"] }
): RestoreReport => ({
  sessionId,
  outcome: "restored",
  source: chosen.source,
  snapshotId: chosen.snapshotId,
  sequence: chosen.sequence,
  loopCount: chosen.state.session.loopCount,
  ...rest,
  state: chosen.state,
  ledgerTail: chosen.ledgerTail
})

/** The highest loop count and writer's token of the snapshots older than the newest. */
interface OlderBound {
  readonly loopCount: number
  readonly fencingToken: number
}

/**
 * The bound of the snapshots older than the newest (`newestSequence`) that a restore would read,
 * by their columns; `undefined` when a row written meanwhile moved the newest, or one of them has
 * no sealed header (a row from before headers, whose columns a restore never trusts).
 */
const olderBoundOf = (ceiling: OlderCeiling, newestSequence: number): OlderBound | undefined =>
  ceiling.newestSequence !== newestSequence || ceiling.unsealed > 0
    ? undefined
    : { loopCount: ceiling.loopCount ?? Number.NEGATIVE_INFINITY, fencingToken: ceiling.fencingToken ?? Number.NEGATIVE_INFINITY }

/**
 * The restore decided by the two candidates' loop counts, known without decoding either: the
 * fresher (a tie goes to the snapshot) is decoded and, when it verifies, chosen; the other is
 * passed over undecoded. `undefined` when this cannot decide: the fresher does not verify (or does
 * not hold the loop count its header said), or the live state is the fresher but its writer's
 * token is not one it can be trusted with against the lease and this snapshot's header, or an
 * older snapshot (`older`, by its header) is at its loop or after, or was written with a later
 * token (the whole restore then decides against the newest valid snapshot, as it always has).
 */
const headerFirst = (
  sessionId: SessionId,
  live: LiveRead,
  liveLoop: number,
  newest: SnapshotRead,
  header: SnapshotHeader,
  older: OlderBound | undefined,
  lease: Option.Option<Lease>,
  sections: ReadonlyArray<CustomSection.DeclaredSection>
): RestoreReport | undefined => {
  const scanned = { snapshots: 1, bytes: newest.bytes, olderUnread: null }
  const stale = staleLiveReason(live.fencingToken, lease, header)
  if (header.loopCount >= liveLoop) {
    const opened = openSnapshot(newest, sections)
    if (Result.isFailure(opened) || opened.success.state.session.loopCount !== header.loopCount) return undefined
    const passedOver: SkippedCandidate = stale === undefined
      ? { source: "live", snapshotId: null, sequence: null, kind: "superseded", reason: `at loop ${liveLoop} (by its session section; not decoded), not after loop ${header.loopCount}` }
      : { source: "live", snapshotId: null, sequence: null, kind: "stale", reason: stale }
    return restoredReport(sessionId, opened.success, { liveTierDegraded: false, skipped: [passedOver], scanned })
  }
  if (stale !== undefined) return undefined
  // Only the newest snapshot's header was read: were it damaged within, the whole way would weigh
  // the live state against an older snapshot, which might be the fresher (a history a resume fell
  // back from) or have a later writer. So the live state wins here only when no older one can.
  if (older === undefined || older.loopCount >= liveLoop) return undefined
  if (live.fencingToken !== null && older.fencingToken > live.fencingToken) return undefined
  const opened = openLive(live, sections)
  if (Result.isFailure(opened) || opened.success.state.session.loopCount !== liveLoop) return undefined
  return restoredReport(sessionId, liveCandidateOf(opened.success), {
    liveTierDegraded: false,
    skipped: [{
      source: "snapshot",
      snapshotId: newest.snapshotId,
      sequence: newest.sequence,
      kind: "superseded",
      reason: `at loop ${header.loopCount} (by its sealed header; not decoded), not after loop ${liveLoop}`
    }],
    scanned
  })
}

/** Restores `sessionId` without writing anything; see the module header for the rules. */
export const run = Effect.fn("Restore.run")(function*(sessionId: SessionId, options: RestoreOptions = {}) {
  const report = lockedOut(yield* choose(sessionId, options))
  yield* Metrics.count(Metrics.restores, 1, { outcome: report.outcome, source: report.outcome === "restored" ? report.source : "none" })
  for (const skipped of report.skipped) {
    yield* Metrics.count(Metrics.skippedCandidates, 1, { source: skipped.source, kind: skipped.kind })
  }
  return report
})

/**
 * The report, refused when a candidate passed over is under a key this process does not hold (a
 * runner started without STATE_KEYS, or with an old key removed too soon): that state is not
 * damaged, and restoring something older past it would lose it (and what is written after it would
 * be refused once the keys are back).
 */
const lockedOut = (report: RestoreReport): RestoreReport => {
  const keyMissing = report.skipped.map((skipped) => skipped.kind === "invalid" ? keyNotHeldIn(skipped.reason) : undefined).find((id) => id !== undefined)
  if (keyMissing === undefined || report.outcome === "fresh") return report
  const { liveTierDegraded, scanned, sessionId, skipped } = report
  return { sessionId, outcome: "unrecoverable", keyMissing, liveTierDegraded, skipped, scanned }
}

const choose = Effect.fnUntraced(function*(sessionId: SessionId, options: RestoreOptions) {
  const liveStore = yield* LiveStateStore
  const snapshots = yield* SnapshotStore
  const leases = yield* SessionLease
  const depth = options.depth ?? Number.POSITIVE_INFINITY
  const budget = options.scanBudgetBytes ?? defaultScanBudgetBytes
  const sections = options.sections ?? []
  const skipped: Array<SkippedCandidate> = []

  const unreachable = (error: StoreError) =>
    new RestoreError({ sessionId, message: `cannot restore ${sessionId}: ${error.message}`, storeError: error })

  // The live tier: a state, nothing, damaged data, or no answer.
  let liveFound: LiveRead | undefined
  let liveTierDegraded = false
  // Both tiers and the lease are read at once: their I/O overlaps. Nothing is decoded yet.
  const [liveRead, newest, lease] = yield* Effect.all([
    Effect.result(liveStore.read(sessionId)).pipe(Effect.withSpan("Restore.liveCandidate")),
    snapshots.loadRecent(sessionId, { limit: Math.min(1, depth) }).pipe(
      Effect.mapError(unreachable),
      Effect.withSpan("Restore.newestSnapshot")
    ),
    leases.current(sessionId).pipe(Effect.mapError(unreachable))
  ], { concurrency: 3 })
  if (Result.isSuccess(liveRead)) {
    if (Option.isSome(liveRead.success)) liveFound = liveRead.success.value
  } else if (liveRead.failure.reason._tag === "Unreadable") {
    skipped.push({ source: "live", snapshotId: null, sequence: null, kind: "invalid", reason: liveRead.failure.message })
  } else {
    liveTierDegraded = true
    skipped.push({ source: "live", snapshotId: null, sequence: null, kind: "unreachable", reason: liveRead.failure.message })
  }

  // Header first: when the live state's loop count (its session section) and the newest snapshot's
  // (its sealed header) are both known, only the fresher is decoded, and the other is reported
  // superseded without being decoded. Whenever the fresher does not verify, or the live state's
  // writer might have lost the session, everything is decided the whole way below.
  const newestRead = newest[0]
  if (liveFound !== undefined && liveFound.loopCount !== undefined && newestRead?.header !== undefined && budget > 0) {
    // Only when the live state is the fresher does it matter what the older snapshots hold: one more
    // read, of their columns alone.
    const older = liveFound.loopCount > newestRead.header.loopCount
      ? olderBoundOf(yield* snapshots.olderCeiling(sessionId, depth - 1).pipe(Effect.mapError(unreachable)), newestRead.sequence)
      : undefined
    const decided = headerFirst(sessionId, liveFound, liveFound.loopCount, newestRead, newestRead.header, older, lease, sections)
    if (decided !== undefined) return { ...decided, liveTierDegraded, skipped: [...skipped, ...decided.skipped] }
  }

  let live: LiveState | undefined
  if (liveFound !== undefined) {
    const opened = openLive(liveFound, sections)
    if (Result.isSuccess(opened)) live = opened.success
    else skipped.push({ source: "live", snapshotId: null, sequence: null, kind: "invalid", reason: opened.failure })
  }

  // The durable tier: newest first, down to the first valid snapshot. The newest is read alone (it
  // is almost always valid, and a snapshot can be large); older ones in growing pages after it,
  // until one is valid, the depth is reached, or the budget is spent. A page never holds more than
  // a quarter of the budget (64 MiB at most) by the sizes seen so far: large snapshots are read one
  // at a time, so that what is held at once stays bounded, whatever a damaged history holds.
  let snapshotCandidate: Candidate | undefined
  let readCount = 0
  let bytesRead = 0
  let pageSize = 1
  let olderUnread: "depth" | "budget" | null = null
  let beforeSequence: number | undefined
  while (snapshotCandidate === undefined) {
    if (readCount >= depth) {
      olderUnread = "depth"
      break
    }
    if (bytesRead >= budget) {
      olderUnread = "budget"
      break
    }
    const limit = Math.min(pageSize, depth - readCount)
    const reads = readCount === 0
      ? newest
      : yield* snapshots.loadRecent(sessionId, { limit, ...(beforeSequence === undefined ? {} : { beforeSequence }) }).pipe(
        Effect.mapError(unreachable),
        Effect.withSpan("Restore.olderSnapshots")
      )
    for (const read of reads) {
      readCount++
      bytesRead += read.bytes
      beforeSequence = read.sequence
      const opened = openSnapshot(read, sections)
      if (Result.isFailure(opened)) {
        skipped.push(skippedSnapshot(read, "invalid", opened.failure))
        continue
      }
      snapshotCandidate = opened.success
      break
    }
    if (reads.length < limit) break
    const averageBytes = Math.max(1, bytesRead / readCount)
    const pageBytes = Math.min(maxPageBytes, budget / 4, budget - bytesRead)
    pageSize = Math.max(1, Math.min(pageSize * 4, 256, Math.floor(pageBytes / averageBytes)))
  }
  if (snapshotCandidate !== undefined) olderUnread = null

  let liveCandidate: Candidate | undefined
  if (live !== undefined) {
    const stale = staleLiveReason(live.fencingToken, lease, snapshotCandidate)
    if (stale === undefined) {
      liveCandidate = liveCandidateOf(live)
    } else {
      skipped.push({ source: "live", snapshotId: null, sequence: null, kind: "stale", reason: stale })
    }
  }
  const scanned = { snapshots: readCount, bytes: bytesRead, olderUnread }

  const candidates = [snapshotCandidate, liveCandidate].filter((c): c is Candidate => c !== undefined)
  if (candidates.length === 0) {
    const anythingStored = readCount > 0 || skipped.some((s) => s.kind === "invalid" || s.kind === "stale")
    if (!anythingStored && liveTierDegraded) {
      return yield* new RestoreError({
        sessionId,
        message: `cannot restore ${sessionId}: the live tier did not answer and no snapshot exists, so "no state" cannot be told apart from "state not reachable"`,
        storeError: null
      })
    }
    const nothing: RestoreReport = { sessionId, outcome: anythingStored ? "unrecoverable" : "fresh", liveTierDegraded, skipped, scanned }
    return nothing
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
  return restoredReport(sessionId, chosen, { liveTierDegraded, skipped, scanned })
})
