/**
 * TradeLedger: every closed trade of a session, in the order it closed.
 *
 * Entries are written by the durable tier's snapshot save, in the same
 * atomic write as the first snapshot whose state counts them (under the
 * same lease check): so the ledger never holds a close that no snapshot
 * counts, and a snapshot never counts a close the ledger lost. Snapshot
 * retention never removes an entry; the ledger's own retention (`cleanup`)
 * runs only when asked. This service reads the ledger: each entry verified
 * (checksum, Schema), in close order, and a session's summary.
 *
 * A resume that falls back to an older state abandons the closes that state
 * does not count: those entries are kept but marked superseded, and are not
 * read here.
 *
 * Backings: PostgreSQL (`PgTradeLedger`, table `trade_ledger`, migration
 * 0007) and memory (`layerMemory`, whose rows a memory snapshot store
 * shares, to append to them).
 *
 * @module
 */
import { Clock, Context, Effect, Layer, Result } from "effect"
import { decodeLedgerEntry, type LedgerEntry } from "../domain/ClosedTrade.ts"
import type { Env, SessionId } from "../domain/Ids.ts"
import { StateCodecError } from "../domain/StateCodecError.ts"
import type { NewLedgerRow } from "./internal/SnapshotRows.ts"
import { storeOperation } from "./internal/StoreSpan.ts"
import { appendMemoryEvent } from "./internal/MemoryRows.ts"
import type { MemoryEvents } from "./SessionEvents.ts"
import { StoreError, type StoreKind } from "./StoreError.ts"

/** One ledger entry as read back, valid or not. */
export interface LedgerRead {
  readonly entryId: number
  readonly closeNumber: number
  readonly tradeId: string
  /** When the store wrote it (epoch ms of the store's clock). */
  readonly recordedAt: number
  /** The sequence of the snapshot it was written with. */
  readonly snapshotSequence: number
  readonly result: Result.Result<LedgerEntry, StateCodecError>
}

/** A session's ledger at a glance: its valid entries' count and sums, in close order. */
export interface LedgerSummary {
  /** Valid entries. */
  readonly entries: number
  /** Entries that failed their checksum or Schema (not counted in the sums). */
  readonly invalid: number
  /** The lowest and highest close number among the valid entries (`null` when there are none). */
  readonly firstClose: number | null
  readonly lastClose: number | null
  /** The sum of the valid entries' realized PnL, added in close order. */
  readonly realizedPnlUsd: number
  readonly feesUsd: number
  /** Valid entries with a positive PnL. */
  readonly winning: number
}

/** What the ledger's retention removes (or would remove) of one session. */
export interface LedgerCut {
  readonly sessionId: string
  readonly removed: number
  readonly oldestClose: number
  readonly newestClose: number
}

/** The trade ledger of one env. */
export class TradeLedger extends Context.Service<TradeLedger, {
  readonly env: Env
  readonly kind: StoreKind
  /** Up to `limit` (default 1,000) entries of the session in close order, after `afterCloseNumber` when given; superseded ones left out. */
  readonly list: (
    sessionId: SessionId,
    options?: { readonly afterCloseNumber?: number; readonly limit?: number }
  ) => Effect.Effect<ReadonlyArray<LedgerRead>, StoreError>
  /** The session's whole ledger summed, in close order. */
  readonly summary: (sessionId: SessionId) => Effect.Effect<LedgerSummary, StoreError>
  /**
   * The ledger's own retention: removes the entries recorded at least `olderThanDays` days ago, and
   * records a `ledger_cut` event for each session it cut; with `dryRun`, says what it would remove.
   */
  readonly cleanup: (options: { readonly olderThanDays: number; readonly dryRun?: boolean }) => Effect.Effect<ReadonlyArray<LedgerCut>, StoreError>
}>()("arbitrage-state/store/TradeLedger") {}

/** A ledger row as the stores keep it. */
export interface LedgerRow extends NewLedgerRow {
  readonly entryId: number
  readonly sessionId: string
  readonly snapshotSequence: number
  readonly fencingToken: number
  readonly recordedAt: number
  /** When a resume's older state abandoned it (`null`: it stands). */
  readonly supersededAt: number | null
}

/** What a backing does: row I/O only. */
export interface LedgerRows {
  readonly kind: StoreKind
  /** The session's standing rows in close order, after `afterCloseNumber`, at most `limit`. */
  readonly selectStanding: (sessionId: SessionId, afterCloseNumber: number, limit: number) => Effect.Effect<ReadonlyArray<LedgerRow>, StoreError>
  /** Retention: rows recorded at least `olderThanDays` ago, removed (with a `ledger_cut` event per session) unless `dryRun`. */
  readonly cut: (options: { readonly olderThanDays: number; readonly dryRun: boolean }) => Effect.Effect<ReadonlyArray<LedgerCut>, StoreError>
}

/** The read of a row: its entry verified, and its columns held to the entry they index. */
const readLedgerRow = (row: LedgerRow): LedgerRead => {
  const decoded = decodeLedgerEntry({ sessionId: row.sessionId, closeNumber: row.closeNumber, trade: row.entry, checksum: row.checksum })
  const result = Result.flatMap(decoded, (entry) =>
    entry.trade.tradeId === row.tradeId && entry.trade.realizedPnlUsd === row.realizedPnlUsd && entry.trade.closedLoop === row.closedLoop
      ? Result.succeed(entry)
      : Result.fail(StateCodecError.invalid(
        "ledger",
        `ledger entry #${row.closeNumber} of ${row.sessionId}: its columns (trade ${row.tradeId}, PnL ${row.realizedPnlUsd}, loop ${row.closedLoop}) differ from the entry they index`
      )))
  return {
    entryId: row.entryId,
    closeNumber: row.closeNumber,
    tradeId: row.tradeId,
    recordedAt: row.recordedAt,
    snapshotSequence: row.snapshotSequence,
    result
  }
}

const page = 1_000

/** The ledger of `env` over a backing's rows. */
export const fromRows = (env: Env, rows: LedgerRows): TradeLedger["Service"] => {
  const list = storeOperation("TradeLedger.list")(function*(
    sessionId: SessionId,
    options: { readonly afterCloseNumber?: number; readonly limit?: number } = {}
  ) {
    return (yield* rows.selectStanding(sessionId, options.afterCloseNumber ?? 0, Math.max(0, options.limit ?? page))).map(readLedgerRow)
  })

  const summary = storeOperation("TradeLedger.summary")(function*(sessionId: SessionId) {
    let entries = 0
    let invalid = 0
    let firstClose: number | null = null
    let lastClose: number | null = null
    let realizedPnlUsd = 0
    let feesUsd = 0
    let winning = 0
    let after = 0
    while (true) {
      const reads = yield* list(sessionId, { afterCloseNumber: after, limit: page })
      for (const read of reads) {
        after = read.closeNumber
        if (Result.isFailure(read.result)) {
          invalid++
          continue
        }
        const trade = read.result.success.trade
        entries++
        firstClose ??= read.closeNumber
        lastClose = read.closeNumber
        realizedPnlUsd += trade.realizedPnlUsd
        feesUsd += trade.feesUsd
        if (trade.realizedPnlUsd > 0) winning++
      }
      if (reads.length < page) break
    }
    return { entries, invalid, firstClose, lastClose, realizedPnlUsd, feesUsd, winning } satisfies LedgerSummary
  })

  const cleanup = storeOperation("TradeLedger.cleanup")(function*(options: { readonly olderThanDays: number; readonly dryRun?: boolean }) {
    if (!Number.isInteger(options.olderThanDays) || options.olderThanDays < 0) {
      return yield* StoreError.failure(rows.kind, `olderThanDays must be a non-negative integer, got ${options.olderThanDays}`)
    }
    return yield* rows.cut({ olderThanDays: options.olderThanDays, dryRun: options.dryRun ?? false })
  })

  return TradeLedger.of({ env, kind: rows.kind, list, summary, cleanup })
}

/** The ledger rows kept in memory: shared with the memory snapshot store, which appends to them. */
export type MemoryLedger = Array<LedgerRow>

const dayMs = 86_400_000

/** The rows of a ledger kept in memory (its cuts recorded in `events`). */
export const memoryRows = (ledger: MemoryLedger = [], events: MemoryEvents = new Map()): LedgerRows => ({
  kind: "memory",
  selectStanding: (sessionId, afterCloseNumber, limit) =>
    Effect.sync(() =>
      ledger
        .filter((row) => row.sessionId === sessionId && row.supersededAt === null && row.closeNumber > afterCloseNumber)
        .sort((a, b) => a.closeNumber - b.closeNumber || a.entryId - b.entryId)
        .slice(0, limit)
    ),
  cut: ({ dryRun, olderThanDays }) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const cutoff = now - olderThanDays * dayMs
      const doomed = ledger.filter((row) => row.recordedAt <= cutoff)
      const bySession = new Map<string, Array<LedgerRow>>()
      for (const row of doomed) bySession.set(row.sessionId, [...(bySession.get(row.sessionId) ?? []), row])
      const cuts = [...bySession].sort(([a], [b]) => (a < b ? -1 : 1)).map(([sessionId, removed]): LedgerCut => ({
        sessionId,
        removed: removed.length,
        oldestClose: Math.min(...removed.map((row) => row.closeNumber)),
        newestClose: Math.max(...removed.map((row) => row.closeNumber))
      }))
      if (dryRun) return cuts
      const gone = new Set(doomed.map((row) => row.entryId))
      for (let i = ledger.length - 1; i >= 0; i--) if (gone.has(ledger[i]!.entryId)) ledger.splice(i, 1)
      for (const cut of cuts) {
        appendMemoryEvent(events, cut.sessionId, {
          kind: "ledger_cut",
          fencingToken: 0,
          loopCount: 0,
          detail: { removed: cut.removed, oldestClose: cut.oldestClose, newestClose: cut.newestClose, olderThanDays },
          recordedAt: now
        })
      }
      return cuts
    })
})

/** A ledger kept in memory. */
export const makeMemory = (env: Env, ledger: MemoryLedger = [], events: MemoryEvents = new Map()): TradeLedger["Service"] =>
  fromRows(env, memoryRows(ledger, events))

/** The memory backing for `env` (over `ledger` and `events`, when given). */
export const layerMemory = (env: Env, ledger?: MemoryLedger, events?: MemoryEvents): Layer.Layer<TradeLedger> =>
  Layer.sync(TradeLedger, () => makeMemory(env, ledger, events))
