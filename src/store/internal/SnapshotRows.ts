/**
 * SnapshotRows: a snapshot as every backing stores it (one row: the
 * envelope's metadata, the checksum, the four encoded sections) and what is
 * made of rows the same way whatever the backing: the row of a sealed
 * snapshot, a row verified and decoded (`readSnapshotRow`), a listing entry,
 * byte counts, the history a retention cut removes; and the ledger rows a
 * snapshot appends. Internal: the stores' adapter (`SnapshotStore.fromRows`)
 * and its backings use it.
 */
import { Result, Schema } from "effect"
import { checksumOf } from "../../domain/Checksum.ts"
import { encodeLedgerEntry, type LedgerEntry, ledgerTailIssue } from "../../domain/ClosedTrade.ts"
import type { VersionedJson } from "../../domain/VersionedSection.ts"
import type { EngineState } from "../../domain/EngineState.ts"
import { SessionId as SessionIdSchema } from "../../domain/Ids.ts"
import { SessionStatus as SessionStatusSchema } from "../../domain/SessionState.ts"
import { decodeSnapshot, encodeSnapshot, type Snapshot, SnapshotType as SnapshotTypeSchema } from "../../domain/Snapshot.ts"
import { StateCodecError } from "../../domain/StateCodecError.ts"
import type { SessionEvent } from "../SessionEvents.ts"
import { unwritableMessage } from "./StateLimits.ts"
import { isEncrypted, openText, protectText, sealKeyId, sealOf, sealProblem, type StateProtection, unverifiable } from "../StateProtection.ts"
import type { CleanupOptions, HistoryCut, SnapshotRead, SnapshotSummary, SnapshotToSave } from "../SnapshotStore.ts"

/** The sections of a snapshot row, the runner's own (`custom`) last. */
export const snapshotSections = ["session", "positions", "metrics", "riskGuard", "custom"] as const
/** One of the sections of a snapshot row. */
export type SnapshotSection = typeof snapshotSections[number]

/** A snapshot as the stores keep it: metadata columns, checksum, and the four encoded sections. */
export interface SnapshotRow {
  readonly snapshotId: number
  readonly sessionId: string
  readonly sequence: number
  readonly snapshotType: string
  readonly envelopeVersion: number
  readonly fencingToken: number
  readonly createdAt: number
  readonly checksum: string
  readonly loopCount: number
  readonly status: string
  readonly recordedAt: number
  readonly session: unknown
  /** `null` when the section's row is missing. */
  readonly positions: unknown | null
  readonly metrics: unknown | null
  readonly riskGuard: unknown | null
  /** The runner's own sections; `null` when it had none. */
  readonly custom: unknown | null
  /** Why the sections were not read, when one of them is over the size limit. */
  readonly oversized?: string | undefined
  /** Bytes of the stored sections, as the store measured them (else their JSON's length). */
  readonly storedBytes?: number | undefined
  /** The seal of its header (`headerChecksumOf`); `null` or absent on a row written before headers were sealed. */
  readonly headerChecksum?: string | null | undefined
  /** Its seal under a state key (`StateProtection`); `null` or absent on a row written without keys. */
  readonly seal?: string | null | undefined
  /** Open trades in it, as its writer counted them (a listing reads it when the positions are encrypted). */
  readonly openTradeCount?: number | null | undefined
}

/**
 * What places a snapshot among a restore's candidates, trusted without decoding its payload: its
 * sequence, its writer's token and its loop count, sealed with the payload's checksum.
 */
export interface SnapshotHeader {
  readonly sequence: number
  readonly fencingToken: number
  readonly loopCount: number
}

/** The columns of a row its header is made of, with its seal. */
export type HeaderRow = Pick<
  SnapshotRow,
  "envelopeVersion" | "sessionId" | "snapshotType" | "sequence" | "fencingToken" | "createdAt" | "loopCount" | "checksum" | "headerChecksum"
>

/** The seal of a row's header: a checksum over its metadata, its loop count and its payload's checksum. */
export const headerChecksumOf = (row: Omit<HeaderRow, "headerChecksum">): string =>
  checksumOf({
    envelopeVersion: row.envelopeVersion,
    sessionId: row.sessionId,
    snapshotType: row.snapshotType,
    sequence: row.sequence,
    fencingToken: row.fencingToken,
    createdAt: row.createdAt,
    loopCount: row.loopCount,
    checksum: row.checksum
  })

/** The header of a row, when it has one and its seal holds; `undefined` otherwise (the row must then be decoded to be placed). */
export const verifiedHeaderOf = (row: HeaderRow): SnapshotHeader | undefined =>
  typeof row.headerChecksum === "string" && headerChecksumOf(row) === row.headerChecksum
    ? { sequence: row.sequence, fencingToken: row.fencingToken, loopCount: row.loopCount }
    : undefined

/** A row to insert: before the store assigns its id and records its time. */
export type NewSnapshotRow = Omit<SnapshotRow, "snapshotId" | "recordedAt">

/** A trade ledger entry to append with a snapshot: the columns a backing keeps, and the sealed entry. */
export interface NewLedgerRow {
  readonly closeNumber: number
  readonly tradeId: string
  readonly symbol: string
  readonly closedLoop: number
  readonly closedAt: number
  readonly realizedPnlUsd: number
  readonly entry: VersionedJson
  readonly checksum: string
}

/**
 * What a snapshot appends to the ledger: the closes its state counts that are not yet durable
 * (`rows`), and how far the ledger already holds this state's closes (`standingUpTo`): every entry
 * numbered above it that is not one of `rows` belongs to a history this state abandoned, and is
 * marked superseded by the same write.
 */
export interface LedgerAppend {
  readonly rows: ReadonlyArray<NewLedgerRow>
  readonly standingUpTo: number
}

/** The ledger append of a snapshot of `state` carrying the closes `entries`; refused when they are not the state's newest closes. */
export const ledgerAppendOf = (state: EngineState, entries: ReadonlyArray<LedgerEntry>): Result.Result<LedgerAppend, StateCodecError> => {
  const issue = ledgerTailIssue(state, entries)
  if (issue !== undefined) return Result.fail(StateCodecError.invalid("ledger", issue))
  return Result.map(
    Result.all(entries.map((entry) =>
      Result.map(encodeLedgerEntry(entry), (sealed): NewLedgerRow => ({
        closeNumber: entry.closeNumber,
        tradeId: entry.trade.tradeId,
        symbol: entry.trade.symbol,
        closedLoop: entry.trade.closedLoop,
        closedAt: entry.trade.closedAt,
        realizedPnlUsd: entry.trade.realizedPnlUsd,
        entry: sealed.trade,
        checksum: sealed.checksum
      }))
    )),
    (rows) => ({ rows, standingUpTo: state.metrics.tradesClosed - entries.length })
  )
}

/** The row of a sealed snapshot. */
export const rowOfSnapshot = (metadata: SnapshotToSave, state: EngineState): Result.Result<NewSnapshotRow, StateCodecError> =>
  Result.map(encodeSnapshot(metadata, state), (sealed) => {
    const row = {
    sessionId: sealed.sessionId,
    sequence: sealed.sequence,
    snapshotType: sealed.snapshotType,
    envelopeVersion: sealed.envelopeVersion,
    fencingToken: sealed.fencingToken,
    createdAt: sealed.createdAt,
    checksum: sealed.checksum,
    loopCount: state.session.loopCount,
    status: state.session.status,
    session: sealed.payload.session,
    positions: sealed.payload.positions,
    metrics: sealed.payload.metrics,
    riskGuard: sealed.payload.riskGuard,
    custom: sealed.payload.custom ?? null
    }
    return { ...row, headerChecksum: headerChecksumOf(row) }
  })

/** Verifies and decodes a stored row; a missing section row shows up as a missing section. */
export const readSnapshotRow = (row: SnapshotRow): Result.Result<Snapshot, StateCodecError> => {
  if (row.oversized !== undefined) {
    return Result.fail(StateCodecError.invalid("snapshot", `snapshot #${row.sequence} of ${row.sessionId}: ${row.oversized}`))
  }
  const missing = (["positions", "metrics", "riskGuard"] as const).filter((section) => row[section] === null)
  if (missing.length > 0) {
    return Result.fail(StateCodecError.invalid(
      "snapshot",
      `snapshot #${row.sequence} of ${row.sessionId} is missing its ${missing.join(", ")} section at snapshot.payload`
    ))
  }
  // The payload as it was sealed: the runner's own sections only when it had any.
  const payload = {
    session: row.session,
    positions: row.positions,
    metrics: row.metrics,
    riskGuard: row.riskGuard,
    ...(row.custom === null || row.custom === undefined ? {} : { custom: row.custom })
  }
  return decodeSnapshot({
    envelopeVersion: row.envelopeVersion,
    sessionId: row.sessionId,
    snapshotType: row.snapshotType,
    sequence: row.sequence,
    fencingToken: row.fencingToken,
    createdAt: row.createdAt,
    checksum: row.checksum,
    payload
  })
}

/**
 * Fails when a section of `row` is over `maxSectionBytes` as the backing measures it when it reads
 * (`sectionBytes`): a store would write it, and no restore read it.
 */
export const checkReadable = (
  row: NewSnapshotRow,
  maxSectionBytes: number,
  sectionBytes: (name: SnapshotSection, value: unknown) => number
): Result.Result<void, StateCodecError> => {
  if (!Number.isFinite(maxSectionBytes)) return Result.void
  for (const section of snapshotSections) {
    const value = row[section]
    if (value === null || value === undefined) continue
    const bytes = sectionBytes(section, value)
    if (bytes > maxSectionBytes) return Result.fail(StateCodecError.invalid(section, unwritableMessage(section, bytes, maxSectionBytes)))
  }
  return Result.void
}

/** The JSON bytes of a row's sections (the runner's own included); `positionsText`, the positions' JSON when it is at hand. */
export const payloadBytesOf = (
  row: Pick<SnapshotRow, "session" | "positions" | "metrics" | "riskGuard" | "custom">,
  positionsText: string = JSON.stringify(row.positions)
): number =>
  JSON.stringify(row.session).length + positionsText.length +
  JSON.stringify(row.metrics).length + JSON.stringify(row.riskGuard).length +
  (row.custom === null || row.custom === undefined ? 0 : JSON.stringify(row.custom).length)

const isSessionId = Schema.is(SessionIdSchema)
const isSnapshotType = Schema.is(SnapshotTypeSchema)
const isSessionStatus = Schema.is(SessionStatusSchema)

/** The summary of `row`, with its session id, type and status as `named` (checked, or the writer's own). */
const summaryAs = (row: SnapshotRow, named: Pick<SnapshotSummary, "sessionId" | "snapshotType" | "status">): SnapshotSummary => ({
  snapshotId: row.snapshotId,
  sessionId: named.sessionId,
  sequence: row.sequence,
  snapshotType: named.snapshotType,
  fencingToken: row.fencingToken,
  createdAt: row.createdAt,
  recordedAt: row.recordedAt,
  loopCount: row.loopCount,
  status: named.status,
  openTrades: openTradesOf(row.positions) ?? row.openTradeCount ?? null
})

/**
 * The listing entry of a row; `undefined` for a row no writer of this code could have made (its
 * session id, type or status is not one), which listings leave out (a restore still reads and names it).
 */
export const summaryOfRow = (row: SnapshotRow): SnapshotSummary | undefined =>
  isSessionId(row.sessionId) && isSnapshotType(row.snapshotType) && isSessionStatus(row.status)
    ? summaryAs(row, { sessionId: row.sessionId, snapshotType: row.snapshotType, status: row.status })
    : undefined

/** The summary of a snapshot of `state` just written (or found written) under `metadata`: its id, type and status are the writer's. */
export const writtenSummary = (row: SnapshotRow, metadata: SnapshotToSave, state: EngineState): SnapshotSummary =>
  summaryAs({ ...row, openTradeCount: Object.keys(state.positions.activeTrades).length }, { ...metadata, status: state.session.status })

/** The listing entries of rows, those no writer of this code could have made left out. */
export const summariesOf = (rows: ReadonlyArray<SnapshotRow>): Array<SnapshotSummary> =>
  rows.flatMap((row) => {
    const summary = summaryOfRow(row)
    return summary === undefined ? [] : [summary]
  })

const openTradesOf = (positions: unknown): number | null => {
  if (positions === null || typeof positions !== "object") return null
  const trades: unknown = Reflect.get(positions, "activeTrades")
  return trades !== null && typeof trades === "object" ? Object.keys(trades).length : null
}

/**
 * The read of a row: what places it, and its verdict, reached (once) when it is first asked for.
 * With `protection`, a row whose seal does not hold has no header and is "not authentic"; its
 * sections are decrypted (with or without keys: without, an encrypted one "cannot decrypt").
 */
export const snapshotReadOfRow = (env: string, protection: StateProtection | undefined, row: SnapshotRow): SnapshotRead => {
  let verdict: Result.Result<Snapshot, StateCodecError> | undefined
  // Without keys, a sealed row cannot be verified: it is not read (its runners hold keys this process lacks).
  const forged = protection === undefined
    ? unverifiable(row.seal)
    : sealProblem(protection, "snapshot", row.seal, () => snapshotSealFields(env, row))
  return {
    snapshotId: row.snapshotId,
    sequence: row.sequence,
    recordedAt: row.recordedAt,
    bytes: row.storedBytes ?? payloadBytesOf(row),
    header: forged === undefined ? verifiedHeaderOf(row) : undefined,
    sealKey: sealKeyId(row.seal) ?? (typeof row.seal === "string" ? "?" : null),
    encrypted: isEncrypted(row.session),
    get result() {
      // Decrypted first, so that a key that does not open it says so; the seal is over its columns.
      verdict ??= Result.flatMap(
        openRow(env, protection, row),
        (opened) =>
          forged === undefined
            ? readSnapshotRow(opened)
            : Result.fail(StateCodecError.notAuthentic("snapshot", `snapshot #${row.sequence} of ${row.sessionId} is ${forged}`))
      )
      return verdict
    }
  }
}

/** What a snapshot's seal covers: where it belongs, what places it, and its payload's checksum. */
export const snapshotSealFields = (
  env: string,
  row: Pick<SnapshotRow, "sessionId" | "sequence" | "snapshotType" | "envelopeVersion" | "fencingToken" | "createdAt" | "loopCount" | "status" | "checksum">
): Record<string, unknown> => ({
  env,
  sessionId: row.sessionId,
  sequence: row.sequence,
  snapshotType: row.snapshotType,
  envelopeVersion: row.envelopeVersion,
  fencingToken: row.fencingToken,
  createdAt: row.createdAt,
  loopCount: row.loopCount,
  status: row.status,
  checksum: row.checksum
})

/** Where a snapshot's section is stored: a ciphertext opens only there. */
const sectionPlace = (env: string, row: Pick<SnapshotRow, "sessionId" | "sequence">, section: SnapshotSection) =>
  `snapshot/${env}/${row.sessionId}/${row.sequence}/${section}`

/**
 * A row as written under `protection`: sealed, and with `encrypt` its sections stored encrypted
 * (each a JSON string of its ciphertext); as it is without protection.
 */
export const protectRow = <R extends NewSnapshotRow>(env: string, protection: StateProtection | undefined, row: R): R => {
  if (protection === undefined) return row
  const sections = protection.encrypt
    ? Object.fromEntries(snapshotSections.flatMap((section) => {
      const value = row[section]
      return value === null || value === undefined ? [] : [[section, protectText(protection, sectionPlace(env, row, section), JSON.stringify(value))]]
    }))
    : {}
  return { ...row, ...sections, seal: sealOf(protection, "snapshot", snapshotSealFields(env, row)) }
}

/** A row with its encrypted sections decrypted ("cannot decrypt" when one does not open). */
export const openRow = <R extends SnapshotRow>(env: string, protection: StateProtection | undefined, row: R): Result.Result<R, StateCodecError> => {
  let opened: Record<string, unknown> | undefined
  for (const section of snapshotSections) {
    const value = row[section]
    if (!isEncrypted(value)) continue
    const text = openText(protection, sectionPlace(env, row, section), value)
    if (Result.isFailure(text)) return Result.fail(StateCodecError.cannotDecrypt(section, `snapshot #${row.sequence} of ${row.sessionId}: its ${section} section ${text.failure}`))
    try {
      ;(opened ??= {})[section] = JSON.parse(text.success)
    } catch {
      return Result.fail(StateCodecError.cannotDecrypt(section, `snapshot #${row.sequence} of ${row.sessionId}: its ${section} section decrypts to no JSON`))
    }
  }
  // The row may hold getters (sections read lazily): the spread takes the values they give now.
  return Result.succeed(opened === undefined ? row : { ...row, ...opened })
}

/** The rows a cut removes, per session (sessions in order): how many, which sequences, up to which loop. */
export const historyCuts = (doomed: ReadonlyArray<SnapshotRow>): ReadonlyArray<HistoryCut> => {
  const bySession = new Map<string, Array<SnapshotRow>>()
  for (const row of doomed) bySession.set(row.sessionId, [...(bySession.get(row.sessionId) ?? []), row])
  return [...bySession].map(([sessionId, removed]) => ({
    sessionId,
    removed: removed.length,
    oldestSequence: Math.min(...removed.map((row) => row.sequence)),
    newestSequence: Math.max(...removed.map((row) => row.sequence)),
    newestLoopCount: Math.max(...removed.map((row) => row.loopCount))
  }))
}

/** The event a cut leaves in its session's history (what PostgreSQL's cut_snapshot_history records). */
export const historyCutEvent = (cut: HistoryCut, options: CleanupOptions): SessionEvent => ({
  kind: "history_cut",
  fencingToken: 0,
  loopCount: cut.newestLoopCount,
  detail: {
    removed: cut.removed,
    oldestSequence: cut.oldestSequence,
    newestSequence: cut.newestSequence,
    olderThanDays: options.olderThanDays,
    keepLatest: options.keepLatest ?? 1
  }
})

