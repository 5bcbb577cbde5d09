/**
 * The password of a connection string never survives into a failure's
 * message: what drivers write about a URL (ioredis names a path it could not
 * open, a SQL driver a server it could not reach) goes through one
 * redaction.
 */
import { assert, describe, it } from "@effect/vitest"
import { SqlError } from "effect/sql"
import { redactPasswords } from "../../src/store/internal/ConnectionString.ts"
import { fromSqlError } from "../../src/store/internal/SqlErrors.ts"

describe("redactPasswords", () => {
  it("removes the password of every URL in a text, and keeps the rest (user, host, port, path)", () => {
    assert.strictEqual(
      redactPasswords("cannot connect to redis: connect ENOENT //x:SECRET@127.0.0.1:6390"),
      "cannot connect to redis: connect ENOENT //x:<redacted>@127.0.0.1:6390"
    )
    assert.strictEqual(
      redactPasswords("redis://:SECRET@127.0.0.1:6379/0 and postgres://postgres:SECRET2@db.internal:5432/test"),
      "redis://:<redacted>@127.0.0.1:6379/0 and postgres://postgres:<redacted>@db.internal:5432/test"
    )
  })

  it("a password that holds an unencoded '@' or ':' is removed whole", () => {
    const redacted = redactPasswords("rediss://user:p@ss:w0rd@cache.internal:6380/1")
    assert.strictEqual(redacted, "rediss://user:<redacted>@cache.internal:6380/1")
  })

  it("text without a password is left as it is", () => {
    for (const text of ["connect ECONNREFUSED 127.0.0.1:6379", "redis://127.0.0.1:6379/0", "postgres://postgres@127.0.0.1:5432/test", "at 12:30 on db"]) {
      assert.strictEqual(redactPasswords(text), text)
    }
  })
})

describe("fromSqlError", () => {
  it("a driver message that names the URL with its password: the store's error has no password", () => {
    const error = new SqlError.SqlError({
      reason: new SqlError.ConnectionError({
        message: "Query failed",
        cause: new Error("could not reach postgres://postgres:SECRET@10.0.0.1:5432/test: timeout")
      })
    })
    const mapped = fromSqlError("connect")(error)
    assert.strictEqual(mapped.reason._tag, "Unreachable")
    assert.notInclude(mapped.message, "SECRET")
    assert.include(mapped.message, "postgres://postgres:<redacted>@10.0.0.1:5432/test")
    // The driver's error is kept as the cause, its password redacted too.
    assert.instanceOf(mapped.cause, Error)
    assert.notInclude(`${(mapped.cause as Error).message} ${(mapped.cause as Error).stack}`, "SECRET")
    assert.include((mapped.cause as Error).message, "could not reach postgres://postgres:<redacted>@")
  })

  it("keeps the server's error as the cause, with its SQLSTATE code: callers decide by reason, investigators read the cause", () => {
    const serverError = Object.assign(new Error("duplicate key value violates unique constraint \"session_snapshots_sequence_unique\""), {
      code: "23505",
      constraint: "session_snapshots_sequence_unique"
    })
    const mapped = fromSqlError("save snapshot #3")(new SqlError.SqlError({ reason: new SqlError.UniqueViolation({ message: "Query failed", constraint: "session_snapshots_sequence_unique", cause: serverError }) }))
    assert.strictEqual(mapped.reason._tag, "WriteConflict")
    assert.strictEqual(mapped.cause, serverError)
    assert.strictEqual((mapped.cause as { code?: string }).code, "23505")
  })
})
