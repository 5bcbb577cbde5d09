/**
 * Migrations: brings a PostgreSQL database to the schema this code needs.
 *
 * Applying twice is a no-op (the migrator records what it applied). Two
 * processes starting at once do not both migrate: the loser of the
 * migrator's lock waits and tries again, and then finds nothing to do.
 */
import { Effect, Schedule } from "effect"
import { Migrator, SqlClient } from "effect/sql"
import { migrations } from "../../migrations/index.ts"
import { fromSqlError } from "./internal/SqlErrors.ts"
import { StoreError } from "./StoreError.ts"

/** The table where the migrator records applied migrations. */
export const migrationsTable = "arbitrage_state_migrations"

const runMigrator = Migrator.make({})

/** The ids of the migrations this code knows (`0009_runner_role` is 9). */
const knownIds = Object.keys(migrations).map((name) => Number(name.slice(0, 4)))

/**
 * Whether every migration is applied already, read without a lock or a write: a runner's role may
 * read the migrations table but not lock it (see migration 0009), and need not when nothing is due.
 */
const upToDate = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ readonly migration_id: number | string }>`SELECT migration_id FROM ${sql(migrationsTable)}`
  const applied = new Set(rows.map((row) => Number(row.migration_id)))
  return knownIds.every((id) => applied.has(id))
}).pipe(Effect.catch(() => Effect.succeed(false)))

/** A store error of the migrator's, saying what to do when the role may not change the schema. */
const migrationFailure = (error: StoreError): StoreError =>
  /permission denied|must be owner/.test(error.message)
    ? StoreError.failure(
      "postgres",
      `${error.message}: this role may not change the schema; apply the migrations as the database's owner (npm run cli -- migrate), then start again`
    )
    : error

/** Applies the pending migrations; returns the `[id, name]` of each one applied (empty when up to date). */
export const migrate: Effect.Effect<ReadonlyArray<readonly [number, string]>, StoreError, SqlClient.SqlClient> = Effect.gen(function*() {
  if (yield* upToDate) return []
  return yield* runMigrator({ loader: Migrator.fromRecord(migrations), table: migrationsTable }).pipe(
    Effect.retry({
      // Both a held lock and a lost race to create the migrations table mean another process is migrating.
      while: (error) =>
        (error._tag === "MigrationError" && error.kind === "Locked") ||
        (error._tag === "SqlError" && error.reason._tag === "UniqueViolation"),
      schedule: Schedule.spaced("100 millis"),
      times: 100
    }),
    Effect.mapError((error) =>
      migrationFailure(error._tag === "SqlError" ? fromSqlError("migrate")(error) : StoreError.failure("postgres", `migrate: ${error.message}`))
    )
  )
}).pipe(Effect.withSpan("Migrations.migrate"))
