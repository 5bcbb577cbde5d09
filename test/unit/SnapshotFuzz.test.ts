/**
 * Thousands of random corruptions of sealed snapshots, of the kinds storage
 * faults leave: flipped bits, truncations, swapped and deleted fields,
 * replaced values. Opening one must give a typed failure or a valid
 * snapshot, and never throw.
 */
import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Effect, Exit, Result } from "effect"
import {
  decodeSnapshot,
  decodeSnapshotJson,
  encodeSnapshot,
  encodeSnapshotJson,
  snapshotChecksum
} from "../../src/domain/Snapshot.ts"
import { encodeEngineState } from "../../src/domain/StateCodec.ts"
import { objectsOf, pick, type Rng, seededRandom } from "../support/Damage.ts"
import { engineStateArbitrary } from "../support/StateArbitrary.ts"

const flipBit = (text: string, rng: Rng) => {
  const bytes = Buffer.from(text, "utf8")
  const index = Math.floor(rng() * bytes.length)
  bytes[index] = bytes[index]! ^ (1 << Math.floor(rng() * 8))
  return bytes.toString("utf8")
}

const truncate = (text: string, rng: Rng) => text.slice(0, Math.floor(rng() * text.length))

const strangeValues = [null, "", -1, 0, 1e308, -0.5, "NaN", true, [], {}, "sess_other", 2 ** 53 + 1, { version: 9 }]

const mutateJson = (value: unknown, rng: Rng) => {
  const objects = objectsOf(value).filter((o) => Object.keys(o).length > 0)
  const target = pick(rng, objects)
  const keys = Object.keys(target)
  const key = pick(rng, keys)
  switch (pick(rng, ["delete", "replace", "swap", "rename"] as const)) {
    case "delete":
      delete target[key]
      break
    case "replace":
      target[key] = structuredClone(pick(rng, strangeValues))
      break
    case "swap": {
      const other = pick(rng, keys)
      ;[target[key], target[other]] = [target[other], target[key]]
      break
    }
    case "rename":
      target[`${key}_`] = target[key]
      delete target[key]
      break
  }
  return value
}

describe("snapshot fuzzing", () => {
  it.effect("5,000 corrupted snapshots give only typed failures or valid snapshots, never a defect", () =>
    Effect.gen(function*() {
      const states = yield* Arbitrary.sampleEffect(engineStateArbitrary(), { count: 25, seed: 11 })
      const rng = seededRandom(20251120)
      const outcomes = { typedFailure: 0, valid: 0 }
      for (let i = 0; i < 5_000; i++) {
        const state = states[i % states.length]!
        const metadata = { sessionId: state.session.sessionId, snapshotType: "periodic" as const, sequence: i, fencingToken: 1, createdAt: i }
        const kind = pick(rng, ["bits", "truncate", "json", "json-unsealed"] as const)
        const exit = yield* Effect.exit(Effect.sync(() => {
          if (kind === "bits" || kind === "truncate") {
            const text = Result.getOrThrow(encodeSnapshotJson(metadata, state))
            return decodeSnapshotJson(kind === "bits" ? flipBit(text, rng) : truncate(text, rng))
          }
          const sealed = structuredClone(Result.getOrThrow(encodeSnapshot(metadata, state)))
          if (kind === "json") return decodeSnapshot(mutateJson(sealed, rng))
          // A fault that rewrote the checksum too: only the Schemas and invariants stand between it and a restore.
          const payload = mutateJson(structuredClone(Result.getOrThrow(encodeEngineState(state))), rng)
          return decodeSnapshot({ ...sealed, payload, checksum: snapshotChecksum(sealed, payload) })
        }))
        assert.isTrue(Exit.isSuccess(exit), `case ${i} (${kind}) raised a defect: ${String(exit)}`)
        if (Exit.isSuccess(exit)) {
          const result = exit.value
          if (Result.isFailure(result)) {
            assert.strictEqual(result.failure._tag, "StateCodecError")
            assert.isString(result.failure.message)
            outcomes.typedFailure++
          } else {
            // Whatever decoded is a whole, valid snapshot of its session: re-sealing it must succeed.
            assert.isTrue(Result.isSuccess(encodeSnapshot(result.success, result.success.state)))
            outcomes.valid++
          }
        }
      }
      assert.strictEqual(outcomes.typedFailure + outcomes.valid, 5_000)
      assert.isAbove(outcomes.typedFailure, 4_000)
    }))
})
