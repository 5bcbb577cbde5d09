/**
 * 0002: one writer per session.
 *
 * Why it exists: two runners resuming the same session would both trade on
 * it. A runner holds a lease on its session; each acquisition increments the
 * session's fencing token, which never goes down (rows are never deleted, a
 * release only expires the lease). Snapshot writes check, inside their
 * transaction, that they carry the current token of a live lease, so a
 * runner that lost its lease cannot write even if it does not know yet.
 *
 * Released: never edit; add a new migration instead.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE session_leases (
      env           text        NOT NULL,
      session_id    text        NOT NULL,
      holder        text        NOT NULL,
      fencing_token bigint      NOT NULL CHECK (fencing_token >= 1),
      acquired_at   timestamptz NOT NULL DEFAULT now(),
      renewed_at    timestamptz NOT NULL DEFAULT now(),
      expires_at    timestamptz NOT NULL,
      PRIMARY KEY (env, session_id)
    )`
})
