/**
 * `migrate`: applies pending PostgreSQL migrations.
 */
import { Console, Effect } from "effect"
import { Command } from "effect/cli"
import { migrate as runMigrations } from "../../store/Migrations.ts"
import { databaseLayer } from "../../store/Persistence.ts"
import { jsonFlag } from "../Output.ts"

/** `migrate`: applies the pending migrations; twice is a no-op. */
export const migrate = Command.make(
  "migrate",
  { json: jsonFlag },
  Effect.fn(function*({ json }) {
    const applied = yield* runMigrations.pipe(Effect.provide(databaseLayer))
    yield* Console.log(
      json
        ? JSON.stringify({ applied: applied.map(([id, name]) => ({ id, name })) })
        : applied.length === 0
        ? "the database is up to date"
        : applied.map(([id, name]) => `applied ${String(id).padStart(4, "0")}_${name}`).join("\n")
    )
  })
).pipe(Command.withDescription("Apply pending PostgreSQL migrations (DATABASE_URL, or the embedded database)"))
