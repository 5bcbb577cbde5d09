import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { EngineState } from "../../src/domain/EngineState.ts"
import { SessionId } from "../../src/domain/Ids.ts"
import { decodeSnapshot, decodeSnapshotJson, encodeSnapshot, encodeSnapshotJson } from "../../src/domain/Snapshot.ts"
import { decodeEngineStateJson } from "../../src/domain/StateCodec.ts"
import { fixtureText } from "../support/Fixtures.ts"
import { expectCodecFailure, expectSuccess, withoutNegativeZero } from "../support/Results.ts"
import { engineStateArbitrary } from "../support/StateArbitrary.ts"

const metadataOf = (state: EngineState) => ({
  sessionId: state.session.sessionId,
  snapshotType: "trade" as const,
  sequence: 3,
  fencingToken: 2,
  createdAt: 1_763_629_200_000
})

const fixtureState = () => expectSuccess(decodeEngineStateJson(fixtureText("v1/engine-state-open-trade.json")))

describe("Snapshot", () => {
  it.effect.prop("open(seal(state)) gives back the state and the metadata", { state: engineStateArbitrary() }, ({ state }) =>
    Effect.sync(() => {
      const snapshot = expectSuccess(decodeSnapshotJson(expectSuccess(encodeSnapshotJson(metadataOf(state), state))))
      assert.deepStrictEqual(snapshot.state, withoutNegativeZero(state))
      assert.deepStrictEqual({ ...metadataOf(state), envelopeVersion: 1 }, {
        sessionId: snapshot.sessionId,
        snapshotType: snapshot.snapshotType,
        sequence: snapshot.sequence,
        fencingToken: snapshot.fencingToken,
        createdAt: snapshot.createdAt,
        envelopeVersion: snapshot.envelopeVersion
      })
    }), { arbitrary: { runs: 100 } })

  it("a changed payload value fails the checksum", () => {
    const sealed = structuredClone(expectSuccess(encodeSnapshot(metadataOf(fixtureState()), fixtureState()))) as any
    sealed.payload.metrics.totalPnlUsd = 1_000_000
    const error = expectCodecFailure(decodeSnapshot(sealed))
    assert.strictEqual(error.reason._tag, "ChecksumMismatch")
  })

  it("changed metadata (the sequence) fails the checksum", () => {
    const sealed = { ...expectSuccess(encodeSnapshot(metadataOf(fixtureState()), fixtureState())), sequence: 99 }
    assert.strictEqual(expectCodecFailure(decodeSnapshot(sealed)).reason._tag, "ChecksumMismatch")
  })

  it("a payload from another session is refused, even with a matching checksum", () => {
    const state = fixtureState()
    const other = SessionId.make("sess_other0001")
    const error = expectCodecFailure(encodeSnapshot({ ...metadataOf(state), sessionId: other }, state))
    assert.include(error.message, "cannot be sealed")
  })

  it("a newer envelope version is UnsupportedVersion", () => {
    const sealed = { ...expectSuccess(encodeSnapshot(metadataOf(fixtureState()), fixtureState())), envelopeVersion: 2 }
    const error = expectCodecFailure(decodeSnapshot(sealed))
    assert.strictEqual(error.reason._tag, "UnsupportedVersion")
  })

  it("a missing checksum or a bad snapshot type names the field", () => {
    const sealed = expectSuccess(encodeSnapshot(metadataOf(fixtureState()), fixtureState()))
    const { checksum: _, ...withoutChecksum } = sealed
    assert.include(expectCodecFailure(decodeSnapshot(withoutChecksum)).message, "snapshot.checksum")
    assert.include(expectCodecFailure(decodeSnapshot({ ...sealed, snapshotType: "nightly" })).message, "snapshot.snapshotType")
  })
})
