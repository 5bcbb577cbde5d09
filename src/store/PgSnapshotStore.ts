/**
 * PgSnapshotStore: the durable tier on PostgreSQL (or the embedded PGlite).
 *
 * A save is one statement (so one transaction and one round trip) over the
 * four tables of migration 0001, the lease check included; a load
 * joins them back and verifies the row through `readSnapshotRow`. A save is
 * idempotent: the same snapshot written twice is stored once and reported
 * written both times. Driver failures are mapped here, at the boundary: a
 * connection that could not be made is `Unreachable`, one lost after a save
 * was sent is `OutcomeUnknown`, a sequence reused for other contents is a
 * `WriteConflict`, anything else a `StoreFailure`.
 */
import { Effect, Layer, Result } from "effect"
import { PgClient } from "@effect/sql-pg"
import type { SqlError, Statement } from "effect/sql"
import type { EngineState } from "../domain/EngineState.ts"
import type { Env, SessionId } from "../domain/Ids.ts"
import { decompress, defaultCompressionThreshold, gzip } from "./internal/PayloadCompression.ts"
import { parseJson } from "../domain/StateCodec.ts"
import { defaultMaxSectionBytes, oversizedMessage } from "./internal/StateLimits.ts"
import {
  checkCleanupOptions,
  type CleanupOptions,
  type HistoryCut,
  latestOf,
  newestValidIds,
  rowOfSnapshot,
  type SessionEvent,
  type SnapshotRow,
  snapshotReadOfRow,
  SnapshotStore,
  type SnapshotToSave,
  summariesOf,
  writtenSummary
} from "./SnapshotStore.ts"
import { redactPasswords } from "./internal/ConnectionString.ts"
import { StoreError } from "./StoreError.ts"
import { storeOperation } from "./internal/StoreSpan.ts"

/**
 * Server error codes that mean the server, not the statement, went away: shutting down or
 * restarting (57P01-57P03), or out of connections (53300).
 */
const serverGoneCodes = new Set(["57P01", "57P02", "57P03", "53300"])

/**
 * Maps a driver error to the store's error, keeping unreachable apart from everything else. For a
 * `write`, a connection lost after the statement was sent is `OutcomeUnknown`: the server may have
 * committed it. Only a connection that could not be made at all is `Unreachable` (nothing sent).
 */
export const fromSqlError = (operation: string, options: { readonly write?: boolean } = {}) => (error: SqlError.SqlError): StoreError => {
  // The driver's own message is generic ("Query failed"); the server's words are in the cause.
  const cause = error.reason.cause
  const serverMessage = cause instanceof Error ? cause.message : undefined
  const detail = redactPasswords(`${operation}: ${serverMessage || error.reason.message || error.reason._tag}`)
  const code = cause instanceof Error && "code" in cause ? String(cause.code) : undefined
  if (error.reason._tag === "ConnectionError" || (code !== undefined && serverGoneCodes.has(code))) {
    const sent = error.reason.operation !== "connect"
    return options.write === true && sent
      ? StoreError.outcomeUnknown("postgres", `${detail} (the connection was lost after the statement was sent: it may have been committed)`)
      : StoreError.unreachable("postgres", detail)
  }
  return error.reason._tag === "UniqueViolation"
    ? StoreError.conflict("postgres", detail)
    : StoreError.failure("postgres", detail)
}

/** A row of `retention_plan` / `cut_snapshot_history` (counts and sequences as bigint, or text on some paths). */
interface HistoryCutRow {
  readonly session_id: string
  readonly removed: bigint | number | string
  readonly oldest_sequence: bigint | number | string
  readonly newest_sequence: bigint | number | string
  readonly newest_loop_count: bigint | number | string
}

interface RawRow {
  readonly snapshot_id: bigint | number | string
  readonly session_id: string
  readonly sequence: bigint | number | string
  readonly snapshot_type: string
  readonly envelope_version: number
  readonly fencing_token: bigint | number | string
  readonly created_at_ms: bigint | number | string
  readonly checksum: string
  readonly loop_count: bigint | number | string
  readonly session_status: string
  readonly recorded_at: Date | string
  readonly session: unknown
  readonly positions: unknown | null
  readonly metrics: unknown | null
  readonly risk_guard: unknown | null
  readonly positions_gzip?: Uint8Array | null
  readonly positions_gzip_bytes?: number | string | null
  readonly session_bytes?: number | string | null
  readonly positions_bytes?: number | string | null
  readonly metrics_bytes?: number | string | null
  readonly risk_guard_bytes?: number | string | null
}

const sectionSizes = [
  ["session", "session_bytes"],
  ["positions", "positions_bytes"],
  ["metrics", "metrics_bytes"],
  ["riskGuard", "risk_guard_bytes"]
] as const

const oversizedOf = (raw: RawRow, limit: number): string | undefined => {
  for (const [section, column] of [...sectionSizes, ["positions", "positions_gzip_bytes"] as const]) {
    const bytes = Number(raw[column] ?? 0)
    if (bytes > limit) return oversizedMessage(section, bytes, limit)
  }
  return undefined
}

/** The positions of a row: its JSONB, or its gzipped JSON inflated within the limit. */
const positionsOf = (raw: RawRow, limit: number): { readonly value: unknown; readonly unreadable?: string } => {
  if (raw.positions_gzip === null || raw.positions_gzip === undefined) return { value: raw.positions }
  const text = decompress("positions", "gzip", raw.positions_gzip, limit)
  if (Result.isFailure(text)) return { value: null, unreadable: text.failure.message }
  const parsed = parseJson("positions", text.success)
  return Result.isFailure(parsed) ? { value: null, unreadable: parsed.failure.message } : { value: parsed.success }
}

/** The stored size of a row's sections, as the server measured them. */
const storedBytesOf = (raw: RawRow): number =>
  Number(raw.session_bytes ?? 0) + Number(raw.positions_bytes ?? 0) + Number(raw.positions_gzip_bytes ?? 0) +
  Number(raw.metrics_bytes ?? 0) + Number(raw.risk_guard_bytes ?? 0)

const toRow = (raw: RawRow, limit = Number.POSITIVE_INFINITY): SnapshotRow => {
  const oversized = oversizedOf(raw, limit)
  const positions = oversized === undefined ? positionsOf(raw, limit) : { value: null }
  return {
  oversized: oversized ?? positions.unreadable,
  storedBytes: storedBytesOf(raw),
  snapshotId: Number(raw.snapshot_id),
  sessionId: raw.session_id,
  sequence: Number(raw.sequence),
  snapshotType: raw.snapshot_type,
  envelopeVersion: Number(raw.envelope_version),
  fencingToken: Number(raw.fencing_token),
  createdAt: Number(raw.created_at_ms),
  checksum: raw.checksum,
  loopCount: Number(raw.loop_count),
  status: raw.session_status,
  recordedAt: new Date(raw.recorded_at).getTime(),
  session: raw.session,
  positions: positions.value,
  metrics: raw.metrics,
  riskGuard: raw.risk_guard
  }
}

/** The durable tier of `env` on the database of `SqlClient`. */
export const make = Effect.fnUntraced(function*(env: Env, options: PgSnapshotStoreOptions = {}) {
  const sql = yield* PgClient.PgClient
  const maxSectionBytes = options.maxSectionBytes ?? defaultMaxSectionBytes
  const compressionThreshold = options.compressionThreshold ?? defaultCompressionThreshold

  /** A section column, measured by the server and sent only when it is within the size limit. */
  const guarded = (column: string, alias: string) =>
    sql.unsafe(
      `octet_length(${column}::text) AS ${alias}_bytes,
       CASE WHEN octet_length(${column}::text) > ${maxSectionBytes} THEN NULL ELSE ${column} END AS ${alias}`
    )

  const selectRows = (where: Statement.Fragment, limit: number) =>
    sql<RawRow>`
      SELECT s.snapshot_id, s.session_id, s.sequence, s.snapshot_type, s.envelope_version, s.fencing_token,
             s.created_at_ms, s.checksum, s.loop_count, s.session_status, s.recorded_at,
             ${guarded("s.session", "session")}, ${guarded("p.positions", "positions")},
             octet_length(p.positions_gzip) AS positions_gzip_bytes,
             CASE WHEN octet_length(p.positions_gzip) > ${maxSectionBytes} THEN NULL ELSE p.positions_gzip END AS positions_gzip,
             ${guarded("m.metrics", "metrics")}, ${guarded("r.risk_guard", "risk_guard")}
        FROM session_snapshots s
        LEFT JOIN position_snapshots p ON p.snapshot_id = s.snapshot_id
        LEFT JOIN metrics_snapshots m ON m.snapshot_id = s.snapshot_id
        LEFT JOIN risk_guard_snapshots r ON r.snapshot_id = s.snapshot_id
       WHERE s.env = ${env} AND ${where}
       ORDER BY s.sequence DESC
       LIMIT ${limit}`.pipe(Effect.map((rows) => rows.map((raw) => toRow(raw, maxSectionBytes))))

  const save = storeOperation("SnapshotStore.save")(function*(metadata: SnapshotToSave, state: EngineState) {
    const row = yield* Effect.fromResult(rowOfSnapshot(metadata, state))
    const openTrades = Object.keys(state.positions.activeTrades).length
    const positionsText = JSON.stringify(row.positions)
    const compressed = positionsText.length > compressionThreshold
    // One statement, so one round trip and atomic by itself: the fencing check, then the four
    // inserts, each chained to the snapshot row. The check is made by the storage: a session with a
    // lease only takes writes that carry the token of its live lease, and the row lock (FOR SHARE,
    // held to the end of the statement) keeps a takeover from slipping in before the commit. When
    // the check fails nothing is inserted, and the lease's row says why. A sequence that is already
    // stored inserts nothing either (ON CONFLICT): the same snapshot written again (a retry after a
    // lost reply) is then found and reported as written, anything else at that sequence is a conflict.
    const [result] = yield* sql<{
      snapshot_id: bigint | number | null
      recorded_at: Date | string | null
      lease_token: bigint | number | null
      lease_live: boolean | null
      lease_refuses: boolean
    }>`
      WITH lease AS (
        SELECT fencing_token, expires_at > now() AS live FROM session_leases
         WHERE env = ${env} AND session_id = ${row.sessionId} FOR SHARE
      ), head AS (
        INSERT INTO session_snapshots
          (env, session_id, sequence, snapshot_type, envelope_version, fencing_token, created_at_ms,
           checksum, loop_count, session_status, session)
        SELECT ${env}::text, ${row.sessionId}::text, ${row.sequence}::bigint, ${row.snapshotType}::text,
               ${row.envelopeVersion}::integer, ${row.fencingToken}::bigint, ${row.createdAt}::bigint,
               ${row.checksum}::text, ${row.loopCount}::bigint, ${row.status}::text, ${sql.json(row.session)}::jsonb
         WHERE NOT EXISTS (SELECT 1 FROM lease WHERE fencing_token <> ${row.fencingToken}::bigint OR NOT live)
        ON CONFLICT ON CONSTRAINT session_snapshots_sequence_unique DO NOTHING
        RETURNING snapshot_id, recorded_at
      ), positions AS (
        INSERT INTO position_snapshots (snapshot_id, open_trade_count, ${sql(compressed ? "positions_gzip" : "positions")})
        SELECT snapshot_id, ${openTrades}::integer,
               ${compressed ? sql`${gzip(positionsText)}::bytea` : sql`${sql.json(row.positions)}::jsonb`} FROM head
      ), metrics AS (
        INSERT INTO metrics_snapshots (snapshot_id, metrics) SELECT snapshot_id, ${sql.json(row.metrics)}::jsonb FROM head
      ), risk_guard AS (
        INSERT INTO risk_guard_snapshots (snapshot_id, risk_guard) SELECT snapshot_id, ${sql.json(row.riskGuard)}::jsonb FROM head
      )
      SELECT head.snapshot_id, head.recorded_at, lease.fencing_token AS lease_token, lease.live AS lease_live,
             EXISTS (SELECT 1 FROM lease WHERE fencing_token <> ${row.fencingToken}::bigint OR NOT live) AS lease_refuses
        FROM (SELECT 1) AS one LEFT JOIN head ON true LEFT JOIN lease ON true`.pipe(
      Effect.mapError(fromSqlError(`save snapshot #${row.sequence} of ${row.sessionId}`, { write: true }))
    )
    if (result === undefined || result.lease_refuses) {
      return yield* StoreError.fenced(
        "postgres",
        `snapshot #${row.sequence} of ${row.sessionId} refused: token ${row.fencingToken} is not the live lease's (${result?.lease_token}${
          result?.lease_live === true ? "" : ", expired"
        })`
      )
    }
    const payloadBytes = positionsText.length + JSON.stringify(row.session).length + JSON.stringify(row.metrics).length +
      JSON.stringify(row.riskGuard).length
    if (result.snapshot_id !== null && result.recorded_at !== null) {
      return {
        ...writtenSummary({ ...row, snapshotId: Number(result.snapshot_id), recordedAt: new Date(result.recorded_at).getTime() }, metadata),
        payloadBytes
      }
    }
    // The sequence was taken. Read in a statement of its own: a row committed while this one waited
    // on it is visible only to a later statement.
    const [existing] = yield* sql<{ snapshot_id: bigint | number; recorded_at: Date | string; checksum: string }>`
      SELECT snapshot_id, recorded_at, checksum FROM session_snapshots
       WHERE env = ${env} AND session_id = ${row.sessionId} AND sequence = ${row.sequence}`.pipe(
      Effect.mapError(fromSqlError(`read snapshot #${row.sequence} of ${row.sessionId}`))
    )
    if (existing === undefined || existing.checksum !== row.checksum) {
      return yield* StoreError.conflict(
        "postgres",
        `snapshot #${row.sequence} of ${row.sessionId} already exists${existing === undefined ? "" : " with other contents"}`
      )
    }
    return {
      ...writtenSummary({ ...row, snapshotId: Number(existing.snapshot_id), recordedAt: new Date(existing.recorded_at).getTime() }, metadata),
      payloadBytes
    }
  })

  const loadRecent = storeOperation("SnapshotStore.loadRecent")(function*(
    sessionId: SessionId,
    options: { readonly limit: number; readonly beforeSequence?: number }
  ) {
    const where = options.beforeSequence === undefined
      ? sql`s.session_id = ${sessionId}`
      : sql`s.session_id = ${sessionId} AND s.sequence < ${options.beforeSequence}`
    const rows = yield* selectRows(where, Math.max(0, options.limit)).pipe(
      Effect.mapError(fromSqlError(`load snapshots of ${sessionId}`))
    )
    return rows.map(snapshotReadOfRow)
  })

  const loadLatest = storeOperation("SnapshotStore.loadLatest")(function*(sessionId: SessionId) {
    return yield* latestOf("postgres", yield* loadRecent(sessionId, { limit: 1 }))
  })

  const summaryColumns = sql`
    s.snapshot_id, s.session_id, s.sequence, s.snapshot_type, s.envelope_version, s.fencing_token,
    s.created_at_ms, s.checksum, s.loop_count, s.session_status, s.recorded_at, s.session,
    p.positions, NULL AS metrics, NULL AS risk_guard`

  const listSessions = storeOperation("SnapshotStore.listSessions")(function*() {
    const rows = yield* sql<RawRow>`
      SELECT ${summaryColumns}
        FROM v_latest_snapshots v
        JOIN session_snapshots s ON s.snapshot_id = v.snapshot_id
        LEFT JOIN position_snapshots p ON p.snapshot_id = s.snapshot_id
       WHERE v.env = ${env}
       ORDER BY s.recorded_at DESC, s.snapshot_id DESC`.pipe(Effect.mapError(fromSqlError("list sessions")))
    return summariesOf(rows.map((raw) => toRow(raw)))
  })

  const listSnapshots = storeOperation("SnapshotStore.listSnapshots")(function*(sessionId: SessionId, limit = 100) {
    const rows = yield* sql<RawRow>`
      SELECT ${summaryColumns}
        FROM session_snapshots s
        LEFT JOIN position_snapshots p ON p.snapshot_id = s.snapshot_id
       WHERE s.env = ${env} AND s.session_id = ${sessionId}
       ORDER BY s.sequence DESC
       LIMIT ${limit}`.pipe(Effect.mapError(fromSqlError(`list snapshots of ${sessionId}`)))
    return summariesOf(rows.map((raw) => toRow(raw)))
  })

  const highestSequence = storeOperation("SnapshotStore.highestSequence")(function*(sessionId: SessionId) {
    const [row] = yield* sql<{ sequence: bigint | number | string | null }>`
      SELECT max(sequence) AS sequence FROM session_snapshots
       WHERE env = ${env} AND session_id = ${sessionId} AND sequence < ${Number.MAX_SAFE_INTEGER}`.pipe(
      Effect.mapError(fromSqlError(`read the sequence of ${sessionId}`))
    )
    return Number(row?.sequence ?? 0)
  })

  // What goes is decided by one SQL function (snapshots_past_retention, migration 0005), which both
  // the plan (a dry run) and the cut read.
  const cleanup = storeOperation("SnapshotStore.cleanup")(function*(options: CleanupOptions) {
    yield* checkCleanupOptions("postgres", options)
    const protectedIds = yield* newestValidIds({ listSessions, loadRecent })
    const days = options.olderThanDays
    const keep = options.keepLatest ?? 1
    const ids = `{${protectedIds.join(",")}}`
    const rows = yield* (options.dryRun === true
      ? sql<HistoryCutRow>`SELECT * FROM retention_plan(${days}, ${keep}, ${env}, ${ids}::bigint[])`
      : sql<HistoryCutRow>`SELECT * FROM cut_snapshot_history(${days}, ${keep}, ${env}, ${ids}::bigint[])`).pipe(
      Effect.mapError(fromSqlError("cleanup"))
    )
    return rows.map((row): HistoryCut => ({
      sessionId: row.session_id,
      removed: Number(row.removed),
      oldestSequence: Number(row.oldest_sequence),
      newestSequence: Number(row.newest_sequence),
      newestLoopCount: Number(row.newest_loop_count)
    }))
  })

  const recordEvent = storeOperation("SnapshotStore.recordEvent")(function*(sessionId: SessionId, event: SessionEvent) {
    yield* sql`
      INSERT INTO session_events (env, session_id, kind, fencing_token, loop_count, detail)
      VALUES (${env}, ${sessionId}, ${event.kind}, ${event.fencingToken}, ${event.loopCount}, ${sql.json(event.detail)})`.pipe(
      Effect.mapError(fromSqlError(`record an event of ${sessionId}`))
    )
  })

  const listEvents = storeOperation("SnapshotStore.listEvents")(function*(sessionId: SessionId) {
    const rows = yield* sql<{ kind: SessionEvent["kind"]; fencing_token: bigint | number; loop_count: bigint | number; detail: Record<string, unknown>; recorded_at: Date | string }>`
      SELECT kind, fencing_token, loop_count, detail, recorded_at FROM session_events
       WHERE env = ${env} AND session_id = ${sessionId} ORDER BY event_id`.pipe(Effect.mapError(fromSqlError(`list the events of ${sessionId}`)))
    return rows.map((row) => ({
      kind: row.kind,
      fencingToken: Number(row.fencing_token),
      loopCount: Number(row.loop_count),
      detail: row.detail,
      recordedAt: new Date(row.recorded_at).getTime()
    }))
  })

  return SnapshotStore.of({
    env,
    kind: "postgres",
    save,
    loadLatest,
    loadRecent,
    listSessions,
    listSnapshots,
    highestSequence,
    cleanup,
    recordEvent,
    listEvents
  })
})

/** Settings of the PostgreSQL durable tier. */
export interface PgSnapshotStoreOptions {
  /** Sections larger than this (stored, or once inflated) are refused on read (default 16 MiB). */
  readonly maxSectionBytes?: number
  /** Positions JSON above this many bytes is stored gzipped (default 8 KiB). */
  readonly compressionThreshold?: number
}

/** The PostgreSQL backing of the durable tier for `env`; needs a `PgClient` on a migrated database. */
export const layer = (env: Env, options: PgSnapshotStoreOptions = {}): Layer.Layer<SnapshotStore, never, PgClient.PgClient> =>
  Layer.effect(SnapshotStore, make(env, options))
