/**
 * Least privilege on the database: a login role made a member of
 * `arbitrage_state_runner` (migration 0009) runs sessions, restores them and
 * runs retention, and cannot drop, truncate, delete or rewrite anything by
 * itself; retention's removing functions are the runner's alone. A role
 * without the membership cannot call them. A runner role on a database whose
 * migrations are not applied is told to apply them as the owner.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Layer, Redacted } from "effect"
import { randomInt } from "node:crypto"
import { runCli } from "../support/Cli.ts"
import { testPostgres } from "../support/Backings.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"
import { migrated } from "../../src/store/Persistence.ts"

const suffix = randomInt(1e9).toString(36)
const runnerLogin = `test_runner_${suffix}`
const strangerLogin = `test_stranger_${suffix}`
const otherDatabase = `test_unmigrated_${suffix}`

/** The test database's URL as `user`. */
const urlAs = (user: string, database = "test") => {
  const url = new URL(Redacted.value(testDatabaseUrl))
  url.username = user
  url.password = ""
  url.pathname = `/${database}`
  return url.toString()
}

/** A client of the test database as `user`. */
const clientAs = (user: string) => PgClient.layer({ url: Redacted.make(urlAs(user)), maxConnections: 1 })

/** The roles of this test, made by the owner (the suite's user) and dropped after. */
const roles = Layer.effectDiscard(Effect.acquireRelease(
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    yield* sql.unsafe(`CREATE ROLE ${runnerLogin} LOGIN IN ROLE arbitrage_state_runner`)
    yield* sql.unsafe(`CREATE ROLE ${strangerLogin} LOGIN`)
    yield* sql.unsafe(`CREATE DATABASE ${otherDatabase}`)
  }),
  () =>
    Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      yield* sql.unsafe(`DROP DATABASE IF EXISTS ${otherDatabase} WITH (FORCE)`)
      yield* sql.unsafe(`DROP ROLE IF EXISTS ${runnerLogin}`)
      yield* sql.unsafe(`DROP ROLE IF EXISTS ${strangerLogin}`)
    }).pipe(Effect.orDie)
)).pipe(Layer.provideMerge(migrated(testPostgres)))

/** The SQLSTATE of a statement's failure (`42501`: insufficient privilege; `42P01`...), or "ok". */
const outcomeOf = (statement: string) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const exit = yield* Effect.exit(sql.unsafe(statement))
    if (Exit.isSuccess(exit)) return "ok"
    const text = JSON.stringify(exit.cause, (_, value) => (value instanceof Error ? { ...value, message: value.message } : value))
    return /"code":"(\w+)"/.exec(text)?.[1] ?? text
  })

layer(roles, { timeout: "120 seconds" })("least privilege", (it) => {
  it.effect("the runner role runs a session, restores it and runs snapshot retention, each cut recorded, even past a temporary table of its own", () =>
    Effect.gen(function*() {
      const env = { DATABASE_URL: urlAs(runnerLogin), REDIS_URL: Redacted.value(testRedisUrl), STATE_ENV: uniqueEnv("leastpriv") }
      const session = `sess_lp${suffix}`
      const run = runCli(["run", "--mode", "clean", "--session", session, "--loops", "30", "--seed", "3"], env)
      assert.strictEqual(run.status, 0, run.stderr)
      const restored = runCli(["restore", "--session", session, "--dry-run", "--json"], env)
      assert.strictEqual(restored.status, 0, restored.stderr)
      assert.strictEqual(JSON.parse(restored.stdout.trim().split("\n").at(-1)!).state.session.loopCount, 30)
      // A temporary table named as the events table must not take the record of the cut.
      const cut = yield* Effect.gen(function*() {
        const sql = yield* PgClient.PgClient
        return yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql.unsafe("CREATE TEMP TABLE session_events (env text, session_id text, kind text, fencing_token bigint, loop_count bigint, detail jsonb)")
          return yield* sql<{ removed: number }>`SELECT removed FROM cut_snapshot_history(0, 1, ${env.STATE_ENV})`
        }))
      }).pipe(Effect.provide(clientAs(runnerLogin)))
      assert.isAbove(Number(cut[0]?.removed ?? 0), 0)
      const sql = yield* PgClient.PgClient
      const recorded = yield* sql<{ n: number }>`
        SELECT count(*)::int AS n FROM session_events WHERE env = ${env.STATE_ENV} AND session_id = ${session} AND kind = 'history_cut'`
      assert.strictEqual(recorded[0]!.n, 1, "the cut is recorded in the real events table")
      assert.lengthOf(JSON.parse(runCli(["snapshots", "--session", session, "--json"], env).stdout.trim().split("\n").at(-1)!).snapshots, 1)
      assert.strictEqual(runCli(["cleanup", "--days", "0", "--keep", "1", "--yes"], env).status, 0)
      // The trade ledger's retention is the owner's alone.
      const ledgerCut = runCli(["cleanup", "--days", "0", "--yes", "--ledger-days", "0"], env)
      assert.notStrictEqual(ledgerCut.status, 0)
      assert.include(ledgerCut.stderr, "permission denied for function cut_trade_ledger")
    }))

  it.effect("the runner role cannot drop, truncate, delete, rewrite or create anything itself", () =>
    Effect.gen(function*() {
      for (const statement of [
        "DROP TABLE session_snapshots",
        "TRUNCATE session_snapshots",
        "TRUNCATE trade_ledger",
        "DELETE FROM session_snapshots",
        "DELETE FROM trade_ledger",
        "DELETE FROM session_events",
        "DELETE FROM session_leases",
        "UPDATE session_snapshots SET loop_count = 0",
        "UPDATE trade_ledger SET entry = '{}'::jsonb",
        "ALTER TABLE session_snapshots DROP COLUMN checksum",
        "CREATE TABLE intruder (x int)",
        "DROP FUNCTION cut_snapshot_history(integer, integer, text, bigint[])",
        "SELECT * FROM cut_trade_ledger(0, 'anyone', false)"
      ]) {
        const outcome = yield* outcomeOf(statement).pipe(Effect.provide(clientAs(runnerLogin)))
        assert.strictEqual(outcome, "42501", statement)
      }
      // What it may do: read, and remove through retention (here nothing old enough).
      assert.strictEqual(yield* outcomeOf("SELECT count(*) FROM session_snapshots").pipe(Effect.provide(clientAs(runnerLogin))), "ok")
      assert.strictEqual(yield* outcomeOf("SELECT * FROM cut_snapshot_history(36500, 1, 'nobody')").pipe(Effect.provide(clientAs(runnerLogin))), "ok")
    }))

  it.effect("a role that is not a runner cannot read the state nor call retention's removing functions", () =>
    Effect.gen(function*() {
      for (const statement of ["SELECT * FROM cut_snapshot_history(0)", "SELECT cleanup_old_snapshots(0)", "SELECT * FROM cut_trade_ledger(0, 'x', false)", "SELECT 1 FROM session_snapshots"]) {
        assert.strictEqual(yield* outcomeOf(statement).pipe(Effect.provide(clientAs(strangerLogin))), "42501", statement)
      }
    }))

  it.effect("a runner role on a database whose migrations are not applied: told to apply them as the owner (exit 6)", () =>
    Effect.sync(() => {
      const run = runCli(["run", "--mode", "clean", "--session", `sess_lpu${suffix}`, "--loops", "1", "--seed", "1"], { DATABASE_URL: urlAs(runnerLogin, otherDatabase), STATE_ENV: uniqueEnv("leastpriv") })
      assert.strictEqual(run.status, 6, run.stderr)
      assert.include(run.stderr, "this role may not change the schema; apply the migrations as the database's owner (npm run cli -- migrate)")
    }))
})
