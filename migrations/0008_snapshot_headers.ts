/**
 * 0008: a sealed header per snapshot.
 *
 * Why it exists: a restore compares the live tier's state and the newest
 * snapshot by loop count, and only the fresher needs decoding, which for a
 * large state is most of a restore's time. The loop count and the fencing
 * token of a snapshot are columns that its checksum does not cover (the
 * checksum covers the metadata and the payload, and takes the payload's
 * whole decoding to check). `header_checksum` seals those columns with the
 * payload's checksum: the row's envelope version, session, type, sequence,
 * fencing token, creation time, loop count and checksum, under a checksum of
 * their own, so a restore can trust them without decoding the payload. A row
 * written before it (`NULL`) has no header: a restore decodes it as before.
 *
 * Released: never edit; add a new migration instead.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE session_snapshots ADD COLUMN header_checksum text`
})
