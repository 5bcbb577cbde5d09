/**
 * What a writer with database access does to a snapshot row when it knows
 * how checksums are made but holds no state key: changes its metrics (or
 * nothing), then recomputes the payload's checksum over what is stored now,
 * and the header's seal with it when asked (a buggy writer, or a forger).
 */
import { PgClient } from "@effect/sql-pg"
import { Effect } from "effect"
import { snapshotChecksum } from "../../src/domain/Snapshot.ts"
import { headerChecksumOf } from "../../src/store/internal/SnapshotRows.ts"

export const recomputeChecksums = (
  snapshotId: number,
  options: { readonly changeMetrics?: (metrics: any) => any; readonly header: boolean }
) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const [row] = yield* sql<any>`
      SELECT s.*, p.positions, m.metrics, r.risk_guard FROM session_snapshots s
        JOIN position_snapshots p USING (snapshot_id) JOIN metrics_snapshots m USING (snapshot_id)
        JOIN risk_guard_snapshots r USING (snapshot_id) WHERE s.snapshot_id = ${snapshotId}`
    const metrics = options.changeMetrics === undefined ? row.metrics : options.changeMetrics(structuredClone(row.metrics))
    const metadata = {
      envelopeVersion: Number(row.envelope_version),
      sessionId: row.session_id,
      snapshotType: row.snapshot_type,
      sequence: Number(row.sequence),
      fencingToken: Number(row.fencing_token),
      createdAt: Number(row.created_at_ms)
    }
    const checksum = snapshotChecksum(metadata, {
      session: row.session,
      positions: row.positions,
      metrics,
      riskGuard: row.risk_guard,
      ...(row.custom === null ? {} : { custom: row.custom })
    })
    if (options.changeMetrics !== undefined) yield* sql`UPDATE metrics_snapshots SET metrics = ${sql.json(metrics)} WHERE snapshot_id = ${snapshotId}`
    yield* options.header
      ? sql`UPDATE session_snapshots SET checksum = ${checksum},
              header_checksum = ${headerChecksumOf({ ...metadata, loopCount: Number(row.loop_count), checksum })}
             WHERE snapshot_id = ${snapshotId}`
      : sql`UPDATE session_snapshots SET checksum = ${checksum} WHERE snapshot_id = ${snapshotId}`
  })
