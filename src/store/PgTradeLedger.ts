/**
 * PgTradeLedger: the trade ledger in PostgreSQL (`trade_ledger`, migration
 * 0007). Its entries are written by the snapshot statement
 * (`PgSnapshotStore`); this backing reads them, and runs the ledger's own
 * retention (`cut_trade_ledger`).
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer } from "effect"
import type { Env, SessionId } from "../domain/Ids.ts"
import type { VersionedJson } from "../domain/VersionedSection.ts"
import { fromSqlError } from "./internal/SqlErrors.ts"
import { fromRows, type LedgerCut, type LedgerRow, type LedgerRows, TradeLedger } from "./TradeLedger.ts"

type Int8 = bigint | number | string

interface RawLedgerRow {
  readonly entry_id: Int8
  readonly session_id: string
  readonly close_number: Int8
  readonly trade_id: string
  readonly symbol: string
  readonly closed_loop: Int8
  readonly closed_at_ms: Int8
  readonly realized_pnl_usd: number | string
  readonly entry: VersionedJson
  readonly checksum: string
  readonly snapshot_sequence: Int8
  readonly fencing_token: Int8
  readonly recorded_at: Date | string
  readonly superseded_at: Date | string | null
}

const toRow = (raw: RawLedgerRow): LedgerRow => ({
  entryId: Number(raw.entry_id),
  sessionId: raw.session_id,
  closeNumber: Number(raw.close_number),
  tradeId: raw.trade_id,
  symbol: raw.symbol,
  closedLoop: Number(raw.closed_loop),
  closedAt: Number(raw.closed_at_ms),
  realizedPnlUsd: Number(raw.realized_pnl_usd),
  entry: raw.entry,
  checksum: raw.checksum,
  snapshotSequence: Number(raw.snapshot_sequence),
  fencingToken: Number(raw.fencing_token),
  recordedAt: new Date(raw.recorded_at).getTime(),
  supersededAt: raw.superseded_at === null ? null : new Date(raw.superseded_at).getTime()
})

/** The ledger rows of `env` on the database of `PgClient` (migrated). */
export const rows = Effect.fnUntraced(function*(env: Env) {
  const sql = yield* PgClient.PgClient
  const selectStanding: LedgerRows["selectStanding"] = (sessionId: SessionId, afterCloseNumber: number, limit: number) =>
    sql<RawLedgerRow>`
      SELECT * FROM trade_ledger
       WHERE env = ${env} AND session_id = ${sessionId} AND superseded_at IS NULL AND close_number > ${afterCloseNumber}
       ORDER BY close_number, entry_id
       LIMIT ${limit}`.pipe(
      Effect.map((found) => found.map(toRow)),
      Effect.mapError(fromSqlError(`read the trade ledger of ${sessionId}`))
    )
  const cut: LedgerRows["cut"] = ({ dryRun, olderThanDays }) =>
    sql<{ session_id: string; removed: Int8; oldest_close: Int8; newest_close: Int8 }>`
      SELECT * FROM cut_trade_ledger(${olderThanDays}, ${env}, ${dryRun})`.pipe(
      Effect.map((found) =>
        found.map((row): LedgerCut => ({
          sessionId: row.session_id,
          removed: Number(row.removed),
          oldestClose: Number(row.oldest_close),
          newestClose: Number(row.newest_close)
        }))
      ),
      Effect.mapError(fromSqlError("trade ledger cleanup"))
    )
  return { kind: "postgres", selectStanding, cut } satisfies LedgerRows
})

/** The trade ledger of `env` on the database of `PgClient` (migrated). */
export const make = (env: Env) => Effect.map(rows(env), (backing) => fromRows(env, backing))

/** The PostgreSQL backing of the trade ledger of `env`; needs a `PgClient` on a migrated database. */
export const layer = (env: Env): Layer.Layer<TradeLedger, never, PgClient.PgClient> => Layer.effect(TradeLedger, make(env))
