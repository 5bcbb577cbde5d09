/**
 * 0005: retention that can be looked at before it is done, and that leaves
 * a record of what it cut.
 *
 * Why it exists: `cleanup_old_snapshots` (0001) removed snapshots and said
 * only how many. An operator could not see beforehand what a run would take
 * (`cleanup --dry-run`), nor the session report afterwards that a session's
 * history had been cut. The choice of what goes now lives in one function,
 * `snapshots_past_retention` (the rule of 0001, unchanged: older than
 * `days_to_keep`, beyond the newest `keep_latest` of its session, not among
 * `protected_ids`), read by both the plan (`retention_plan`, per session:
 * how many, the oldest and newest sequence, the newest loop) and the cut
 * (`cut_snapshot_history`), which removes exactly what the plan names, in
 * one statement, and records a `history_cut` event per session beside the
 * resume events of 0004. `cleanup_old_snapshots` keeps its signature and
 * now cuts through the same function, so that no second rule remains.
 *
 * Released: never edit; add a new migration instead.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // The one rule. Columns are qualified: in PL/pgSQL the output columns are variables too.
  yield* sql`
    CREATE FUNCTION snapshots_past_retention(
      days_to_keep  integer,
      keep_latest   integer  DEFAULT 1,
      only_env      text     DEFAULT NULL,
      protected_ids bigint[] DEFAULT '{}'
    ) RETURNS TABLE (snapshot_id bigint, env text, session_id text, sequence bigint, loop_count bigint)
    LANGUAGE plpgsql STABLE AS $$
    BEGIN
      IF days_to_keep IS NULL OR days_to_keep < 0 THEN
        RAISE EXCEPTION 'days_to_keep must be a non-negative number of days, got %', days_to_keep;
      END IF;
      IF keep_latest IS NULL OR keep_latest < 1 THEN
        RAISE EXCEPTION 'keep_latest must be at least 1, got %', keep_latest;
      END IF;
      RETURN QUERY
        SELECT r.snapshot_id, r.env, r.session_id, r.sequence, r.loop_count
          FROM (SELECT s.snapshot_id, s.env, s.session_id, s.sequence, s.loop_count, s.recorded_at,
                       row_number() OVER (PARTITION BY s.env, s.session_id ORDER BY s.sequence DESC) AS newest_rank
                  FROM session_snapshots s
                 WHERE only_env IS NULL OR s.env = only_env) r
         WHERE r.newest_rank > keep_latest
           AND r.recorded_at <= now() - make_interval(days => days_to_keep)
           AND NOT (r.snapshot_id = ANY (coalesce(protected_ids, '{}')));
    END
    $$`
  // What a cut with these arguments would remove, per session (a dry run).
  yield* sql`
    CREATE FUNCTION retention_plan(
      days_to_keep  integer,
      keep_latest   integer  DEFAULT 1,
      only_env      text     DEFAULT NULL,
      protected_ids bigint[] DEFAULT '{}'
    ) RETURNS TABLE (env text, session_id text, removed bigint, oldest_sequence bigint, newest_sequence bigint, newest_loop_count bigint)
    LANGUAGE sql STABLE AS $$
      SELECT p.env, p.session_id, count(*), min(p.sequence), max(p.sequence), max(p.loop_count)
        FROM snapshots_past_retention(days_to_keep, keep_latest, only_env, protected_ids) p
       GROUP BY p.env, p.session_id
       ORDER BY p.env, p.session_id
    $$`
  // Removes what the plan names and records the cut of each session; one statement, so the plan,
  // the deletion and the events see the same snapshot of the table and commit together.
  yield* sql`
    CREATE FUNCTION cut_snapshot_history(
      days_to_keep  integer,
      keep_latest   integer  DEFAULT 1,
      only_env      text     DEFAULT NULL,
      protected_ids bigint[] DEFAULT '{}'
    ) RETURNS TABLE (env text, session_id text, removed bigint, oldest_sequence bigint, newest_sequence bigint, newest_loop_count bigint)
    LANGUAGE sql AS $$
      WITH plan AS (
        SELECT * FROM retention_plan(days_to_keep, keep_latest, only_env, protected_ids)
      ), doomed AS (
        DELETE FROM session_snapshots s
         USING snapshots_past_retention(days_to_keep, keep_latest, only_env, protected_ids) p
         WHERE s.snapshot_id = p.snapshot_id
      ), recorded AS (
        INSERT INTO session_events (env, session_id, kind, fencing_token, loop_count, detail)
        SELECT plan.env, plan.session_id, 'history_cut', 0, plan.newest_loop_count,
               jsonb_build_object(
                 'removed', plan.removed,
                 'oldestSequence', plan.oldest_sequence,
                 'newestSequence', plan.newest_sequence,
                 'olderThanDays', days_to_keep,
                 'keepLatest', keep_latest
               )
          FROM plan
      )
      SELECT * FROM plan
    $$`
  yield* sql`
    CREATE OR REPLACE FUNCTION cleanup_old_snapshots(
      days_to_keep  integer,
      keep_latest   integer  DEFAULT 1,
      only_env      text     DEFAULT NULL,
      protected_ids bigint[] DEFAULT '{}'
    ) RETURNS integer
    LANGUAGE sql AS $$
      SELECT coalesce(sum(c.removed), 0)::integer FROM cut_snapshot_history(days_to_keep, keep_latest, only_env, protected_ids) c
    $$`
})
