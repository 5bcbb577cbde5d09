/**
 * 0006: a runner's own sections, stored with the snapshot.
 *
 * Why it exists: a runner persists state of its own beside the four built-in
 * sections (a strategy's indicators, a cooldown, an order book cursor). They
 * are written by the same statement as the snapshot row, so they are part of
 * it or absent with it, and the snapshot's checksum covers them. NULL: the
 * runner had none (every row written before this migration).
 *
 * Released: never edit; add a new migration instead.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE session_snapshots ADD COLUMN custom jsonb`
})
