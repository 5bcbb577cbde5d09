/**
 * The PostgreSQL migrations, in order. Each module says why it exists and is
 * never edited once released; a change is a new module added here.
 */
import snapshotTables from "./0001_snapshot_tables.ts"
import sessionLeases from "./0002_session_leases.ts"
import compressedPositions from "./0003_compressed_positions.ts"
import sessionEvents from "./0004_session_events.ts"
import retentionPlan from "./0005_retention_plan.ts"
import customSections from "./0006_custom_sections.ts"
import tradeLedger from "./0007_trade_ledger.ts"
import snapshotHeaders from "./0008_snapshot_headers.ts"
import runnerRole from "./0009_runner_role.ts"
import snapshotSeals from "./0010_snapshot_seals.ts"

/** Migrations by `NNNN_name`, as `effect/sql` Migrator's `fromRecord` expects. */
export const migrations = {
  "0001_snapshot_tables": snapshotTables,
  "0002_session_leases": sessionLeases,
  "0003_compressed_positions": compressedPositions,
  "0004_session_events": sessionEvents,
  "0005_retention_plan": retentionPlan,
  "0006_custom_sections": customSections,
  "0007_trade_ledger": tradeLedger,
  "0008_snapshot_headers": snapshotHeaders,
  "0009_runner_role": runnerRole,
  "0010_snapshot_seals": snapshotSeals
}
