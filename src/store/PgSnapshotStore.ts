/**
 * PgSnapshotStore: the durable tier on PostgreSQL (or the embedded PGlite).
 *
 * The backing's rows (`SnapshotRows`) over the four tables of migration 0001;
 * everything else a snapshot store does is `SnapshotStore.fromRows`'s. An
 * insert is one statement (so one transaction and one round trip), the lease
 * check and the trade ledger's entries (migration 0007) included; a read
 * joins the four tables back, each section measured by the server and sent
 * only within the size limit. Retention's choice is one
 * SQL function (`snapshots_past_retention`, migration 0005), which the plan
 * (a dry run) and the cut both read. Driver failures are mapped at the
 * boundary (`fromSqlError`).
 */
import { Effect, Layer, Result } from "effect"
import { PgClient } from "@effect/sql-pg"
import type { Statement } from "effect/sql"
import type { EngineState } from "../domain/EngineState.ts"
import type { Env, SessionId } from "../domain/Ids.ts"
import { parseJson } from "../domain/StateCodec.ts"
import { jsonbTextBytes } from "./internal/JsonbText.ts"
import { decompress, defaultCompressionThreshold, gzipOffLoop } from "./internal/PayloadCompression.ts"
import { type HeaderRow, type LedgerAppend, type NewSnapshotRow, payloadBytesOf, type SnapshotRow } from "./internal/SnapshotRows.ts"
import { fromSqlError } from "./internal/SqlErrors.ts"
import { defaultMaxSectionBytes, oversizedMessage } from "./internal/StateLimits.ts"
import { fromRows, type HistoryCut, SnapshotStore, type SnapshotRows } from "./SnapshotStore.ts"
import type { StateProtection } from "./StateProtection.ts"

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
  readonly header_checksum?: string | null
  readonly seal?: string | null
  readonly open_trade_count?: number | string | null
  readonly loop_count: bigint | number | string
  readonly session_status: string
  readonly recorded_at: Date | string
  readonly session: unknown
  readonly positions: unknown | null
  readonly metrics: unknown | null
  readonly risk_guard: unknown | null
  readonly custom?: unknown | null
  readonly positions_gzip?: Uint8Array | null
  readonly positions_gzip_bytes?: number | string | null
  readonly session_bytes?: number | string | null
  readonly positions_bytes?: number | string | null
  readonly metrics_bytes?: number | string | null
  readonly risk_guard_bytes?: number | string | null
  readonly custom_bytes?: number | string | null
}

const sectionSizes = [
  ["session", "session_bytes"],
  ["positions", "positions_bytes"],
  ["metrics", "metrics_bytes"],
  ["riskGuard", "risk_guard_bytes"],
  ["custom", "custom_bytes"]
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
  Number(raw.metrics_bytes ?? 0) + Number(raw.risk_guard_bytes ?? 0) + Number(raw.custom_bytes ?? 0)

type RawHeaderRow = Pick<
  RawRow,
  "session_id" | "sequence" | "snapshot_type" | "envelope_version" | "fencing_token" | "created_at_ms" | "checksum" | "header_checksum" | "loop_count"
>

/** The columns of a row's header, as the store keeps them. */
const headerRowOf = (raw: RawHeaderRow): HeaderRow => ({
  sessionId: raw.session_id,
  sequence: Number(raw.sequence),
  snapshotType: raw.snapshot_type,
  envelopeVersion: Number(raw.envelope_version),
  fencingToken: Number(raw.fencing_token),
  createdAt: Number(raw.created_at_ms),
  checksum: raw.checksum,
  headerChecksum: raw.header_checksum ?? null,
  loopCount: Number(raw.loop_count)
})

const toRow = (raw: RawRow, limit = Number.POSITIVE_INFINITY): SnapshotRow => {
  const oversized = oversizedOf(raw, limit)
  // Gzipped positions are inflated and parsed when first asked for: a restore that places this row
  // by its header, and decodes the other candidate, never pays for them.
  let positions: { readonly value: unknown; readonly unreadable?: string } | undefined
  const positionsRead = () => (positions ??= oversized === undefined ? positionsOf(raw, limit) : { value: null })
  return {
    get oversized() {
      return oversized ?? positionsRead().unreadable
    },
    storedBytes: storedBytesOf(raw),
    snapshotId: Number(raw.snapshot_id),
    ...headerRowOf(raw),
    seal: raw.seal ?? null,
    openTradeCount: raw.open_trade_count === null || raw.open_trade_count === undefined ? null : Number(raw.open_trade_count),
    status: raw.session_status,
    recordedAt: new Date(raw.recorded_at).getTime(),
    session: raw.session,
    get positions() {
      return positionsRead().value
    },
    metrics: raw.metrics,
    riskGuard: raw.risk_guard,
    custom: raw.custom ?? null
  }
}

/** The rows of the durable tier of `env` on the database of `PgClient` (migrated). */
export const rows = Effect.fnUntraced(function*(env: Env, options: PgSnapshotStoreOptions = {}) {
  const sql = yield* PgClient.PgClient
  const maxSectionBytes = options.maxSectionBytes ?? defaultMaxSectionBytes
  const compressionThreshold = options.compressionThreshold ?? defaultCompressionThreshold
  /** The JSON text of a row's positions, made once for the size check and the write of the same row. */
  const positionsTexts = new WeakMap<object, string>()
  const positionsTextOf = (positions: unknown): string => {
    if (positions === null || typeof positions !== "object") return JSON.stringify(positions)
    const known = positionsTexts.get(positions)
    if (known !== undefined) return known
    const text = JSON.stringify(positions)
    positionsTexts.set(positions, text)
    return text
  }

  /** A section column, measured by the server and sent only when it is within the size limit. */
  const guarded = (column: string, alias: string) =>
    sql.unsafe(
      `octet_length(${column}::text) AS ${alias}_bytes,
       CASE WHEN octet_length(${column}::text) > ${maxSectionBytes} THEN NULL ELSE ${column} END AS ${alias}`
    )

  const selectRecent: SnapshotRows["selectRecent"] = (sessionId, options) => {
    const where = options.beforeSequence === undefined
      ? sql`s.session_id = ${sessionId}`
      : sql`s.session_id = ${sessionId} AND s.sequence < ${options.beforeSequence}`
    return selectRows(where, options.limit).pipe(Effect.mapError(fromSqlError(`load snapshots of ${sessionId}`)))
  }

  const selectRows = (where: Statement.Fragment, limit: number) =>
    sql<RawRow>`
      SELECT s.snapshot_id, s.session_id, s.sequence, s.snapshot_type, s.envelope_version, s.fencing_token,
             s.created_at_ms, s.checksum, s.header_checksum, s.seal, s.loop_count, s.session_status, s.recorded_at,
             ${guarded("s.session", "session")}, ${guarded("p.positions", "positions")},
             octet_length(p.positions_gzip) AS positions_gzip_bytes,
             CASE WHEN octet_length(p.positions_gzip) > ${maxSectionBytes} THEN NULL ELSE p.positions_gzip END AS positions_gzip,
             ${guarded("m.metrics", "metrics")}, ${guarded("r.risk_guard", "risk_guard")}, ${guarded("s.custom", "custom")}
        FROM session_snapshots s
        LEFT JOIN position_snapshots p ON p.snapshot_id = s.snapshot_id
        LEFT JOIN metrics_snapshots m ON m.snapshot_id = s.snapshot_id
        LEFT JOIN risk_guard_snapshots r ON r.snapshot_id = s.snapshot_id
       WHERE s.env = ${env} AND ${where}
       ORDER BY s.sequence DESC
       LIMIT ${limit}`.pipe(Effect.map((rows) => rows.map((raw) => toRow(raw, maxSectionBytes))))

  const insert: SnapshotRows["insert"] = Effect.fnUntraced(function*(row: NewSnapshotRow, state: EngineState, ledger: LedgerAppend) {
    const openTrades = Object.keys(state.positions.activeTrades).length
    const positions = yield* positionsColumn(row.positions)
    // One statement, so one round trip and atomic by itself: the fencing check, then the four
    // inserts, each chained to the snapshot row. The check is made by the storage: a session with a
    // lease only takes writes that carry the token of its live lease, and the row lock (FOR SHARE,
    // held to the end of the statement) keeps a takeover from slipping in before the commit. When
    // the check fails nothing is inserted, and the lease's row says why. A sequence that is already
    // stored inserts nothing either (ON CONFLICT); the store over these rows tells a retry of the
    // same snapshot (after a lost reply) from a conflict. The ledger entries go with the snapshot
    // row (from `head`, so only when it is inserted): entries above `standingUpTo` the state does
    // not count are superseded, and an entry stored already (the same number and checksum) stands
    // again rather than being stored twice. The two touch different rows (one only those that
    // differ from every new entry, the other only those equal to one), as a statement must.
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
           checksum, header_checksum, seal, loop_count, session_status, session, custom)
        SELECT ${env}::text, ${row.sessionId}::text, ${row.sequence}::bigint, ${row.snapshotType}::text,
               ${row.envelopeVersion}::integer, ${row.fencingToken}::bigint, ${row.createdAt}::bigint,
               ${row.checksum}::text, ${row.headerChecksum ?? null}::text, ${row.seal ?? null}::text, ${row.loopCount}::bigint, ${row.status}::text, ${sql.json(row.session)}::jsonb,
               ${row.custom === null ? null : sql.json(row.custom)}::jsonb
         WHERE NOT EXISTS (SELECT 1 FROM lease WHERE fencing_token <> ${row.fencingToken}::bigint OR NOT live)
        ON CONFLICT ON CONSTRAINT session_snapshots_sequence_unique DO NOTHING
        RETURNING snapshot_id, recorded_at
      ), positions AS (
        INSERT INTO position_snapshots (snapshot_id, open_trade_count, ${sql("gzip" in positions ? "positions_gzip" : "positions")})
        SELECT snapshot_id, ${openTrades}::integer,
               ${"gzip" in positions ? sql`${positions.gzip}::bytea` : sql`${sql.json(positions.json)}::jsonb`} FROM head
      ), metrics AS (
        INSERT INTO metrics_snapshots (snapshot_id, metrics) SELECT snapshot_id, ${sql.json(row.metrics)}::jsonb FROM head
      ), risk_guard AS (
        INSERT INTO risk_guard_snapshots (snapshot_id, risk_guard) SELECT snapshot_id, ${sql.json(row.riskGuard)}::jsonb FROM head
      ), ledger_in AS (
        SELECT * FROM jsonb_to_recordset(${sql.json(ledger.rows)}::jsonb) AS n(
          "closeNumber" bigint, "tradeId" text, symbol text, "closedLoop" bigint, "closedAt" bigint,
          "realizedPnlUsd" double precision, entry jsonb, checksum text)
      ), ledger_superseded AS (
        UPDATE trade_ledger l SET superseded_at = now()
         WHERE l.env = ${env} AND l.session_id = ${row.sessionId} AND l.superseded_at IS NULL
           AND l.close_number > ${ledger.standingUpTo}::bigint AND EXISTS (SELECT 1 FROM head)
           AND NOT EXISTS (SELECT 1 FROM ledger_in n WHERE n."closeNumber" = l.close_number AND n.checksum = l.checksum)
      ), ledger AS (
        INSERT INTO trade_ledger
          (env, session_id, close_number, trade_id, symbol, closed_loop, closed_at_ms, realized_pnl_usd, entry,
           checksum, snapshot_sequence, fencing_token)
        SELECT ${env}::text, ${row.sessionId}::text, n."closeNumber", n."tradeId", n.symbol, n."closedLoop", n."closedAt",
               n."realizedPnlUsd", n.entry, n.checksum, ${row.sequence}::bigint, ${row.fencingToken}::bigint
          FROM ledger_in n, head
        ON CONFLICT (env, session_id, close_number, checksum) DO UPDATE SET superseded_at = NULL
      )
      SELECT head.snapshot_id, head.recorded_at, lease.fencing_token AS lease_token, lease.live AS lease_live,
             EXISTS (SELECT 1 FROM lease WHERE fencing_token <> ${row.fencingToken}::bigint OR NOT live) AS lease_refuses
        FROM (SELECT 1) AS one LEFT JOIN head ON true LEFT JOIN lease ON true`.pipe(
      Effect.mapError(fromSqlError(`save snapshot #${row.sequence} of ${row.sessionId}`, { write: true }))
    )
    if (result === undefined || result.lease_refuses) {
      return {
        _tag: "refused",
        leaseToken: result?.lease_token === undefined || result.lease_token === null ? null : Number(result.lease_token),
        leaseLive: result?.lease_live === true
      } as const
    }
    if (result.snapshot_id !== null && result.recorded_at !== null) {
      return { _tag: "inserted", snapshotId: Number(result.snapshot_id), recordedAt: new Date(result.recorded_at).getTime() } as const
    }
    // The sequence was taken. Read in a statement of its own: a row committed while this one waited
    // on it is visible only to a later statement.
    const [existing] = yield* sql<{ snapshot_id: bigint | number; recorded_at: Date | string; checksum: string }>`
      SELECT snapshot_id, recorded_at, checksum FROM session_snapshots
       WHERE env = ${env} AND session_id = ${row.sessionId} AND sequence = ${row.sequence}`.pipe(
      Effect.mapError(fromSqlError(`read snapshot #${row.sequence} of ${row.sessionId}`))
    )
    return {
      _tag: "taken",
      existing: existing === undefined ? undefined : {
        snapshotId: Number(existing.snapshot_id),
        recordedAt: new Date(existing.recorded_at).getTime(),
        checksum: existing.checksum
      }
    } as const
  })

  const summaryColumns = sql`
    s.snapshot_id, s.session_id, s.sequence, s.snapshot_type, s.envelope_version, s.fencing_token,
    s.created_at_ms, s.checksum, s.loop_count, s.session_status, s.recorded_at, s.session,
    p.positions, p.open_trade_count, NULL AS metrics, NULL AS risk_guard`

  const selectNewestOfEach: SnapshotRows["selectNewestOfEach"] = () =>
    sql<RawRow>`
      SELECT ${summaryColumns}
        FROM v_latest_snapshots v
        JOIN session_snapshots s ON s.snapshot_id = v.snapshot_id
        LEFT JOIN position_snapshots p ON p.snapshot_id = s.snapshot_id
       WHERE v.env = ${env}
       ORDER BY s.recorded_at DESC, s.snapshot_id DESC`.pipe(
      Effect.map((rows) => rows.map((raw) => toRow(raw))),
      Effect.mapError(fromSqlError("list sessions"))
    )

  const selectListing: SnapshotRows["selectListing"] = (sessionId: SessionId, limit: number) =>
    sql<RawRow>`
      SELECT ${summaryColumns}
        FROM session_snapshots s
        LEFT JOIN position_snapshots p ON p.snapshot_id = s.snapshot_id
       WHERE s.env = ${env} AND s.session_id = ${sessionId}
       ORDER BY s.sequence DESC
       LIMIT ${limit}`.pipe(
      Effect.map((rows) => rows.map((raw) => toRow(raw))),
      Effect.mapError(fromSqlError(`list snapshots of ${sessionId}`))
    )

  const selectOlderCeiling: SnapshotRows["selectOlderCeiling"] = (sessionId: SessionId, limit: number) =>
    sql<{
      readonly newest_sequence: bigint | number | string | null
      readonly loop_count: bigint | number | string | null
      readonly fencing_token: bigint | number | string | null
      readonly unsealed: bigint | number | string
    }>`
      WITH newest AS (
        SELECT max(sequence) AS sequence FROM session_snapshots WHERE env = ${env} AND session_id = ${sessionId}
      ), older AS (
        SELECT s.loop_count, s.fencing_token, s.header_checksum
          FROM session_snapshots s, newest n
         WHERE s.env = ${env} AND s.session_id = ${sessionId} AND s.sequence < n.sequence
         ORDER BY s.sequence DESC
         LIMIT ${Number.isFinite(limit) ? limit : null}
      )
      SELECT (SELECT sequence FROM newest) AS newest_sequence, max(loop_count) AS loop_count, max(fencing_token) AS fencing_token,
             count(*) FILTER (WHERE header_checksum IS NULL) AS unsealed
        FROM older`.pipe(
      Effect.map(([row]) => ({
        newestSequence: row?.newest_sequence == null ? null : Number(row.newest_sequence),
        loopCount: row?.loop_count == null ? null : Number(row.loop_count),
        fencingToken: row?.fencing_token == null ? null : Number(row.fencing_token),
        unsealed: Number(row?.unsealed ?? 0)
      })),
      Effect.mapError(fromSqlError(`read the older snapshots of ${sessionId}`))
    )

  const selectHighestSequence: SnapshotRows["selectHighestSequence"] = (sessionId: SessionId) =>
    sql<{ sequence: bigint | number | string | null }>`
      SELECT max(sequence) AS sequence FROM session_snapshots
       WHERE env = ${env} AND session_id = ${sessionId} AND sequence < ${Number.MAX_SAFE_INTEGER}`.pipe(
      Effect.map(([row]) => Number(row?.sequence ?? 0)),
      Effect.mapError(fromSqlError(`read the sequence of ${sessionId}`))
    )

  const cut: SnapshotRows["cut"] = ({ dryRun, keepLatest, olderThanDays, protectedIds }) => {
    const ids = `{${protectedIds.join(",")}}`
    return (dryRun
      ? sql<HistoryCutRow>`SELECT * FROM retention_plan(${olderThanDays}, ${keepLatest}, ${env}, ${ids}::bigint[])`
      : sql<HistoryCutRow>`SELECT * FROM cut_snapshot_history(${olderThanDays}, ${keepLatest}, ${env}, ${ids}::bigint[])`).pipe(
      Effect.map((rows) =>
        rows.map((row): HistoryCut => ({
          sessionId: row.session_id,
          removed: Number(row.removed),
          oldestSequence: Number(row.oldest_sequence),
          newestSequence: Number(row.newest_sequence),
          newestLoopCount: Number(row.newest_loop_count)
        }))
      ),
      Effect.mapError(fromSqlError("cleanup"))
    )
  }

  /** The positions column of a row to write: its JSONB, or its JSON gzipped when it is large. */
  const positionsColumn = Effect.fnUntraced(function*(positions: unknown) {
    const text = positionsTextOf(positions)
    return text.length > compressionThreshold ? { gzip: yield* gzipOffLoop(text) } : { json: positions }
  })

  const reseal: SnapshotRows["reseal"] = (snapshotId, previousSeal, row) =>
    Effect.gen(function*() {
      const positions = yield* positionsColumn(row.positions)
      const [result] = yield* sql<{ readonly updated: bigint | number | string }>`
        WITH head AS (
          UPDATE session_snapshots SET seal = ${row.seal ?? null}::text, session = ${sql.json(row.session)}::jsonb,
                 custom = ${row.custom === null ? null : sql.json(row.custom)}::jsonb
           WHERE env = ${env} AND snapshot_id = ${snapshotId} AND seal IS NOT DISTINCT FROM ${previousSeal}::text
          RETURNING snapshot_id
        ), positions AS (
          UPDATE position_snapshots
             SET positions = ${"json" in positions ? sql`${sql.json(positions.json)}::jsonb` : sql`NULL::jsonb`},
                 positions_gzip = ${"gzip" in positions ? sql`${positions.gzip}::bytea` : sql`NULL::bytea`}
           WHERE snapshot_id IN (SELECT snapshot_id FROM head)
        ), metrics AS (
          UPDATE metrics_snapshots SET metrics = ${sql.json(row.metrics)}::jsonb WHERE snapshot_id IN (SELECT snapshot_id FROM head)
        ), risk_guard AS (
          UPDATE risk_guard_snapshots SET risk_guard = ${sql.json(row.riskGuard)}::jsonb WHERE snapshot_id IN (SELECT snapshot_id FROM head)
        )
        SELECT count(*) AS updated FROM head`.pipe(Effect.mapError(fromSqlError(`re-seal snapshot #${row.sequence} of ${row.sessionId}`, { write: true })))
      return Number(result?.updated ?? 0) === 1
    })

  return {
    kind: "postgres",
    maxSectionBytes,
    // A read measures `octet_length(section::text)`: PostgreSQL's text form, which is never shorter
    // than the JSON written (spaces after `:` and `,`, numbers in plain decimal).
    // The positions' text is the one written; the other sections are small.
    payloadBytes: (row) => payloadBytesOf(row, positionsTextOf(row.positions)),
    sectionBytes: (name, value) => {
      if (name !== "positions" || value === null || typeof value !== "object") return jsonbTextBytes(value)
      // Positions stored gzipped are read back by their JSON text, inflated within the limit.
      const text = positionsTextOf(value)
      return text.length > compressionThreshold ? Buffer.byteLength(text) : jsonbTextBytes(value)
    },
    insert,
    selectRecent,
    selectNewestOfEach,
    selectOlderCeiling,
    selectListing,
    selectHighestSequence,
    cut,
    reseal
  } satisfies SnapshotRows
})

/** The durable tier of `env` on the database of `PgClient` (migrated). */
export const make = (env: Env, options: PgSnapshotStoreOptions = {}) =>
  Effect.map(rows(env, options), (backing) => fromRows(env, backing, options.protection))

/** Settings of the PostgreSQL durable tier. */
export interface PgSnapshotStoreOptions {
  /** Sections larger than this (stored, or once inflated) are refused on read (default 16 MiB). */
  readonly maxSectionBytes?: number
  /** Positions JSON above this many bytes is stored gzipped (default 8 KiB). */
  readonly compressionThreshold?: number
  /** The keys snapshots are sealed (and maybe encrypted) with; none: neither. */
  readonly protection?: StateProtection
}

/** The PostgreSQL backing of the durable tier for `env`; needs a `PgClient` on a migrated database. */
export const layer = (env: Env, options: PgSnapshotStoreOptions = {}): Layer.Layer<SnapshotStore, never, PgClient.PgClient> =>
  Layer.effect(SnapshotStore, make(env, options))
