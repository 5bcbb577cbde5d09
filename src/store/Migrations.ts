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

/** Applies the pending migrations; returns the `[id, name]` of each one applied (empty when up to date). */
export const migrate: Effect.Effect<ReadonlyArray<readonly [number, string]>, StoreError, SqlClient.SqlClient> = runMigrator({
  loader: Migrator.fromRecord(migrations),
  table: migrationsTable
}).pipe(
  Effect.retry({
    // Both a held lock and a lost race to create the migrations table mean another process is migrating.
    while: (error) =>
      (error._tag === "MigrationError" && error.kind === "Locked") ||
      (error._tag === "SqlError" && error.reason._tag === "UniqueViolation"),
    schedule: Schedule.spaced("100 millis"),
    times: 100
  }),
  Effect.mapError((error) =>
    error._tag === "SqlError" ? fromSqlError("migrate")(error) : StoreError.failure("postgres", `migrate: ${error.message}`)
  ),
  Effect.withSpan("Migrations.migrate")
)
