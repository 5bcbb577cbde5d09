/**
 * Runs once before all test files: brings the shared test database to the
 * current schema, so that files running in parallel do not race to migrate it.
 */
import { Effect } from "effect"
import { migrateTestDatabase } from "./support/Backings.ts"

export const setup = async (): Promise<void> => {
  await Effect.runPromise(migrateTestDatabase)
}
