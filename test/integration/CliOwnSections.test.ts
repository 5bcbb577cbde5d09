/**
 * `inspect` shows a runner's own sections (name, version, size, the start of
 * their JSON) as stored, and `--json` gives them whole: an operator sees them
 * without the runner's Schemas.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Redacted, Scope } from "effect"
import { randomInt } from "node:crypto"
import { SessionId } from "../../src/domain/Ids.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import * as Session from "../../src/session/Session.ts"
import * as Persistence from "../../src/store/Persistence.ts"
import { runCli } from "../support/Cli.ts"
import { bookCursor, cooldown, withValues } from "../support/CustomSections.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"
import { sessionOptions } from "../support/Sessions.ts"

const env = {
  DATABASE_URL: Redacted.value(testDatabaseUrl),
  REDIS_URL: Redacted.value(testRedisUrl),
  STATE_ENV: uniqueEnv("cliown")
}

describe("inspect and a runner's own sections", () => {
  it.live("lists each with its version and size, and --json gives them whole", () =>
    Effect.gen(function*() {
      const sessionId = SessionId.make(`sess_own${randomInt(1e9).toString(36)}`)
      const stores = Layer.fresh(Persistence.layer).pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))))
      const values = {
        cooldown: { until: 1_795_000_000_000, symbols: ["BTC/KRW", "KRW-ETH"] },
        bookCursor: { venue: "upbit", sequence: 884_213, stale: false, note: "resynced after a gap" }
      }
      yield* Effect.gen(function*() {
        const scope = yield* Scope.make()
        const session = yield* Session.initialize({ ...sessionOptions("CLEAN_RESET", campaigns.balanced!, sessionId), sections: [cooldown, bookCursor] }).pipe(
          Scope.provide(scope)
        )
        const state = withValues({ ...session.initialState, session: { ...session.initialState.session, loopCount: 1 } }, values)
        yield* session.persist(state, { tradesChanged: true })
        yield* Scope.close(scope, Exit.void)
      }).pipe(Effect.provide(stores))

      const text = runCli(["inspect", "--session", sessionId], env)
      assert.strictEqual(text.status, 0, text.stderr)
      const lines = text.stdout.split("\n")
      assert.include(lines, "own sections 2")
      // Each line: the name, the version, the bytes of its fields' JSON, and that JSON (cut at 60 characters).
      const lineOf = (name: string) => lines.find((line) => line.startsWith(`  ${name} `)) ?? ""
      const bytes = (fields: object) => Buffer.byteLength(JSON.stringify(fields))
      assert.match(lineOf("cooldown"), new RegExp(`^ {2}cooldown +v1 {2}${bytes(values.cooldown)} bytes {2}\\{.*"symbols":\\["BTC/KRW","KRW-ETH"\\].*\\}$`))
      assert.match(lineOf("book_cursor"), new RegExp(`^ {2}book_cursor +v1 {2}${bytes(values.bookCursor)} bytes {2}\\{.{56}\\.\\.\\.$`))

      const json = runCli(["inspect", "--session", sessionId, "--json"], env)
      assert.strictEqual(json.status, 0, json.stderr)
      const state = JSON.parse(json.stdout.trim().split("\n").at(-1)!).state
      assert.deepStrictEqual(state.custom, {
        cooldown: { version: 1, ...values.cooldown },
        book_cursor: { version: 1, ...values.bookCursor }
      })
    }), { timeout: 60_000 })
})
