/**
 * 0009: a role for runners, with only what a runner does.
 *
 * Why it exists: a runner connected as the owner of the tables can drop
 * them, and a stolen runner credential would be a way to erase a session's
 * history. The role `arbitrage_state_runner` (no login of its own: a login
 * role is made a member of it, see the README's Security section) may read
 * and insert snapshots, the trade ledger and session events, mark ledger
 * entries superseded, take and renew leases, and read which migrations are
 * applied. It deletes nothing itself: snapshot retention's functions
 * (`cut_snapshot_history`, `cleanup_old_snapshots`) run as their owner
 * (`SECURITY DEFINER`, with a fixed `search_path` that ends with `pg_temp`)
 * and are the only way it removes rows; they keep each session's newest
 * snapshot and record every cut among the session's events, which it cannot
 * delete. Nobody else may call them. The trade ledger's own retention
 * (`cut_trade_ledger`) is the owner's alone. It cannot create, alter, drop
 * or truncate anything. Its reach is the database's, not one env's: the
 * leases and ledger marks it may update are those of every env there.
 *
 * The role is made when the migrating user may make roles; otherwise (a
 * managed database whose owner may not) it is skipped with a notice, and the
 * grants with it: an operator who makes the role later runs the grants of
 * this file by hand (the README says how).
 *
 * Released: never edit; add a new migration instead.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/** The role's name (roles are the cluster's: one name for every database of the project). */
export const runnerRole = "arbitrage_state_runner"

/** Snapshot retention's removing functions, by signature: they run as their owner, for the runner only. */
const retentionFunctions = [
  "cut_snapshot_history(integer, integer, text, bigint[])",
  "cleanup_old_snapshots(integer, integer, text, bigint[])"
]

/** The trade ledger's retention: its owner's alone (a runner never needs to cut the ledger). */
const ledgerCut = "cut_trade_ledger(integer, text, boolean)"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(`
    DO $$
    BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${runnerRole}') THEN
        BEGIN
          CREATE ROLE ${runnerRole} NOLOGIN;
        EXCEPTION
          WHEN duplicate_object THEN NULL;
          WHEN insufficient_privilege THEN
            RAISE NOTICE 'role ${runnerRole} not made: % may not make roles; make it and run the grants of migration 0009 by hand', current_user;
        END;
      END IF;
    END $$`)
  const [found] = yield* sql<{ readonly role: boolean; readonly schema: string }>`
    SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = ${runnerRole}) AS role, quote_ident(current_schema()) AS schema`
  if (found === undefined) return
  const { schema } = found
  // Retention runs as its owner whoever calls it, so nobody but the runner may; its search path ends
  // with pg_temp, so that a caller's temporary table cannot stand in for one of its tables (and hide
  // the events that record a cut).
  for (const signature of retentionFunctions) {
    yield* sql.unsafe(`ALTER FUNCTION ${signature} SECURITY DEFINER SET search_path = pg_catalog, ${schema}, pg_temp`)
    yield* sql.unsafe(`REVOKE ALL ON FUNCTION ${signature} FROM PUBLIC`)
  }
  yield* sql.unsafe(`REVOKE ALL ON FUNCTION ${ledgerCut} FROM PUBLIC`)
  if (!found.role) return
  yield* sql.unsafe(`GRANT USAGE ON SCHEMA ${schema} TO ${runnerRole}`)
  yield* sql.unsafe(`GRANT SELECT, INSERT ON session_snapshots, position_snapshots, metrics_snapshots, risk_guard_snapshots, session_events, trade_ledger TO ${runnerRole}`)
  yield* sql.unsafe(`GRANT UPDATE (superseded_at) ON trade_ledger TO ${runnerRole}`)
  yield* sql.unsafe(`GRANT SELECT, INSERT, UPDATE ON session_leases TO ${runnerRole}`)
  yield* sql.unsafe(`GRANT SELECT ON v_latest_snapshots, arbitrage_state_migrations TO ${runnerRole}`)
  yield* sql.unsafe(`GRANT USAGE ON ALL SEQUENCES IN SCHEMA ${schema} TO ${runnerRole}`)
  for (const signature of retentionFunctions) yield* sql.unsafe(`GRANT EXECUTE ON FUNCTION ${signature} TO ${runnerRole}`)
  yield* sql.unsafe(`REVOKE ALL ON FUNCTION ${ledgerCut} FROM ${runnerRole}`)
})
