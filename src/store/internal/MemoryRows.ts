/**
 * MemoryRows: what the memory backings of the durable tier share, so that
 * memory behaves as PostgreSQL does: the fencing rule of the leases, events
 * recorded as a database would give them back, and ledger entries appended
 * with a snapshot. Internal: the memory backings use it.
 */
import type { NewLedgerRow } from "./SnapshotRows.ts"
import type { MemoryEvents, RecordedEvent } from "../SessionEvents.ts"
import type { MemoryLeases } from "../SessionLease.ts"
import type { LedgerRow, MemoryLedger } from "../TradeLedger.ts"

/** Whether a write carrying `token` may go through the memory leases (the rule PostgreSQL enforces). */
export const memoryWriteAllowed = (leases: MemoryLeases, sessionId: string, token: number, now: number): boolean => {
  const lease = leases.get(sessionId)
  return lease === undefined || (lease.fencingToken === token && lease.expiresAt > now)
}

/** Appends `event` to the memory events of `sessionId`, kept as JSON would come back from a database. */
export const appendMemoryEvent = (events: MemoryEvents, sessionId: string, event: RecordedEvent): void => {
  events.set(sessionId, [...(events.get(sessionId) ?? []), JSON.parse(JSON.stringify(event))])
}

/**
 * Appends what a snapshot of `sessionId` carries to the memory ledger, as PostgreSQL's snapshot
 * statement does: entries above `standingUpTo` that are not among the new rows are superseded; a new
 * row already stored (the same entry) stands again and is not stored twice.
 */
export const appendMemoryLedger = (
  ledger: MemoryLedger,
  sessionId: string,
  append: { readonly rows: ReadonlyArray<NewLedgerRow>; readonly standingUpTo: number },
  written: { readonly snapshotSequence: number; readonly fencingToken: number; readonly recordedAt: number }
): void => {
  const same = (row: LedgerRow, entry: NewLedgerRow) => row.closeNumber === entry.closeNumber && row.checksum === entry.checksum
  for (const [i, row] of ledger.entries()) {
    if (row.sessionId !== sessionId || row.supersededAt !== null || row.closeNumber <= append.standingUpTo) continue
    if (!append.rows.some((entry) => same(row, entry))) ledger[i] = { ...row, supersededAt: written.recordedAt }
  }
  let nextId = ledger.reduce((max, row) => Math.max(max, row.entryId), 0) + 1
  for (const entry of append.rows) {
    const stored = ledger.findIndex((row) => row.sessionId === sessionId && same(row, entry))
    if (stored >= 0) {
      ledger[stored] = { ...ledger[stored]!, supersededAt: null }
      continue
    }
    ledger.push({ ...JSON.parse(JSON.stringify(entry)), entryId: nextId++, sessionId, ...written, supersededAt: null })
  }
}

