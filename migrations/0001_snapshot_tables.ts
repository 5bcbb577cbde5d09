/**
 * 0001: the durable tier of the original design, made safe to read back.
 *
 * Why it exists: snapshots must survive the process and Redis. One row in
 * `session_snapshots` per snapshot holds the envelope's metadata (the exact
 * values its checksum covers) and the session section; the other three
 * sections live in their own tables, one row each, linked by snapshot_id and
 * written in the same transaction. `env` namespaces deployments (and test
 * files) sharing one database. `(env, session_id, sequence)` is unique, so a
 * sequence number can never be written twice. `recorded_at` is the server's
 * clock at write time and drives retention.
 *
 * Released: never edit; add a new migration instead.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE session_snapshots (
      snapshot_id      bigserial PRIMARY KEY,
      env              text        NOT NULL,
      session_id       text        NOT NULL,
      sequence         bigint      NOT NULL CHECK (sequence >= 0),
      snapshot_type    text        NOT NULL CHECK (snapshot_type IN ('periodic', 'trade', 'shutdown', 'manual')),
      envelope_version integer     NOT NULL,
      fencing_token    bigint      NOT NULL CHECK (fencing_token >= 0),
      created_at_ms    bigint      NOT NULL,
      checksum         text        NOT NULL,
      loop_count       bigint      NOT NULL,
      session_status   text        NOT NULL,
      session          jsonb       NOT NULL,
      recorded_at      timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT session_snapshots_sequence_unique UNIQUE (env, session_id, sequence)
    )`
  yield* sql`
    CREATE TABLE position_snapshots (
      snapshot_id      bigint  PRIMARY KEY REFERENCES session_snapshots (snapshot_id) ON DELETE CASCADE,
      open_trade_count integer NOT NULL CHECK (open_trade_count >= 0),
      positions        jsonb   NOT NULL
    )`
  yield* sql`
    CREATE TABLE metrics_snapshots (
      snapshot_id bigint PRIMARY KEY REFERENCES session_snapshots (snapshot_id) ON DELETE CASCADE,
      metrics     jsonb  NOT NULL
    )`
  yield* sql`
    CREATE TABLE risk_guard_snapshots (
      snapshot_id bigint PRIMARY KEY REFERENCES session_snapshots (snapshot_id) ON DELETE CASCADE,
      risk_guard  jsonb  NOT NULL
    )`
  // "Latest snapshots of session X, newest first" is the restore path's query; the unique
  // constraint's index serves it in both directions. Retention scans by age.
  yield* sql`CREATE INDEX session_snapshots_recorded_at ON session_snapshots (recorded_at)`
  yield* sql`
    CREATE VIEW v_latest_snapshots AS
      SELECT DISTINCT ON (s.env, s.session_id)
             s.snapshot_id, s.env, s.session_id, s.sequence, s.snapshot_type, s.fencing_token,
             s.created_at_ms, s.loop_count, s.session_status, s.recorded_at,
             p.open_trade_count
        FROM session_snapshots s
        LEFT JOIN position_snapshots p USING (snapshot_id)
       ORDER BY s.env, s.session_id, s.sequence DESC`
  // Deletes snapshots recorded more than days_to_keep days ago, except the newest keep_latest
  // of every session and the ids in protected_ids (the caller passes the newest snapshot it
  // verified as valid for each session, so retention never leaves a session without one).
  // Returns how many snapshots it removed; their section rows go with them (ON DELETE CASCADE).
  yield* sql`
    CREATE FUNCTION cleanup_old_snapshots(
      days_to_keep  integer,
      keep_latest   integer  DEFAULT 1,
      only_env      text     DEFAULT NULL,
      protected_ids bigint[] DEFAULT '{}'
    ) RETURNS integer
    LANGUAGE plpgsql AS $$
    DECLARE
      removed integer;
    BEGIN
      IF days_to_keep IS NULL OR days_to_keep < 0 THEN
        RAISE EXCEPTION 'days_to_keep must be a non-negative number of days, got %', days_to_keep;
      END IF;
      IF keep_latest IS NULL OR keep_latest < 1 THEN
        RAISE EXCEPTION 'keep_latest must be at least 1, got %', keep_latest;
      END IF;
      WITH ranked AS (
        SELECT snapshot_id, recorded_at,
               row_number() OVER (PARTITION BY env, session_id ORDER BY sequence DESC) AS newest_rank
          FROM session_snapshots
         WHERE only_env IS NULL OR env = only_env
      ), doomed AS (
        DELETE FROM session_snapshots s
         USING ranked r
         WHERE s.snapshot_id = r.snapshot_id
           AND r.newest_rank > keep_latest
           AND r.recorded_at <= now() - make_interval(days => days_to_keep)
           AND NOT (s.snapshot_id = ANY (protected_ids))
        RETURNING 1
      )
      SELECT count(*) INTO removed FROM doomed;
      RETURN removed;
    END
    $$`
})
