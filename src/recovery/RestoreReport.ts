/**
 * RestoreReport: what a restore found, what it chose, and why it passed over
 * everything else.
 *
 * @module
 */
import { encodeLedgerTail, type LedgerEntry } from "../domain/ClosedTrade.ts"
import type { EngineState } from "../domain/EngineState.ts"
import type { SessionId } from "../domain/Ids.ts"
import { encodeEngineState } from "../domain/StateCodec.ts"
import { Result } from "effect"

/** Where a candidate state came from. */
export type CandidateSource = "live" | "snapshot"

/** A candidate that was not used, and why. */
export interface SkippedCandidate {
  readonly source: CandidateSource
  /** The snapshot's id (`null` for the live tier). */
  readonly snapshotId: number | null
  /** The snapshot's sequence number (`null` for the live tier). */
  readonly sequence: number | null
  /**
   * `invalid` (damaged, unknown version, broken invariant), `stale` (valid, but its writer's fencing
   * token shows it lost the session, or one the lease never granted), `superseded` (valid but
   * older), `unreachable`.
   */
  readonly kind: "invalid" | "stale" | "superseded" | "unreachable"
  readonly reason: string
}

/** How much of the durable tier a restore read. */
export interface ScanAccount {
  /** Snapshots read, newest first. */
  readonly snapshots: number
  /** Bytes of their stored sections. */
  readonly bytes: number
  /** Why older snapshots were left unread without a valid one found (`null`: none left, or one was found). */
  readonly olderUnread: "depth" | "budget" | null
}

/**
 * - `restored`: a valid state was found and `state` holds it.
 * - `fresh`: the session has no state in any tier (every tier answered).
 * - `unrecoverable`: state exists but none of it is valid; `skipped` says why each failed. Or some of
 *   it is under a key this process does not hold (`keyMissing`): nothing older is restored past it.
 */
export type RestoreOutcome = "restored" | "fresh" | "unrecoverable"

/** What every report says, whatever its outcome. */
interface ReportBase {
  readonly sessionId: SessionId
  /** The live tier could not be read: the restore used the durable tier alone. */
  readonly liveTierDegraded: boolean
  /** Every candidate passed over, and why. */
  readonly skipped: ReadonlyArray<SkippedCandidate>
  /** What was read of the durable tier. */
  readonly scanned: ScanAccount
}

/** A valid state, and where it came from. */
export interface Restored extends ReportBase {
  readonly outcome: "restored"
  readonly source: CandidateSource
  /** The snapshot's id and sequence (`null` when the state came from the live tier). */
  readonly snapshotId: number | null
  readonly sequence: number | null
  /** Loop count of the restored state. */
  readonly loopCount: number
  readonly state: EngineState
  /**
   * The state's newest closes that are not yet in the durable trade ledger (only a state from the
   * live tier can have any): the session appends them with its next snapshot.
   */
  readonly ledgerTail: ReadonlyArray<LedgerEntry>
}

/** No state in any tier. */
export interface Fresh extends ReportBase {
  readonly outcome: "fresh"
}

/** State exists, none of it valid; or some of it is under a key this process does not hold (`keyMissing`). */
export interface Unrecoverable extends ReportBase {
  readonly outcome: "unrecoverable"
  /**
   * The key a candidate is sealed or encrypted under that this process does not hold: the state is
   * not damaged, the process lacks its key, and falling back past it would lose what it holds.
   */
  readonly keyMissing?: string
}

/** The result of a restore, by its outcome. A restore never returns state that failed validation. */
export type RestoreReport = Restored | Fresh | Unrecoverable

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`

/** What was left unread, and how to read it: a restore that gave up early says so. */
const unreadHint = (scanned: ScanAccount): string =>
  scanned.olderUnread === null
    ? ""
    : `; older snapshots were not read (${scanned.snapshots} read, ${mib(scanned.bytes)}, ${
      scanned.olderUnread === "depth" ? "the depth asked for" : "the scan budget"
    }): look further with a larger --scan-budget-mb${scanned.olderUnread === "depth" ? " or --depth" : ""}`

/** How many passed-over candidates a one-line account names. */
const describedSkips = 3

/** A one-line account of a report, for logs and terminals. */
export const describeReport = (report: RestoreReport): string => {
  const skipped = report.skipped.filter((s) => s.kind !== "superseded")
  // A line, not a page: a deep look-back can pass over thousands of snapshots (the JSON report lists them all).
  const shown = skipped.slice(0, describedSkips)
  const more = skipped.length > shown.length ? ` and ${skipped.length - shown.length} more` : ""
  const why = skipped.length === 0
    ? ""
    : `; skipped ${shown.map((s) => `${s.source}${s.sequence === null ? "" : ` #${s.sequence}`} (${s.reason})`).join(", ")}${more}`
  switch (report.outcome) {
    case "fresh":
      return `${report.sessionId}: no state anywhere (fresh)`
    case "unrecoverable":
      return report.keyMissing !== undefined
        ? `${report.sessionId}: not restored: its state is sealed or encrypted under key ${report.keyMissing}, which this process does not hold; set STATE_KEYS (or STATE_KEYS_FILE) as its runners have it${why}`
        : `${report.sessionId}: no valid state${why}${unreadHint(report.scanned)}`
    case "restored":
      return `${report.sessionId}: restored loop ${report.loopCount} from ${
        report.source === "live" ? "the live tier" : `snapshot #${report.sequence} (id ${report.snapshotId})`
      }${why}`
  }
}

/**
 * The report as plain JSON: the same fields for every outcome (`source`, `snapshotId`, `sequence`,
 * `loopCount`, `state` and `ledgerTail` are `null` when nothing was restored), the state and the
 * ledger tail in their stored, versioned forms (the tail `null` when it is empty).
 */
export const reportToJson = (report: RestoreReport) =>
  report.outcome === "restored"
    ? {
      ...report,
      state: Result.getOrNull(encodeEngineState(report.state)),
      ledgerTail: report.ledgerTail.length === 0 ? null : Result.getOrNull(encodeLedgerTail(report.ledgerTail, report.state.metrics.tradesClosed))
    }
    : { ...report, source: null, snapshotId: null, sequence: null, loopCount: null, state: null, ledgerTail: null }
