/**
 * The session report, rendered by the headless Chromium that `npm install`
 * brings (never one of the system's), at a desktop width (1400 px) and a
 * narrow one (600 px), on the real Redis and PostgreSQL.
 *
 * A session crashed and resumed from the live tier, stopped cleanly and
 * resumed from the durable tier (its live state lost), then crashed twice
 * more a few loops apart: its page must fit both widths without sideways
 * scrolling, mark crash resumes and clean-stop resumes differently with
 * labels that never overlap, name each tier one way, say which clock each
 * time is on, show the drawdown, and fold its long tables away. A session
 * whose older snapshots were removed by retention says so.
 */
import { sessionOptions } from "../support/Sessions.ts"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Result, Scope } from "effect"
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Page } from "playwright-core"
import { type Env, SessionId } from "../../src/domain/Ids.ts"
import { usd } from "../../src/report/internal/Format.ts"
import * as SessionReport from "../../src/report/SessionReport.ts"
import { newSessionState, simulatedStart } from "../../src/runner/ArbitrageStrategy.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import * as Runner from "../../src/runner/Runner.ts"
import * as Session from "../../src/session/Session.ts"
import { LiveStateStore } from "../../src/store/LiveStateStore.ts"
import { SessionLease } from "../../src/store/SessionLease.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import { postgresSnapshots, redisLive } from "../support/Backings.ts"
import * as HeadlessChromium from "../support/HeadlessChromium.ts"
import { descendantsOf, executableOf } from "../support/Processes.ts"
import { uniqueEnv } from "../support/Services.ts"

const campaign = campaigns.aggressive!
const market = { seed: 12, tickMs: 1000 }
const widths = [1400, 600] as const

/** Both tiers on the real servers, in a namespace of their own. */
const stack = (env: Env) => Layer.mergeAll(redisLive.layer(env), postgresSnapshots.layer(env))

/** Runs the session to `loops` (resuming it when it exists) and ends it: crashed (no shutdown) or stopped. */
const runTo = (sessionId: SessionId, loops: number, end: "crash" | "stop") =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const session = yield* Session.initialize({
      ...sessionOptions("AUTO", campaign, sessionId),
      // The session records its market as the CLI's do: the report's simulated clock needs the tick.
      newState: (id) => newSessionState({ sessionId: id, campaign, startTime: simulatedStart, market })
    }).pipe(Scope.provide(scope))
    yield* Runner.run(session, session.initialState, { campaign, market, targetLoops: loops })
    yield* Scope.close(scope, end === "crash" ? Exit.fail("killed") : Exit.void)
  })

/** The live tier loses the session (deleted under its last runner's own token): the next resume reads a snapshot. */
const loseLiveState = (sessionId: SessionId) =>
  Effect.gen(function*() {
    const lease = Option.getOrThrow(yield* (yield* SessionLease).current(sessionId))
    yield* (yield* LiveStateStore).delete(sessionId, lease.fencingToken)
  })

/** Keeps a copy of `path` in REPORT_SCREENSHOTS when that is set (to look at while working on the page). */
const keepCopy = (path: string, name: string) => {
  const keep = process.env.REPORT_SCREENSHOTS
  if (keep === undefined) return
  mkdirSync(keep, { recursive: true })
  copyFileSync(path, join(keep, name))
}

/** The report of the session written to a temporary folder, and that folder (removed when the scope closes). */
const writeReport = (data: SessionReport.ReportData) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = mkdtempSync(join(tmpdir(), "arbitrage-state-report-"))
      const file = join(dir, "report.html")
      writeFileSync(file, SessionReport.render(data))
      keepCopy(file, `${data.sessionId}.html`)
      return { dir, file }
    }),
    ({ dir }) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

/** A full-page screenshot; its size in bytes. */
const screenshot = (page: Page, dir: string, name: string) =>
  Effect.promise(async () => {
    const path = join(dir, `${name}.png`)
    await page.screenshot({ path, fullPage: true })
    keepCopy(path, `${name}.png`)
    return statSync(path).size
  })

/**
 * What holds at every width: nothing wider than the window, and no two texts of a chart on top of
 * each other (tick labels, units, captions and resume labels alike).
 */
const assertLaidOut = (page: Page, width: number) =>
  Effect.gen(function*() {
    const size = yield* HeadlessChromium.documentSize(page)
    assert.strictEqual(size.viewportWidth, width)
    assert.isAtMost(size.scrollWidth, size.viewportWidth, `the page scrolls sideways at ${width} px`)
    assert.strictEqual(yield* HeadlessChromium.overflowingCount(page, ".table-scroll"), 0, `a table is wider than the page at ${width} px`)
    const charts = yield* HeadlessChromium.renderedElements(page, "svg.chart", ["id"])
    assert.isAtLeast(charts.length, 1)
    for (const chart of charts.map((c) => `#${c.attributes.id}`)) {
      const texts = yield* HeadlessChromium.renderedElements(page, `${chart} text`)
      assert.isAbove(texts.length, 0, `${chart} has texts`)
      for (const [i, a] of texts.entries()) {
        assert.isAtLeast(a.box.x, 0, `"${a.text}" starts left of the window at ${width} px`)
        assert.isAtMost(a.box.x + a.box.width, width, `"${a.text}" ends right of the window at ${width} px`)
        for (const b of texts.slice(i + 1)) {
          assert.isFalse(HeadlessChromium.overlap(a.box, b.box), `"${a.text}" ${JSON.stringify(a.box)} and "${b.text}" ${JSON.stringify(b.box)} overlap in ${chart} at ${width} px`)
        }
      }
    }
    return size
  })

/** The deepest fall of equity below its running peak, in USD (≤ 0), computed here independently of the report. */
const deepestFallUsd = (equity: ReadonlyArray<number>) => {
  let peak = -Infinity
  let deepest = 0
  for (const value of equity) {
    peak = Math.max(peak, value)
    deepest = Math.min(deepest, value - peak)
  }
  return deepest
}

describe("session report", () => {
  it.live("fits 1400 and 600 px, marks crash and clean-stop resumes apart without overlapping labels, shows the drawdown, and folds long tables", () => {
    const sessionId = SessionId.make("sess_report001")
    return Effect.gen(function*() {
      yield* runTo(sessionId, 300, "crash")
      yield* runTo(sessionId, 600, "stop") // resumed after a crash, from the live tier
      yield* loseLiveState(sessionId)
      yield* runTo(sessionId, 615, "crash") // resumed after a clean stop, from the durable tier
      yield* runTo(sessionId, 630, "crash") // resumed after a crash, 15 loops later: labels close together
      yield* runTo(sessionId, 900, "stop") // and once more, 15 loops after that
      const data = yield* SessionReport.gather(sessionId)
      assert.deepStrictEqual(data.events.map((e) => [e.loopCount, e.detail.after, e.detail.source]), [
        [300, "crash", "live"],
        [600, "stop", "snapshot"],
        [615, "crash", "live"],
        [630, "crash", "live"]
      ])
      const states = data.snapshots.flatMap((read) => Result.isSuccess(read.result) ? [read.result.success.state] : [])
      assert.strictEqual(states.length, data.snapshots.length, "every snapshot is valid")
      const ledgerPnl = data.ledger.reduce((sum, read) => sum + Result.getOrThrow(read.result).trade.realizedPnlUsd, 0)
      assert.closeTo(ledgerPnl, states.at(-1)!.metrics.totalPnlUsd, 1e-6, "the ledger's PnL is the metrics'")
      const fall = deepestFallUsd(states.map((s) => s.metrics.portfolioEquityUsd))
      assert.isBelow(fall, 0, "this session's equity fell below a peak")

      const { dir, file } = yield* writeReport(data)
      const html = readFileSync(file, "utf8")
      assert.notMatch(html, /\bhot\b/i, "the live tier is never called hot, not even in an attribute")
      assert.notInclude(html, "<script")
      const browser = yield* HeadlessChromium.launch
      // The npm package's Chromium (its major version is the package's), and no other: every browser
      // process this test started runs the binary unpacked from the package, never one of the system.
      assert.strictEqual(browser.version().split(".")[0], HeadlessChromium.packageVersion.split(".")[0])
      const unpacked = yield* HeadlessChromium.executable
      const browsers = descendantsOf(process.pid).map(executableOf).filter((exe) => /chrom/i.test(exe))
      assert.isAbove(browsers.length, 0)
      assert.deepStrictEqual([...new Set(browsers)], [unpacked])

      for (const width of widths) {
        const page = yield* HeadlessChromium.openPage(browser, file, width)
        const requested: Array<string> = []
        page.on("request", (request) => requested.push(request.url()))
        yield* Effect.promise(() => page.reload())
        const collapsed = yield* assertLaidOut(page, width)

        // One point of the equity curve per valid snapshot; labelled axes with gridlines and units.
        const points = (yield* Effect.promise(() => page.locator("#equity-line").getAttribute("points")))?.trim().split(/\s+/) ?? []
        assert.strictEqual(points.length, states.length)
        for (const chart of ["#equity", "#drawdown"]) {
          assert.isAtLeast((yield* HeadlessChromium.renderedElements(page, `${chart} .y-tick`)).length, 3, `${chart}: y ticks`)
          assert.isAtLeast((yield* HeadlessChromium.renderedElements(page, `${chart} .x-tick`)).length, 3, `${chart}: loop ticks`)
          assert.isAtLeast((yield* HeadlessChromium.renderedElements(page, `${chart} .grid`)).length, 6, `${chart}: gridlines`)
          assert.deepStrictEqual((yield* HeadlessChromium.renderedElements(page, `${chart} .axis-unit`)).map((t) => t.text), ["USD"])
          assert.match((yield* HeadlessChromium.renderedElements(page, `${chart} .axis-caption`))[0]?.text ?? "", /^loop · simulated time since 2026-01-01 00:00:00 UTC/)
        }

        // A label per resume, telling crash from clean stop, and the tier by its one name.
        const labels = yield* HeadlessChromium.renderedElements(page, ".resume-label", ["data-after", "data-tier", "data-loop"])
        assert.deepStrictEqual(labels.map((l) => [l.attributes["data-loop"], l.attributes["data-after"], l.attributes["data-tier"]]), [
          ["300", "crash", "live"],
          ["600", "stop", "durable"],
          ["615", "crash", "live"],
          ["630", "crash", "live"]
        ])
        const lines = yield* HeadlessChromium.renderedElements(page, "#equity .resume-line", ["class"])
        assert.deepStrictEqual(lines.map((l) => l.attributes.class), [
          "resume-line after-crash",
          "resume-line after-stop",
          "resume-line after-crash",
          "resume-line after-crash"
        ])

        const text = yield* Effect.promise(() => page.locator("body").innerText())
        assert.notMatch(text, /\bhot\b/i, "the live tier is never called hot")
        assert.include(text, "restored from")
        assert.include(text, "live tier")
        assert.include(text, "durable tier, snapshot #")
        assert.include(text, "a clean stop")
        assert.include(text, "status stopped, loop 900")
        // Which clock each time is on, next to the times.
        assert.include(text, "opened (simulated clock)")
        assert.include(text, "recorded (database wall clock)")
        assert.include(text, "simulated clock: 2026-01-01 00:00:00 UTC plus loop × 1 s")
        // The drawdown, in USD and as a share of the peak.
        const drawdown = yield* Effect.promise(() => page.locator("#max-drawdown").innerText())
        assert.include(drawdown, `Deepest fall ${usd(fall)} USD (−`)
        assert.match(drawdown, /\d %\)/)
        assert.isAtLeast((yield* HeadlessChromium.renderedElements(page, "#drawdown-area")).length, 1)
        // Never cut by retention: no such notice.
        assert.lengthOf(yield* HeadlessChromium.renderedElements(page, "#retention"), 0)

        // The long tables are folded under a line that counts their rows; every row is still in the page.
        for (const id of ["#trade-list", "#snapshot-timeline"]) {
          assert.isNull(yield* Effect.promise(() => page.locator(id).getAttribute("open")), `${id} is folded`)
        }
        assert.match(yield* Effect.promise(() => page.locator("#snapshot-timeline > summary").innerText()), new RegExp(`^${data.snapshots.length} snapshots, #1 to #`))
        assert.strictEqual(yield* Effect.promise(() => page.locator("#snapshots tbody tr").count()), data.snapshots.length)
        // Every close is a row of its own, from the trade ledger, with its own PnL: none is "shared".
        const closedRows = yield* Effect.promise(() => page.locator("#trades tbody tr").count())
        assert.isAbove(closedRows, 100)
        assert.strictEqual(closedRows, states.at(-1)!.metrics.tradesClosed)
        assert.notInclude(text, "shared")
        assert.match(yield* Effect.promise(() => page.locator("#ledger-verdict").innerText()), /^The ledger agrees with the last snapshot: \d+ closes, PnL /)
        assert.match(yield* Effect.promise(() => page.locator("#trade-list > summary").innerText()), new RegExp(`^${closedRows} closed trades in the ledger, PnL `))
        assert.strictEqual(yield* Effect.promise(() => page.locator("#resumes tbody tr").count()), 4)

        assert.isAbove(yield* screenshot(page, dir, `report-${width}`), 0)
        // Unfolded, the same tables make the page several times longer: folding is what keeps it to a few screens.
        for (const summary of yield* Effect.promise(() => page.locator("details > summary").all())) {
          yield* Effect.promise(() => summary.click())
        }
        const unfolded = yield* assertLaidOut(page, width)
        assert.isAtMost(collapsed.height * 3, unfolded.height, `folded ${collapsed.height} px, unfolded ${unfolded.height} px`)
        assert.isAtMost(collapsed.height, 4 * 900, `the folded page is at most four screens at ${width} px`)
        yield* screenshot(page, dir, `report-${width}-unfolded`)

        // Self-contained: the page loaded nothing but itself.
        assert.deepStrictEqual([...new Set(requested)], [`file://${file}`])
      }
    }).pipe(Effect.scoped, Effect.provide(stack(uniqueEnv("report"))))
  }, { timeout: 120_000 })

  it.live("says when retention removed the older snapshots, and from which loop the page is complete", () => {
    const sessionId = SessionId.make("sess_reportcut1")
    return Effect.gen(function*() {
      yield* runTo(sessionId, 200, "crash")
      yield* loseLiveState(sessionId)
      yield* runTo(sessionId, 400, "stop") // resumed from a snapshot that retention will remove
      const before = yield* SessionReport.gather(sessionId)
      assert.isNull(SessionReport.historyCut(before), "the whole history is there")
      assert.strictEqual(before.snapshots[0]?.sequence, 1)
      const restored = before.events[0]?.detail.sequence

      const removed = yield* (yield* SnapshotStore).cleanup({ olderThanDays: 0, keepLatest: 10 })
      const after = yield* SessionReport.gather(sessionId)
      assert.strictEqual(removed.reduce((sum, cut) => sum + cut.removed, 0), before.snapshots.length - 10)
      const oldest = after.snapshots[0]!
      const oldestLoop = Result.isSuccess(oldest.result) ? oldest.result.success.state.session.loopCount : assert.fail("kept snapshot is valid")
      assert.isAbove(oldestLoop, 200, "the kept history begins after the resume")

      const { dir, file } = yield* writeReport(after)
      const browser = yield* HeadlessChromium.launch
      for (const width of widths) {
        const page = yield* HeadlessChromium.openPage(browser, file, width)
        yield* assertLaidOut(page, width)
        const notice = yield* Effect.promise(() => page.locator("#retention").innerText())
        assert.include(notice, "Earlier history was removed by retention (cleanup)")
        assert.include(notice, `the oldest snapshot still stored is #${oldest.sequence}`)
        assert.include(notice, `the resumes below name 1 snapshot no longer stored (#${String(restored)})`)
        assert.include(notice, `This page is complete from loop ${oldestLoop} on`)
        // The resume at loop 200 happened before the kept history: listed, not drawn where it did not happen.
        assert.lengthOf(yield* HeadlessChromium.renderedElements(page, ".resume-label"), 0)
        assert.strictEqual(yield* Effect.promise(() => page.locator("#resumes tbody tr").count()), 1)
        assert.isAbove(yield* screenshot(page, dir, `report-cut-${width}`), 0)
      }
    }).pipe(Effect.scoped, Effect.provide(stack(uniqueEnv("reportcut"))))
  }, { timeout: 120_000 })
})
