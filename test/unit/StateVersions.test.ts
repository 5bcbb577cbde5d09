import { assert, describe, it } from "@effect/vitest"
import { decodeEngineState, decodeEngineStateJson, encodeEngineState, sectionCodecs } from "../../src/domain/StateCodec.ts"
import { decodeSnapshotJson } from "../../src/domain/Snapshot.ts"
import { fixtureJson, fixtureText } from "../support/Fixtures.ts"
import { expectCodecFailure, expectSuccess } from "../support/Results.ts"

const v1Fixtures = ["v1/engine-state-open-trade.json", "v1/engine-state-flat.json"]

describe("stored versions", () => {
  for (const path of v1Fixtures) {
    it(`${path} decodes to the current version, keeping every stored field`, () => {
      const stored = fixtureJson(path)
      const state = expectSuccess(decodeEngineStateJson(fixtureText(path)))
      const { version: _s, ...session } = stored.session
      const { version: _p, ...positions } = stored.positions
      const { version: _r, ...riskGuard } = stored.riskGuard
      const { version: metricsVersion, ...metricsV1 } = stored.metrics
      assert.strictEqual(metricsVersion, 1)
      assert.deepStrictEqual(state.session, { ...session, market: null })
      assert.deepStrictEqual(state.positions, positions)
      assert.deepStrictEqual(state.riskGuard, riskGuard)
      assert.deepStrictEqual(state.metrics, {
        ...metricsV1,
        initialCapitalUsd: metricsV1.portfolioEquityUsd - metricsV1.totalPnlUsd
      })
    })

    it(`${path} re-encodes at the current version and reads back the same`, () => {
      const state = expectSuccess(decodeEngineStateJson(fixtureText(path)))
      const encoded = expectSuccess(encodeEngineState(state))
      assert.strictEqual(encoded.metrics.version, sectionCodecs.metrics.currentVersion)
      assert.deepStrictEqual(expectSuccess(decodeEngineState(encoded)), state)
    })
  }

  it("a v1 snapshot envelope verifies its checksum over the stored v1 payload and decodes upgraded", () => {
    const stored = fixtureJson("v1/snapshot-trade.json")
    const snapshot = expectSuccess(decodeSnapshotJson(fixtureText("v1/snapshot-trade.json")))
    assert.strictEqual(snapshot.sequence, stored.sequence)
    assert.strictEqual(snapshot.checksum, stored.checksum)
    assert.strictEqual(snapshot.state.session.sessionId, stored.sessionId)
    assert.strictEqual(
      snapshot.state.metrics.initialCapitalUsd,
      stored.payload.metrics.portfolioEquityUsd - stored.payload.metrics.totalPnlUsd
    )
    const trade = snapshot.state.positions.activeTrades[stored.payload.positions.activeTrades.trd_000017.tradeId]
    assert.deepStrictEqual(trade?.orderA, stored.payload.positions.activeTrades.trd_000017.orderA)
    assert.deepStrictEqual(trade?.orderB, stored.payload.positions.activeTrades.trd_000017.orderB)
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
