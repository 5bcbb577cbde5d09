/**
 * The session report, rendered by the headless Chromium that `npm install`
 * brings (never one of the system's): a session that was
 * crashed and resumed twice (once from the live tier, once from a snapshot)
 * shows its equity curve with both resume marks, its trades, its risk-guard
 * counters and its snapshot timeline.
 */
import { sessionOptions } from "../support/Sessions.ts"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option, Scope } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Env, SessionId } from "../../src/domain/Ids.ts"
import * as SessionReport from "../../src/report/SessionReport.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import * as Runner from "../../src/runner/Runner.ts"
import * as Session from "../../src/session/Session.ts"
import { HotStateStore } from "../../src/store/HotStateStore.ts"
import * as Persistence from "../../src/store/Persistence.ts"
import { SessionLease } from "../../src/store/SessionLease.ts"
import * as HeadlessChromium from "../support/HeadlessChromium.ts"
import { descendantsOf, executableOf } from "../support/Processes.ts"

const campaign = campaigns.aggressive!
const market = { seed: 12, tickMs: 1000 }
const sessionId = SessionId.make("sess_report001")

/** Runs the session to `loops` and ends it: crashed (no shutdown) or stopped. */
const runTo = (loops: number, end: "crash" | "stop") =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const session = yield* Session.initialize(sessionOptions("AUTO", campaign, sessionId)).pipe(Scope.provide(scope))
    yield* Runner.run(session, session.initialState, { campaign, market, targetLoops: loops })
    yield* Scope.close(scope, end === "crash" ? Exit.fail("killed") : Exit.void)
  })

/** The DOM of `file` after the npm package's headless Chromium has loaded and laid it out. */
const renderedDom = (file: string) =>
  Effect.gen(function*() {
    const browser = yield* HeadlessChromium.launch
    // The npm package's Chromium (its major version is the package's), and no other: every browser
    // process this test started runs the binary unpacked from the package, never one of the system.
    assert.strictEqual(browser.version().split(".")[0], HeadlessChromium.packageVersion.split(".")[0])
    const unpacked = yield* HeadlessChromium.executable
    const browsers = descendantsOf(process.pid).map(executableOf).filter((exe) => /chrom/i.test(exe))
    assert.isAbove(browsers.length, 0)
    assert.deepStrictEqual([...new Set(browsers)], [unpacked])
    const page = yield* HeadlessChromium.openPage(browser, file, 1400)
    return yield* Effect.promise(() => page.content())
  }).pipe(Effect.scoped)

describe("session report", () => {
  it.effect("renders the equity curve with a mark per resume (and its source), the trades, the risk guard and the snapshots", () =>
    Effect.gen(function*() {
      yield* runTo(300, "crash")
      yield* runTo(600, "crash") // resumed from the live tier
      // The live tier loses the session (deleted under the last runner's own token).
      const lastLease = Option.getOrThrow(yield* (yield* SessionLease).current(sessionId))
      yield* (yield* HotStateStore).delete(sessionId, lastLease.fencingToken)
      yield* runTo(900, "stop") // resumed from a snapshot, the live tier being lost
      const data = yield* SessionReport.gather(sessionId)
      assert.deepStrictEqual(data.events.map((e) => e.detail.source), ["hot", "snapshot"])

      const dir = mkdtempSync(join(tmpdir(), "arbitrage-state-report-"))
      const file = join(dir, "report.html")
      writeFileSync(file, SessionReport.render(data))
      try {
        const dom = yield* renderedDom(file)
        const points = /<polyline id="equity-line"[^>]*points="([^"]+)"/.exec(dom)?.[1]?.trim().split(/\s+/) ?? []
        assert.strictEqual(points.length, data.snapshots.length, "one point per valid snapshot")
        assert.deepStrictEqual([...dom.matchAll(/data-resume="([a-z]+)"/g)].map((m) => m[1]), ["hot", "snapshot"])
        assert.include(dom, "resumed from live tier")
        assert.match(dom, /resumed from snapshot #\d+/)
        const tradeRows = /<table id="trades">[\s\S]*?<tbody>([\s\S]*?)<\/tbody>/.exec(dom)?.[1]?.match(/<tr>/g)?.length ?? 0
        assert.isAbove(tradeRows, 0)
        assert.match(dom, /<table id="risk-guard">[\s\S]*BTC-USDT/)
        const snapshotRows = /<table id="snapshots">[\s\S]*?<tbody>([\s\S]*?)<\/tbody>/.exec(dom)?.[1]?.match(/<tr>/g)?.length ?? 0
        assert.strictEqual(snapshotRows, data.snapshots.length)
        assert.include(dom, "status stopped, loop 900")
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }).pipe(Effect.provide(Persistence.layerMemory(Env.make("report")))), { timeout: 120_000 })
})
