/**
 * `npm run cli -- migrate` against the real PostgreSQL, as a real process.
 */
import { assert, describe, it } from "@effect/vitest"
import { Redacted } from "effect"
import { runCli } from "../support/Cli.ts"
import { testDatabaseUrl } from "../support/Services.ts"

describe("cli migrate", () => {
  it("on an up-to-date database: exit 0, and --json says nothing was applied", () => {
    const run = runCli(["migrate", "--json"], { DATABASE_URL: Redacted.value(testDatabaseUrl) })
    assert.strictEqual(run.status, 0, run.stderr)
    assert.deepStrictEqual(JSON.parse(run.stdout.trim().split("\n").at(-1)!), { applied: [] })
  })

  it("on an unreachable database: exit 4, one line on stderr, no stack trace, no password", () => {
    const run = runCli(["migrate"], { DATABASE_URL: "postgres://postgres:s3cret-pw@127.0.0.1:1/test" })
    assert.strictEqual(run.status, 4)
    const lines = run.stderr.trim().split("\n")
    assert.lengthOf(lines, 1, run.stderr)
    assert.include(lines[0], "ECONNREFUSED")
    assert.notInclude(run.stderr + run.stdout, "s3cret-pw")
    assert.notInclude(run.stderr, "    at ")
  })
})
