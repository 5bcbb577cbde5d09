/**
 * Where the integration tests find the real servers, and a fresh namespace
 * for each test file so that files can run in parallel without seeing each
 * other's keys and rows.
 */
import { Redacted, Schema } from "effect"
import { randomBytes } from "node:crypto"
import { Env } from "../../src/domain/Ids.ts"

/** The PostgreSQL the integration tests use (database `test`). */
export const testDatabaseUrl = Redacted.make(process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test")

/** The Redis the integration tests use. */
export const testRedisUrl = Redacted.make(process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379/0")

/** A namespace no other test file (or run) uses: `t-<label>-<random>`. */
export const uniqueEnv = (label: string): Env =>
  Schema.decodeSync(Env)(`t-${label.toLowerCase().replace(/[^a-z0-9]/g, "").slice(0, 16)}-${randomBytes(4).toString("hex")}`)
