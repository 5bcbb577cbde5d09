/**
 * `reconcile` and `restore --dry-run --venue-url`, as an operator runs them:
 * real processes against the real servers and the venue simulator (its own
 * process). A live session stopped, then an orphan order of its prefix placed
 * at a venue and a position changed there by hand: the plan names both
 * (exit 3) and changes nothing; `restore --dry-run` shows the same plan; once
 * the position is undone, `--apply` cancels the orphan and the session
 * agrees with its venues again; a runner resumed while a venue differs says
 * what differs.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { randomInt } from "node:crypto"
import { MarketSymbol, Venue as VenueName } from "../../src/domain/Ids.ts"
import { clientOrderPrefixOf } from "../../src/domain/OrderIntent.ts"
import * as HttpVenue from "../../src/venue/HttpVenue.ts"
import { ClientOrderId, Venue } from "../../src/venue/Venue.ts"
import { runCliUntil } from "../support/Cli.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"
import { startSimulator } from "../support/VenueSimulator.ts"

const env = {
  DATABASE_URL: Redacted.value(testDatabaseUrl),
  REDIS_URL: Redacted.value(testRedisUrl),
  STATE_ENV: uniqueEnv("clirecon")
}
/** A CLI run that leaves the event loop free (the test's own clients keep their connections). */
const cli = (args: ReadonlyArray<string>) =>
  Effect.map(Effect.promise(() => runCliUntil(args, env, () => false)), (run) => ({ status: run.status, stdout: run.lines.join("\n"), stderr: run.stderr }))
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1)!)
const upbit = VenueName.make("upbit")
const symbol = MarketSymbol.make("BTC-USDT")

describe("cli reconcile", () => {
  it.live("names an orphan and a position changed by hand (exit 3) without changing anything; restore --dry-run shows the same; --apply cancels the orphan once the venue agrees", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulator(["--venues", "upbit,binance", "--tick-ms", "20", "--seed", "5"])
      const sessionId = `sess_clirecon${randomInt(1e9).toString(36)}`
      const run = yield* cli(["run", "--mode", "clean", "--session", sessionId, "--campaign", "aggressive", "--loops", "40", "--venue-url", sim.url, "--loop-ms", "10", "--json"])
      assert.strictEqual(run.status, 0, run.stderr)
      const stopped = yield* cli(["reconcile", "--session", sessionId, "--venue-url", sim.url, "--json"])
      assert.strictEqual(stopped.status, 0, `a stopped session agrees with its venues: ${stopped.stdout} ${stopped.stderr}`)

      // At the venue: an order of the session's prefix the state never made, far from the market (it rests), and a position changed by hand.
      const orphanId = ClientOrderId.make(`${clientOrderPrefixOf(sessionId)}-byhand-eb0`)
      yield* Effect.flatMap(Venue, (venue) => venue.submit({ clientOrderId: orphanId, venue: upbit, symbol, side: "buy", quantity: 0.01, limitPrice: 1 })).pipe(
        Effect.provide(HttpVenue.layer({ url: sim.url }))
      )
      const admin = yield* sim.admin
      yield* admin.adjust({ payload: { venue: upbit, symbol, quantity: 0.75 } })
      const before = yield* cli(["inspect", "--session", sessionId, "--json"])
      assert.strictEqual(before.status, 0, before.stderr)

      const planned = yield* cli(["reconcile", "--session", sessionId, "--venue-url", sim.url, "--json"])
      assert.strictEqual(planned.status, 3, `the venues differ: ${planned.stdout} ${planned.stderr}`)
      const plan = lastJson(planned.stdout)
      assert.isFalse(plan.agrees)
      assert.isFalse(plan.applied)
      assert.deepStrictEqual(plan.orphans.map((o: { order: { clientOrderId: string }; action: string }) => [o.order.clientOrderId, o.action]), [[orphanId, "cancel"]])
      const difference = plan.differences.find((d: { venue: string; symbol: string }) => d.venue === upbit && d.symbol === symbol)
      assert.isDefined(difference, JSON.stringify(plan.differences))
      assert.closeTo(difference.actual - difference.expected, 0.75, 1e-9)
      const text = yield* cli(["reconcile", "--session", sessionId, "--venue-url", sim.url])
      assert.strictEqual(text.status, 3)
      assert.include(text.stdout, `orphan ${orphanId} on upbit`)
      const shown = (quantity: number) => String(Number(quantity.toFixed(10))).replaceAll(".", "\\.")
      assert.match(text.stdout, new RegExp(`upbit holds ${shown(difference.actual)} ${symbol}, the state says ${shown(difference.expected)}: new trades refused until an operator acts`))

      // The plan changed nothing: the orphan still works at the venue, the state is as it was.
      const orphan = (yield* admin.orders()).find((o) => o.clientOrderId === orphanId)
      assert.strictEqual(orphan?.status, "open")
      const after = yield* cli(["inspect", "--session", sessionId, "--json"])
      assert.deepStrictEqual(lastJson(after.stdout), lastJson(before.stdout))

      const dryRun = yield* cli(["restore", "--session", sessionId, "--dry-run", "--venue-url", sim.url, "--json"])
      assert.strictEqual(dryRun.status, 0, dryRun.stderr)
      const report = lastJson(dryRun.stdout)
      assert.strictEqual(report.outcome, "restored")
      assert.deepStrictEqual(report.reconciliation.orphans, plan.orphans)
      assert.deepStrictEqual(report.reconciliation.differences, plan.differences)

      // Undone by hand: --apply cancels the orphan, and the session agrees again.
      yield* admin.adjust({ payload: { venue: upbit, symbol, quantity: -0.75 } })
      const applied = yield* cli(["reconcile", "--session", sessionId, "--venue-url", sim.url, "--apply", "--json"])
      assert.strictEqual(applied.status, 0, `${applied.stdout} ${applied.stderr}`)
      assert.isTrue(lastJson(applied.stdout).applied)
      assert.strictEqual((yield* admin.orders()).find((o) => o.clientOrderId === orphanId)?.status, "cancelled")
      const again = yield* cli(["reconcile", "--session", sessionId, "--venue-url", sim.url, "--json"])
      assert.strictEqual(again.status, 0, again.stdout)
      assert.isTrue(lastJson(again.stdout).agrees)
      assert.lengthOf(lastJson(again.stdout).orphans, 0)

      // A runner resumed while a venue differs says what differs, on its error stream, and trades no new entry.
      yield* admin.adjust({ payload: { venue: upbit, symbol, quantity: 0.5 } })
      const resumed = yield* cli(["run", "--mode", "resume", "--session", sessionId, "--loops", "60", "--venue-url", sim.url, "--loop-ms", "10", "--json"])
      assert.strictEqual(resumed.status, 0, resumed.stderr)
      assert.match(resumed.stderr, new RegExp(`${sessionId}: the venues differ from the state; no new trades: upbit holds [-0-9.e]+ ${symbol}, the state says`))
    }).pipe(Effect.scoped), 120_000)
  it.live("bad live arguments are refused before any session is started (exit 2); a venue URL's credentials are never printed; a paper session has nothing to reconcile", () =>
    Effect.gen(function*() {
      const sim = yield* startSimulator(["--venues", "upbit,binance", "--tick-ms", "20", "--seed", "5"])
      const sessionsBefore = (yield* cli(["sessions", "--json"])).stdout
      for (const [url, extra] of [["not-a-url", []], ["ftp://127.0.0.1:21", []], ["", []], [sim.url, ["--venues", "upbit,kraken"]], [sim.url, ["--seed", "5"]]] as const) {
        const refused = yield* cli(["run", "--mode", "clean", "--campaign", "aggressive", "--loops", "5", "--venue-url", url, ...extra])
        assert.strictEqual(refused.status, 2, `${url} ${extra.join(" ")}: ${refused.stderr}`)
        assert.lengthOf(refused.stderr.trim().split("\n").filter((line) => !line.includes("REDIS_URL") && !line.includes("WARN")), 1, refused.stderr)
        assert.notInclude(refused.stderr, "started ")
      }
      assert.strictEqual((yield* cli(["sessions", "--json"])).stdout, sessionsBefore, "no session was started")
      const kraken = yield* cli(["run", "--mode", "clean", "--loops", "5", "--venue-url", sim.url, "--venues", "upbit,kraken"])
      assert.include(kraken.stderr, "offers upbit, binance, not kraken")

      // Credentials in the URL: the venue does not answer there, and the message names it without them.
      const secret = "s3cr3tpassw0rd"
      const withCredentials = `http://trader:${secret}@127.0.0.1:9/`
      const away = yield* cli(["run", "--mode", "clean", "--loops", "5", "--venue-url", withCredentials])
      assert.strictEqual(away.status, 4, away.stderr)
      assert.include(away.stderr, "http://***@127.0.0.1:9/")
      assert.notInclude(away.stderr + away.stdout, secret)
      const reconcileAway = yield* cli(["reconcile", "--session", "sess_nosuchsession1", "--venue-url", "ftp://x"])
      assert.strictEqual(reconcileAway.status, 2, reconcileAway.stderr)

      const paperId = `sess_clipaper${randomInt(1e9).toString(36)}`
      const paper = yield* cli(["run", "--mode", "clean", "--session", paperId, "--loops", "20"])
      assert.strictEqual(paper.status, 0, paper.stderr)
      for (const args of [["reconcile", "--session", paperId, "--venue-url", sim.url, "--apply"], ["restore", "--dry-run", "--session", paperId, "--venue-url", sim.url]]) {
        const refused = yield* cli(args)
        assert.strictEqual(refused.status, 2, `${args[0]}: ${refused.stderr}`)
        assert.include(refused.stderr, `${paperId} is a paper session`)
      }
      const inspected = yield* cli(["inspect", "--session", paperId, "--json"])
      const paperState = JSON.parse(inspected.stdout.trim().split("\n").at(-1)!).state
      assert.isObject(paperState.positions)
      assert.notProperty(paperState.positions, "venueBaseline", "the paper session was not changed")
      assert.strictEqual(paperState.session.status, "stopped")
    }).pipe(Effect.scoped), 120_000)
})
