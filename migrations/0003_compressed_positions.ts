/**
 * 0003: large positions sections are stored compressed.
 *
 * Why it exists: the positions section grows with the open trades (about
 * 700 bytes each). PostgreSQL's own TOAST compression kept a 1,000-trade
 * section at 288 KB (pglz; lz4 was no better), gzip in the application at
 * 170 KB, with the same restore speed (see BENCHMARKS.md). A snapshot whose
 * positions JSON is above the threshold stores them gzipped in
 * `positions_gzip` and leaves `positions` NULL; exactly one of the two is
 * set. Rows written before this migration keep their JSONB and still read.
 *
 * Released: never edit; add a new migration instead.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE position_snapshots ALTER COLUMN positions DROP NOT NULL`
  yield* sql`ALTER TABLE position_snapshots ADD COLUMN positions_gzip bytea`
  yield* sql`
    ALTER TABLE position_snapshots ADD CONSTRAINT position_snapshots_one_form
      CHECK ((positions IS NULL) <> (positions_gzip IS NULL))`
})
