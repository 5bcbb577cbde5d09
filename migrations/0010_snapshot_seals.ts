/**
 * 0010: a seal per snapshot.
 *
 * Why it exists: the checksum and the header seal catch damage, not a
 * forgery; anyone who can write rows can compute them. With `STATE_KEYS`
 * configured, a writer stores `seal`: an HMAC-SHA256 under a key only the
 * runners hold, over the row's env, session, sequence, type, fencing token,
 * creation time, loop count and payload checksum, prefixed with the key's id
 * (`hmac-sha256:<id>:<hex>`). A reader with keys refuses a row whose seal does
 * not hold ("not authentic"). `NULL`: written without keys.
 *
 * Released: never edit; add a new migration instead.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE session_snapshots ADD COLUMN seal text`
})
