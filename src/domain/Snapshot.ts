/**
 * Snapshot: the envelope of a durable copy of the engine state.
 *
 * Besides the state, an envelope says which session it belongs to, why it was
 * taken, its place in the session's sequence, the fencing token of the writer
 * that took it, and a checksum over all of that. A snapshot whose checksum
 * does not match, or whose state belongs to another session, is never read as
 * valid.
 *
 * @module
 */
import { Result, Schema } from "effect"
import { checksumOf } from "./Checksum.ts"
import { maxPayloadDepth, storableIssue } from "./internal/JsonLimits.ts"
import type { EngineState } from "./EngineState.ts"
import { SessionId } from "./Ids.ts"
import {
  decodeEngineState,
  type EncodedEngineState,
  encodeEngineState,
  parseJson
} from "./StateCodec.ts"
import { ChecksumMismatch, StateCodecError, UnsupportedVersion } from "./StateCodecError.ts"
import { Count, EpochMillis } from "./Units.ts"

/** Why a snapshot was taken. */
export const SnapshotType = Schema.Literals(["periodic", "trade", "shutdown", "manual"])
export type SnapshotType = typeof SnapshotType.Type

/** The envelope format this code writes (the sections carry their own versions). */
export const currentEnvelopeVersion = 1

/** The metadata of a snapshot, everything but the state. */
export const SnapshotMetadata = Schema.Struct({
  envelopeVersion: Schema.Literal(currentEnvelopeVersion),
  sessionId: SessionId,
  snapshotType: SnapshotType,
  /** Position in the session's sequence of snapshots; strictly increasing. */
  sequence: Count,
  /** Token of the lease holder that wrote it; a stale writer's token is lower. */
  fencingToken: Count,
  createdAt: EpochMillis
}).annotate({ identifier: "SnapshotMetadata" })
export type SnapshotMetadata = typeof SnapshotMetadata.Type

/** A decoded, verified snapshot. */
export interface Snapshot extends SnapshotMetadata {
  readonly checksum: string
  readonly state: EngineState
}

/** The stored form of a snapshot: metadata, checksum and the encoded state. */
export interface EncodedSnapshot {
  readonly envelopeVersion: number
  readonly sessionId: string
  readonly snapshotType: string
  readonly sequence: number
  readonly fencingToken: number
  readonly createdAt: number
  readonly checksum: string
  readonly payload: EncodedEngineState
}

/** The checksum covers the metadata and the encoded payload, so neither can change unnoticed. */
export const snapshotChecksum = (metadata: Omit<EncodedSnapshot, "checksum" | "payload">, payload: unknown) =>
  checksumOf({
    envelopeVersion: metadata.envelopeVersion,
    sessionId: metadata.sessionId,
    snapshotType: metadata.snapshotType,
    sequence: metadata.sequence,
    fencingToken: metadata.fencingToken,
    createdAt: metadata.createdAt,
    payload
  })

const encodeMetadata = Schema.encodeUnknownResult(SnapshotMetadata)
const decodeMetadata = Schema.decodeUnknownResult(SnapshotMetadata)

/** Seals a state into an envelope: encodes it, checks the session matches, and computes the checksum. */
export const encodeSnapshot = (
  metadata: Omit<SnapshotMetadata, "envelopeVersion">,
  state: EngineState
): Result.Result<EncodedSnapshot, StateCodecError> =>
  Result.gen(function*() {
    if (state.session.sessionId !== metadata.sessionId) {
      return yield* Result.fail(StateCodecError.invalid(
        "snapshot",
        `state of session ${state.session.sessionId} cannot be sealed as a snapshot of ${metadata.sessionId}`
      ))
    }
    const encodedMetadata = yield* Result.mapError(
      encodeMetadata({ ...metadata, envelopeVersion: currentEnvelopeVersion }, { errors: "all" }),
      (error) => StateCodecError.fromIssue("snapshot", error.issue)
    )
    const payload = yield* encodeEngineState(state)
    return { ...encodedMetadata, checksum: snapshotChecksum(encodedMetadata, payload), payload }
  })

/**
 * Opens an envelope: checks the envelope version, the metadata, the checksum,
 * then decodes (and upgrades) the state and checks it belongs to the session.
 */
export const decodeSnapshot = (input: unknown): Result.Result<Snapshot, StateCodecError> =>
  Result.gen(function*() {
    if (input === null || typeof input !== "object" || Array.isArray(input)) {
      return yield* Result.fail(StateCodecError.invalid("snapshot", "expected a snapshot envelope object"))
    }
    const { checksum, payload, ...rest } = input as Record<string, unknown>
    const envelopeVersion = rest.envelopeVersion
    if (typeof envelopeVersion === "number" && Number.isInteger(envelopeVersion) && envelopeVersion > currentEnvelopeVersion) {
      return yield* Result.fail(
        new StateCodecError({
          reason: new UnsupportedVersion({
            part: "snapshot",
            found: String(envelopeVersion),
            newestKnown: currentEnvelopeVersion,
            message: `snapshot envelope has version ${envelopeVersion}; this code reads version ${currentEnvelopeVersion}`
          })
        })
      )
    }
    const metadata = yield* Result.mapError(
      decodeMetadata(rest, { errors: "all", onExcessProperty: "error" }),
      (error) => StateCodecError.fromIssue("snapshot", error.issue)
    )
    if (typeof checksum !== "string") {
      return yield* Result.fail(StateCodecError.invalid("snapshot", "checksum is missing at snapshot.checksum"))
    }
    // The checksum's canonical form walks the payload recursively: a damaged one nested thousands
    // deep is refused before it is walked.
    const tooDeep = storableIssue(payload, "snapshot.payload", maxPayloadDepth)
    if (tooDeep !== undefined) return yield* Result.fail(StateCodecError.invalid("snapshot", tooDeep))
    const actual = snapshotChecksum(metadata, payload)
    if (actual !== checksum) {
      return yield* Result.fail(
        new StateCodecError({
          reason: new ChecksumMismatch({
            expected: checksum,
            actual,
            message: `snapshot ${metadata.sessionId}#${metadata.sequence} fails its checksum: stored ${checksum}, computed ${actual}`
          })
        })
      )
    }
    const state = yield* decodeEngineState(payload)
    if (state.session.sessionId !== metadata.sessionId) {
      return yield* Result.fail(StateCodecError.invalid(
        "snapshot",
        `state of session ${state.session.sessionId} found in a snapshot of ${metadata.sessionId} at snapshot.payload.session.sessionId`
      ))
    }
    return { ...metadata, checksum, state }
  })

/** JSON text of a sealed snapshot (files, exports). */
export const encodeSnapshotJson = (
  metadata: Omit<SnapshotMetadata, "envelopeVersion">,
  state: EngineState
): Result.Result<string, StateCodecError> => Result.map(encodeSnapshot(metadata, state), (s) => JSON.stringify(s))

/** Opens a snapshot from JSON text. */
export const decodeSnapshotJson = (text: string): Result.Result<Snapshot, StateCodecError> =>
  Result.flatMap(parseJson("snapshot", text), decodeSnapshot)
