import { assert, describe, it } from "@effect/vitest"
import { decodeEngineState, decodeEngineStateJson, encodeEngineState, sectionCodecs } from "../../src/domain/StateCodec.ts"
import { decodeSnapshot, decodeSnapshotJson } from "../../src/domain/Snapshot.ts"
import { fixtureJson, fixtureText } from "../support/Fixtures.ts"
import { expectCodecFailure, expectSuccess } from "../support/Results.ts"

const v1Fixtures = ["v1/engine-state-open-trade.json", "v1/engine-state-flat.json"]
const v2Fixtures = ["v2/engine-state-open-trade.json", "v2/engine-state-flat-unrecorded-market.json"]
const v3Fixtures = ["v3/engine-state-open-trade.json"]

/** A stored v1 trade (A/B legs and a direction) as the current version holds it: by buy and sell leg (a later one is already). */
const upgradedTrade = ({ direction, orderA, orderB, ...rest }: any) =>
  "buyLeg" in rest ? rest : {
    ...rest,
    buyLeg: direction === "buy_a_sell_b" ? orderA : orderB,
    sellLeg: direction === "buy_a_sell_b" ? orderB : orderA
  }
const upgradedPositions = (stored: any) => ({
  activeTrades: Object.fromEntries(Object.entries(stored.activeTrades).map(([id, trade]) => [id, upgradedTrade(trade)])),
  positionOpenTimes: stored.positionOpenTimes
})
const withoutVersion = ({ version: _, ...fields }: any) => fields

describe("stored versions", () => {
  for (const path of v1Fixtures) {
    it(`${path} decodes to the current version, keeping every stored field`, () => {
      const stored = fixtureJson(path)
      const state = expectSuccess(decodeEngineStateJson(fixtureText(path)))
      const { version: metricsVersion, ...metricsV1 } = stored.metrics
      assert.strictEqual(metricsVersion, 1)
      // Version 1 recorded no market: the current version leaves it out.
      assert.deepStrictEqual(state.session, withoutVersion(stored.session))
      assert.deepStrictEqual(state.positions, upgradedPositions(stored.positions))
      assert.deepStrictEqual(state.riskGuard, withoutVersion(stored.riskGuard))
      assert.deepStrictEqual(state.metrics, {
        ...metricsV1,
        initialCapitalUsd: metricsV1.portfolioEquityUsd - metricsV1.totalPnlUsd
      })
    })
  }

  for (const path of v2Fixtures) {
    it(`${path} (session 2, positions 1, metrics 2) decodes to the current version, keeping every stored field`, () => {
      const stored = fixtureJson(path)
      assert.deepStrictEqual([stored.session.version, stored.positions.version, stored.metrics.version], [2, 1, 2])
      const state = expectSuccess(decodeEngineStateJson(fixtureText(path)))
      const { market, ...session } = withoutVersion(stored.session)
      // A market recorded as null (unknown) is a market left out; a recorded one is kept as it was.
      assert.deepStrictEqual(state.session, market === null ? session : { ...session, market })
      assert.deepStrictEqual(state.positions, upgradedPositions(stored.positions))
      assert.deepStrictEqual(state.metrics, withoutVersion(stored.metrics))
      assert.deepStrictEqual(state.riskGuard, withoutVersion(stored.riskGuard))
    })
  }

  for (const path of v3Fixtures) {
    it(`${path} (session 3, positions 2, metrics 2) decodes to the current version, keeping every stored field`, () => {
      const stored = fixtureJson(path)
      assert.deepStrictEqual([stored.session.version, stored.positions.version, stored.metrics.version], [3, 2, 2])
      const state = expectSuccess(decodeEngineStateJson(fixtureText(path)))
      // Version 2 had no trade in flight: the current version leaves pendingTrades out.
      assert.deepStrictEqual(state.positions, withoutVersion(stored.positions))
      assert.notProperty(state.positions, "pendingTrades")
      assert.deepStrictEqual(state.session, withoutVersion(stored.session))
      assert.deepStrictEqual(state.metrics, withoutVersion(stored.metrics))
      assert.isAbove(Object.keys(state.positions.activeTrades).length, 1)
    })
  }

  for (const path of [...v1Fixtures, ...v2Fixtures, ...v3Fixtures]) {
    it(`${path} re-encodes at the current versions and reads back the same`, () => {
      const state = expectSuccess(decodeEngineStateJson(fixtureText(path)))
      const encoded = expectSuccess(encodeEngineState(state))
      for (const section of ["session", "positions", "metrics", "riskGuard"] as const) {
        assert.strictEqual(encoded[section].version, sectionCodecs[section].currentVersion, section)
      }
      assert.deepStrictEqual(expectSuccess(decodeEngineState(encoded)), state)
    })
  }

  for (const path of ["v1/snapshot-trade.json", "v2/snapshot-trade.json", "v3/snapshot-trade.json"]) {
    it(`${path}: the envelope verifies its checksum over the stored payload and decodes upgraded`, () => {
      const stored = fixtureJson(path)
      const snapshot = expectSuccess(decodeSnapshotJson(fixtureText(path)))
      assert.strictEqual(snapshot.sequence, stored.sequence)
      assert.strictEqual(snapshot.checksum, stored.checksum)
      assert.strictEqual(snapshot.state.session.sessionId, stored.sessionId)
      assert.deepStrictEqual(snapshot.state.positions, upgradedPositions(stored.payload.positions))
      assert.isAbove(Object.keys(snapshot.state.positions.activeTrades).length, 0)
      // One changed byte of the stored payload fails the checksum: the upgrade does not hide damage.
      const damaged = structuredClone(stored)
      damaged.payload.session.loopCount += 1
      assert.strictEqual(expectCodecFailure(decodeSnapshot(damaged)).reason._tag, "ChecksumMismatch")
    })
  }

  it("a v1 trade whose legs break version 1's rules (order_b on venue A) is refused, not upgraded", () => {
    const stored = fixtureJson("v1/engine-state-open-trade.json")
    stored.positions.activeTrades.trd_000017.orderB.venue = "A"
    const error = expectCodecFailure(decodeEngineState(stored))
    assert.include(error.message, "positions.activeTrades.trd_000017.orderB.venue")
  })

  it("a section version newer than the code is an UnsupportedVersion naming the versions it reads", () => {
    const stored = fixtureJson("v1/engine-state-flat.json")
    const error = expectCodecFailure(decodeEngineState({ ...stored, metrics: { ...stored.metrics, version: 3 } }))
    assert.strictEqual(error.reason._tag, "UnsupportedVersion")
    assert.include(error.message, "metrics has version 3")
    assert.include(error.message, "1, 2")
  })

  it("a missing or non-integer version is an UnsupportedVersion, not a guess", () => {
    const stored = fixtureJson("v1/engine-state-flat.json")
    for (const version of [undefined, "2", 1.5, null]) {
      const error = expectCodecFailure(decodeEngineState({ ...stored, session: { ...stored.session, version } }))
      assert.strictEqual(error.reason._tag, "UnsupportedVersion", `version ${String(version)}`)
      assert.include(error.message, "session has version")
    }
  })
})
