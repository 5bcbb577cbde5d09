/**
 * The pure parts of the session report: the drawdown it draws and states,
 * the round axis ticks, the lanes of the resume labels, and when it says that
 * retention cut the history. (The page itself is rendered and measured in a
 * browser by `test/integration/Report.test.ts`.)
 */
import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Effect, Result } from "effect"
import type { EngineState } from "../../src/domain/EngineState.ts"
import { SessionId } from "../../src/domain/Ids.ts"
import { StateCodecError } from "../../src/domain/StateCodecError.ts"
import { drawdownOf } from "../../src/report/Drawdown.ts"
import { layoutResumeLabels, niceTicks, type ResumeMark } from "../../src/report/SessionChart.ts"
import { historyCut, render } from "../../src/report/SessionReport.ts"
import { engineStateArbitrary } from "../support/StateArbitrary.ts"
import type { RecordedEvent } from "../../src/store/SessionEvents.ts"
import type { SnapshotRead } from "../../src/store/SnapshotStore.ts"

const series = (values: ReadonlyArray<number>) => values.map((equityUsd, i) => ({ loop: i * 10, equityUsd }))

describe("drawdownOf", () => {
  it("finds the deepest fall below a running peak, where it began and bottomed, and when it was made good", () => {
    const { max, points } = drawdownOf(series([100, 110, 104, 99, 112, 108, 111]))
    assert.deepStrictEqual(points.map((p) => p.usd), [0, 0, -6, -11, 0, -4, -1])
    assert.deepStrictEqual(max, {
      usd: -11,
      fraction: -0.1,
      peakLoop: 10,
      peakUsd: 110,
      troughLoop: 30,
      troughUsd: 99,
      recoveredAtLoop: 40
    })
  })

  it("has no deepest fall for equity that never falls, and none made good for a fall not recovered", () => {
    assert.isNull(drawdownOf(series([100, 100, 101, 105])).max)
    assert.isNull(drawdownOf([]).max)
    assert.isNull(drawdownOf(series([100, 120, 90, 95])).max?.recoveredAtLoop)
    assert.strictEqual(drawdownOf(series([100, 120, 90, 95])).max?.fraction, -0.25)
  })
})

describe("niceTicks", () => {
  it("gives round values in steps of 1, 2, 2.5 or 5 × 10^k within the range, at most as many as asked", () => {
    assert.deepStrictEqual(niceTicks(0, 900, 5), [0, 200, 400, 600, 800])
    assert.deepStrictEqual(niceTicks(379, 400, 5), [380, 385, 390, 395, 400])
    assert.deepStrictEqual(niceTicks(-66.59, 0, 4), [-60, -40, -20, 0])
    assert.deepStrictEqual(niceTicks(0, 10, 3), [0, 5, 10])
    assert.deepStrictEqual(niceTicks(25_000, 25_000, 3), [24_999, 25_000, 25_001], "a single value gets a range around it")
  })
})

describe("layoutResumeLabels", () => {
  const mark = (number: number, loop: number): ResumeMark => ({ number, loop, after: "crash", tier: "live" })

  it("puts labels of resumes close together in lanes of their own, and far apart ones in one lane", () => {
    const share = (loop: number) => loop / 900
    const close = layoutResumeLabels([mark(1, 600), mark(2, 615), mark(3, 630)], share)
    assert.deepStrictEqual(close.map((l) => l.lane), [0, 1, 2])
    assert.deepStrictEqual(close.map((l) => l.text), ["1 · crash · live tier", "2 · crash · live tier", "3 · crash · live tier"])
    const apart = layoutResumeLabels([mark(1, 0), mark(2, 890)], share)
    assert.deepStrictEqual(apart.map((l) => [l.lane, l.anchor]), [[0, "start"], [0, "end"]])
  })

  it("shortens the labels when full ones would need too many lanes", () => {
    const crowded = layoutResumeLabels(Array.from({ length: 8 }, (_, i) => mark(i + 1, 400 + i)), (loop) => loop / 900)
    assert.deepStrictEqual(crowded.map((l) => l.text), ["1", "2", "3", "4", "5", "6", "7", "8"])
  })
})

describe("historyCut", () => {
  const sessionId = SessionId.make("sess_cutunit1")
  const read = (sequence: number): SnapshotRead => ({
    snapshotId: sequence,
    sequence,
    sealKey: null,
    encrypted: false,
    recordedAt: 1_000 * sequence,
    bytes: 0,
    header: undefined,
    result: Result.fail(StateCodecError.invalid("snapshot", "unreadable for this test"))
  })
  const resumedFrom = (sequence: number): RecordedEvent => ({
    kind: "resumed",
    fencingToken: 2,
    loopCount: 50,
    recordedAt: 0,
    detail: { source: "snapshot", sequence, after: "crash", skipped: [], skippedCount: 0 }
  })

  it("is none while the first snapshot is stored and every snapshot a resume names is", () => {
    assert.isNull(historyCut({ sessionId, ledger: [], snapshots: [read(1), read(2), read(3)], events: [resumedFrom(2)] }))
  })

  it("is the oldest stored snapshot when it is not the first", () => {
    const cut = historyCut({ sessionId, ledger: [], snapshots: [read(7), read(8)], events: [] })
    assert.deepStrictEqual(cut, { oldestSequence: 7, oldestRecordedAt: 7_000, completeFromLoop: null, removedReferences: [] })
  })

  it("names the snapshots a resume restored or passed over that are no longer stored", () => {
    const passedOver = { ...resumedFrom(5), detail: { ...resumedFrom(5).detail, skipped: [{ source: "snapshot", sequence: 4, reason: "checksum" }] } }
    const cut = historyCut({ sessionId, ledger: [], snapshots: [read(1), read(6)], events: [passedOver] })
    assert.deepStrictEqual(cut?.removedReferences, [4, 5])
  })
})

describe("render: orders in flight", () => {
  const sessionId = SessionId.make("sess_inflight1")
  const page = (state: EngineState) =>
    render({
      sessionId,
      snapshots: [{
        snapshotId: 1,
        sequence: 1,
        sealKey: null,
        encrypted: false,
        recordedAt: 0,
        bytes: 0,
        header: undefined,
        result: Result.succeed({ envelopeVersion: 1, sessionId, snapshotType: "trade", sequence: 1, fencingToken: 1, createdAt: 0, checksum: "x", state })
      }],
      ledger: [],
      events: []
    })

  it.effect("lists a live session's trades in flight at its last snapshot, leg by leg, an unwinding one named for what it is", () =>
    Effect.gen(function*() {
      const sampled = yield* Arbitrary.sampleEffect(engineStateArbitrary({ maxOpenTrades: 2, maxPendingTrades: 3 }), { count: 200, seed: 8 })
      const states = sampled.filter((s) => Object.keys(s.positions.pendingTrades ?? {}).length > 0).map((s) => ({ ...s, session: { ...s.session, sessionId } }))
      assert.isAbove(states.length, 0, "sampled states with trades in flight")
      assert.isTrue(states.some((s) => Object.values(s.positions.pendingTrades!).some((p) => p.phase === "unwinding")))
      for (const state of states.slice(0, 20)) {
        const html = page(state)
        assert.include(html, "<h2>Orders in flight</h2>")
        for (const pending of Object.values(state.positions.pendingTrades!)) {
          for (const intent of pending.intents) assert.include(html, intent.clientOrderId)
          if (pending.phase === "unwinding") assert.include(html, "unwinding (an entry that lost a leg)")
        }
      }
    }))

  it.effect("has no such section for a session with nothing in flight", () =>
    Effect.gen(function*() {
      const [state] = yield* Arbitrary.sampleEffect(engineStateArbitrary({ maxPendingTrades: 0 }), { count: 1, seed: 9 })
      assert.notInclude(page({ ...state!, session: { ...state!.session, sessionId } }), "Orders in flight")
    }))
})
