/**
 * 0007: the trade ledger, every closed trade of a session.
 *
 * Why it exists: closed trades lived only as differences between snapshots,
 * so trades closed in one loop could not be told apart (their PnL was
 * "shared"), and retention, which removes snapshots, erased them. A ledger
 * row is written by the same statement as the first snapshot whose state
 * counts the close (under the same lease check), and snapshot retention never
 * touches it; its own retention (`cut_trade_ledger`) runs only when asked.
 *
 * A row is the session's `close_number`-th close: `entry` its versioned
 * stored form, `checksum` over the session, the number and the entry. A
 * resume that falls back to an older state (its newer snapshots damaged)
 * abandons the closes that state does not count: their rows are kept,
 * marked `superseded_at`, and a re-close of the same number is a new row.
 * So at most one row per number is not superseded, which the writer keeps
 * (the index below only makes the same entry unique, so that a retry after a
 * lost reply writes it once).
 *
 * Released: never edit; add a new migration instead.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE trade_ledger (
      entry_id          bigserial        PRIMARY KEY,
      env               text             NOT NULL,
      session_id        text             NOT NULL,
      close_number      bigint           NOT NULL CHECK (close_number >= 1),
      trade_id          text             NOT NULL,
      symbol            text             NOT NULL,
      closed_loop       bigint           NOT NULL,
      closed_at_ms      bigint           NOT NULL,
      realized_pnl_usd  double precision NOT NULL,
      entry             jsonb            NOT NULL,
      checksum          text             NOT NULL,
      snapshot_sequence bigint           NOT NULL,
      fencing_token     bigint           NOT NULL,
      recorded_at       timestamptz      NOT NULL DEFAULT now(),
      superseded_at     timestamptz
    )`
  yield* sql`CREATE UNIQUE INDEX trade_ledger_entry_unique ON trade_ledger (env, session_id, close_number, checksum)`
  yield* sql`CREATE INDEX trade_ledger_standing ON trade_ledger (env, session_id, close_number) WHERE superseded_at IS NULL`
  yield* sql`CREATE INDEX trade_ledger_recorded ON trade_ledger (env, recorded_at)`
  // The ledger's own retention: rows recorded at least `days_to_keep` days ago, each session's cut
  // recorded among its events. Nothing calls it unless an operator asks (it is off by default).
  yield* sql`
    CREATE FUNCTION cut_trade_ledger(days_to_keep integer, target_env text, dry_run boolean)
    RETURNS TABLE (session_id text, removed bigint, oldest_close bigint, newest_close bigint)
    LANGUAGE plpgsql AS $$
    BEGIN
      IF dry_run THEN
        RETURN QUERY
          SELECT l.session_id, count(*)::bigint, min(l.close_number)::bigint, max(l.close_number)::bigint
            FROM trade_ledger l
           WHERE l.env = target_env AND l.recorded_at <= now() - make_interval(days => days_to_keep)
           GROUP BY l.session_id ORDER BY l.session_id;
        RETURN;
      END IF;
      RETURN QUERY
        WITH gone AS (
          DELETE FROM trade_ledger l
           WHERE l.env = target_env AND l.recorded_at <= now() - make_interval(days => days_to_keep)
          RETURNING l.session_id, l.close_number
        ), cuts AS (
          SELECT g.session_id, count(*)::bigint AS removed, min(g.close_number)::bigint AS oldest_close,
                 max(g.close_number)::bigint AS newest_close
            FROM gone g GROUP BY g.session_id
        ), recorded AS (
          INSERT INTO session_events (env, session_id, kind, fencing_token, loop_count, detail)
          SELECT target_env, c.session_id, 'ledger_cut', 0, 0,
                 jsonb_build_object('removed', c.removed, 'oldestClose', c.oldest_close,
                                    'newestClose', c.newest_close, 'olderThanDays', days_to_keep)
            FROM cuts c
        )
        SELECT c.session_id, c.removed, c.oldest_close, c.newest_close FROM cuts c ORDER BY c.session_id;
    END $$`
})
