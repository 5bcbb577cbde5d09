/**
 * 0004: what happened to a session, besides its snapshots.
 *
 * Why it exists: a snapshot says what the state was, not how the session got
 * there. An operator looking back at a session needs to see where it was
 * resumed and from which source (the live tier, or which snapshot), and how
 * many candidates the restore passed over. One row per event, never updated.
 *
 * Released: never edit; add a new migration instead.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE session_events (
      event_id      bigserial   PRIMARY KEY,
      env           text        NOT NULL,
      session_id    text        NOT NULL,
      kind          text        NOT NULL,
      fencing_token bigint      NOT NULL,
      loop_count    bigint      NOT NULL,
      detail        jsonb       NOT NULL,
      recorded_at   timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`CREATE INDEX session_events_by_session ON session_events (env, session_id, event_id)`
})
