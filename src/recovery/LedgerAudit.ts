/**
 * LedgerAudit: a session's trade ledger held against the state that counts
 * its closes.
 *
 * The state's metrics count `tradesClosed` closes and their realized PnL; the
 * ledger holds one entry per close, numbered 1 to `tradesClosed` (the newest
 * ones may still be in the live tier's ledger tail, not yet appended). The
 * audit lists the entries in close order, names every close number it does
 * not find and why (closed before the session had a ledger, removed by the
 * ledger's own retention, or not found), and says whether ledger and metrics
 * agree: every close there, their PnL summing to the metrics'.
 *
 * @module
 */
import { Effect, Result } from "effect"
import { type LedgerEntry, pnlTolerance } from "../domain/ClosedTrade.ts"
import type { EngineState } from "../domain/EngineState.ts"
import type { SessionId } from "../domain/Ids.ts"
import { type RecordedEvent, SessionEvents } from "../store/SessionEvents.ts"
import { type LedgerRead, TradeLedger } from "../store/TradeLedger.ts"

/** One close found: in the durable ledger (when and with which snapshot it was written), or only in the live tier's tail. */
export interface AuditedEntry {
  readonly entry: LedgerEntry
  readonly durable: boolean
  readonly recordedAt: number | null
  readonly snapshotSequence: number | null
}

/** A run of close numbers the ledger does not hold, and why. */
export interface MissingCloses {
  readonly from: number
  readonly to: number
  /**
   * `before_ledger`: closed before the session had a ledger (a session older than it, as its
   * `ledger_began` event says); `retention`: removed by the ledger's own retention (a `ledger_cut`
   * event says so); `not_found`: neither (removed or damaged by hand).
   */
  readonly why: "before_ledger" | "retention" | "not_found"
}

/** What the audit found. */
export interface LedgerAudit {
  readonly sessionId: SessionId
  /** Every close found, numbered 1 to the state's count at most, in close order. */
  readonly entries: ReadonlyArray<AuditedEntry>
  /** Entries that failed their checksum or Schema. */
  readonly invalid: ReadonlyArray<{ readonly closeNumber: number; readonly reason: string }>
  /** Close numbers held by more than one standing entry (only damage makes two). */
  readonly duplicates: ReadonlyArray<number>
  /** What the state counts: closes and their realized PnL. */
  readonly counted: { readonly tradesClosed: number; readonly totalPnlUsd: number; readonly winningTrades: number }
  /** What the entries found sum to, in close order. */
  readonly ledger: { readonly realizedPnlUsd: number; readonly feesUsd: number; readonly winning: number }
  readonly missing: ReadonlyArray<MissingCloses>
  /**
   * Durable entries of a history this state does not count: numbered above its count, or at a
   * number its ledger tail holds with another trade (a resume fell back; its next snapshot marks
   * them superseded).
   */
  readonly abandoned: number
  /** Every close the state counts is found once, valid, nothing abandoned stands, and their PnL sums to the metrics'. */
  readonly agrees: boolean
  /**
   * When the closes the ledger lacks are only those made before the session had a ledger (a session
   * older than it, or one `import-d70` brought), and its `ledger_began` event recorded their PnL:
   * whether everything since agrees (every later close found once and valid, nothing abandoned, and
   * their PnL sums to the metrics' less that PnL). `undefined` otherwise.
   */
  readonly agreesSinceLedger?: { readonly afterClose: number; readonly pnlBeforeUsd: number; readonly agrees: boolean }
}

/** Runs of consecutive numbers. */
const runsOf = (numbers: ReadonlyArray<number>): Array<{ from: number; to: number }> => {
  const runs: Array<{ from: number; to: number }> = []
  for (const n of numbers) {
    const last = runs.at(-1)
    if (last !== undefined && last.to === n - 1) last.to = n
    else runs.push({ from: n, to: n })
  }
  return runs
}

/** The close numbers the session's `ledger_cut` events say retention removed. */
const cutByRetention = (events: ReadonlyArray<RecordedEvent>) => {
  const ranges = events.flatMap((event) => {
    const { newestClose, oldestClose } = event.detail
    return event.kind === "ledger_cut" && typeof oldestClose === "number" && typeof newestClose === "number" ? [{ oldestClose, newestClose }] : []
  })
  return (n: number) => ranges.some((range) => n >= range.oldestClose && n <= range.newestClose)
}

/** The closes a `ledger_began` event says the session made before it had a ledger (0: none), with their PnL when it recorded it. */
const closedBeforeLedger = (events: ReadonlyArray<RecordedEvent>): { readonly afterClose: number; readonly pnlBeforeUsd: number | undefined } => {
  let found: { afterClose: number; pnlBeforeUsd: number | undefined } | undefined
  for (const { detail, kind } of events) {
    if (kind !== "ledger_began" || typeof detail.afterClose !== "number" || (found !== undefined && detail.afterClose <= found.afterClose)) continue
    found = { afterClose: detail.afterClose, pnlBeforeUsd: typeof detail.pnlBeforeUsd === "number" ? detail.pnlBeforeUsd : undefined }
  }
  return found ?? { afterClose: 0, pnlBeforeUsd: undefined }
}

const sameTrade = (a: LedgerEntry, b: LedgerEntry) => JSON.stringify(a.trade) === JSON.stringify(b.trade)

/**
 * The audit of `reads` (the durable ledger, in close order) and `tail` against `state`, whose ledger
 * they are. The tail holds the state's newest closes: at its numbers it is what the state counts,
 * and a durable entry there that differs belongs to a history the state abandoned (as does one
 * numbered above what the state counts).
 */
export const auditOf = (
  state: EngineState,
  tail: ReadonlyArray<LedgerEntry>,
  reads: ReadonlyArray<LedgerRead>,
  events: ReadonlyArray<RecordedEvent>
): LedgerAudit => {
  const counted = state.metrics.tradesClosed
  const tailFrom = counted - tail.length + 1
  const inTail = new Map(tail.map((entry) => [entry.closeNumber, entry]))
  const found = new Map<number, AuditedEntry>()
  const invalid: Array<{ closeNumber: number; reason: string }> = []
  const duplicates = new Set<number>()
  let abandoned = 0
  for (const read of reads) {
    if (Result.isFailure(read.result)) {
      invalid.push({ closeNumber: read.closeNumber, reason: read.result.failure.message })
      continue
    }
    const pending = inTail.get(read.closeNumber)
    if (read.closeNumber > counted || (pending !== undefined && !sameTrade(pending, read.result.success))) {
      abandoned++
      continue
    }
    if (found.has(read.closeNumber)) duplicates.add(read.closeNumber)
    found.set(read.closeNumber, { entry: read.result.success, durable: true, recordedAt: read.recordedAt, snapshotSequence: read.snapshotSequence })
  }
  for (const entry of tail) {
    if (!found.has(entry.closeNumber)) found.set(entry.closeNumber, { entry, durable: false, recordedAt: null, snapshotSequence: null })
  }
  const entries = [...found.values()].sort((a, b) => a.entry.closeNumber - b.entry.closeNumber)
  const absent: Array<number> = []
  for (let n = 1; n <= counted; n++) if (!found.has(n)) absent.push(n)
  const retention = cutByRetention(events)
  const beforeLedger = closedBeforeLedger(events)
  const missing = runsOf(absent).flatMap(({ from, to }): Array<MissingCloses> => {
    // A run is explained whole or split where the explanation changes.
    const parts: Array<MissingCloses> = []
    for (let n = from; n <= to; n++) {
      const why = retention(n) ? "retention" : n <= beforeLedger.afterClose && n < tailFrom ? "before_ledger" : "not_found"
      const last = parts.at(-1)
      if (last !== undefined && last.why === why && last.to === n - 1) parts[parts.length - 1] = { ...last, to: n }
      else parts.push({ from: n, to: n, why })
    }
    return parts
  })
  let realizedPnlUsd = 0
  let magnitude = Math.abs(state.metrics.totalPnlUsd)
  let feesUsd = 0
  let winning = 0
  for (const { entry } of entries) {
    realizedPnlUsd += entry.trade.realizedPnlUsd
    magnitude += Math.abs(entry.trade.realizedPnlUsd)
    feesUsd += entry.trade.feesUsd
    if (entry.trade.realizedPnlUsd > 0) winning++
  }
  const pnlAgrees = Math.abs(realizedPnlUsd - state.metrics.totalPnlUsd) <= pnlTolerance(magnitude)
  const soundEntries = invalid.length === 0 && duplicates.size === 0 && abandoned === 0
  const { afterClose, pnlBeforeUsd } = beforeLedger
  // Closes made before the ledger, or PnL without a close (D70 counted some), that the ledger cannot hold.
  const before = missing.length > 0 || (pnlBeforeUsd !== undefined && pnlBeforeUsd !== 0)
  const sinceLedger = before && missing.every((m) => m.why === "before_ledger") && pnlBeforeUsd !== undefined
    ? {
      afterClose,
      pnlBeforeUsd,
      agrees: soundEntries &&
        Math.abs(realizedPnlUsd + pnlBeforeUsd - state.metrics.totalPnlUsd) <= pnlTolerance(magnitude + Math.abs(pnlBeforeUsd))
    }
    : undefined
  return {
    sessionId: state.session.sessionId,
    entries,
    invalid,
    duplicates: [...duplicates].sort((a, b) => a - b),
    counted: { tradesClosed: counted, totalPnlUsd: state.metrics.totalPnlUsd, winningTrades: state.metrics.winningTrades },
    ledger: { realizedPnlUsd, feesUsd, winning },
    missing,
    abandoned,
    agrees: missing.length === 0 && soundEntries && pnlAgrees,
    ...(sinceLedger === undefined ? {} : { agreesSinceLedger: sinceLedger })
  }
}

/** Every entry of the session's durable ledger, in close order. */
export const readLedger = Effect.fn("LedgerAudit.readLedger")(function*(sessionId: SessionId) {
  const ledger = yield* TradeLedger
  const reads: Array<LedgerRead> = []
  let after = 0
  while (true) {
    const page = yield* ledger.list(sessionId, { afterCloseNumber: after, limit: 1_000 })
    reads.push(...page)
    if (page.length < 1_000) break
    after = page[page.length - 1]!.closeNumber
  }
  return reads
})

/** The audit of the session's ledger against `state` (a restored state, with its ledger tail). */
export const audit = Effect.fn("LedgerAudit.audit")(function*(state: EngineState, tail: ReadonlyArray<LedgerEntry>) {
  const reads = yield* readLedger(state.session.sessionId)
  const events = yield* (yield* SessionEvents).list(state.session.sessionId)
  return auditOf(state, tail, reads, events)
})

/** Whether ledger and metrics agree, in words. */
export const verdictOf = (audit: LedgerAudit): string => {
  if (audit.agrees) return "agrees with the metrics"
  const since = audit.agreesSinceLedger
  if (since?.agrees === true) {
    return `agrees with the metrics since the ledger began (after close #${since.afterClose}, with PnL ${since.pnlBeforeUsd.toFixed(2)} before it)`
  }
  return "DOES NOT agree with the metrics"
}

/** One line on whether ledger and metrics agree, and what is missing and why. */
export const describeAudit = (audit: LedgerAudit): string => {
  const { counted, ledger } = audit
  const head = `ledger    ${audit.entries.length} of ${counted.tradesClosed} closes, PnL ${ledger.realizedPnlUsd.toFixed(2)} (metrics ${
    counted.totalPnlUsd.toFixed(2)
  }), fees ${ledger.feesUsd.toFixed(2)}`
  const pending = audit.entries.filter((e) => !e.durable).length
  const notes = [
    ...(pending === 0 ? [] : [`${pending} in the live tier's tail, appended with the next snapshot`]),
    ...audit.missing.map((m) =>
      `${m.from === m.to ? `#${m.from}` : `#${m.from}-#${m.to}`} ${
        m.why === "before_ledger" ? "closed before the session had a ledger" : m.why === "retention" ? "removed by ledger retention" : "not found"
      }`
    ),
    ...(audit.invalid.length === 0 ? [] : [`${audit.invalid.length} invalid (${audit.invalid.slice(0, 3).map((i) => `#${i.closeNumber}`).join(", ")})`]),
    ...(audit.duplicates.length === 0 ? [] : [`held twice: ${audit.duplicates.slice(0, 5).map((n) => `#${n}`).join(", ")}`]),
    ...(audit.abandoned === 0 ? [] : [`${audit.abandoned} of a history this state does not count (its next snapshot supersedes them)`])
  ]
  return `${head}: ${verdictOf(audit)}${notes.length === 0 ? "" : `; ${notes.join("; ")}`}`
}
