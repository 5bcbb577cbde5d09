/**
 * StateCodec: the stored forms of the engine state, derived from its Schemas.
 *
 * - JSON values (for PostgreSQL JSONB and for composing envelopes): each
 *   section is `{ "version": N, ...fields }`.
 * - JSON text (for Redis): the same values, stringified.
 *
 * Decoding never throws: any input gives the current-version state or a
 * `StateCodecError` naming the part, the path and the problem.
 *
 * @module
 */
import { Result, Schema } from "effect"
import { CustomSections, unstorableCustom } from "./CustomSection.ts"
import { EngineState, engineStateIssues, type SectionName, sectionNames } from "./EngineState.ts"
import { MetricsState, MetricsStateV1, migrateMetricsV1 } from "./MetricsState.ts"
import { migratePositionsV1, migratePositionsV2, PositionsState, PositionsStateV1, PositionsStateV2 } from "./PositionsState.ts"
import { RiskGuardState } from "./RiskGuardState.ts"
import { migrateSessionV1, migrateSessionV2, SessionState, SessionStateV1, SessionStateV2 } from "./SessionState.ts"
import { MalformedJson, StateCodecError, type StatePart } from "./StateCodecError.ts"
import { makeVersionedSection, olderVersion, olderVersionVia, type VersionedJson, type VersionedSection } from "./VersionedSection.ts"
import {
  migrateMetricsV0,
  migratePositionsV0,
  migrateRiskGuardV0,
  migrateSessionV0,
  MetricsStateV0,
  PositionsStateV0,
  RiskGuardStateV0,
  SessionStateV0
} from "./D70State.ts"

const sessionV1 = olderVersion(1, SessionStateV1, migrateSessionV1)
const positionsV2 = olderVersion(2, PositionsStateV2, migratePositionsV2)
const metricsV1 = olderVersion(1, MetricsStateV1, migrateMetricsV1)
const decodeRiskGuard = Schema.decodeUnknownResult(RiskGuardState)

/**
 * The versioned codec of each section, with an upgrade from every version ever stored:
 * - session at version 3: 2 recorded the paper market as required (`null` when unknown), 1 not at
 *   all; 3 keeps it optional, as runner metadata;
 * - positions at version 3: open trades, trades in flight at venues (`pendingTrades`) and the venues'
 *   holdings before the session; 2 had no trade in flight; 1 held A/B legs and a direction;
 * - metrics at version 2: 1 upgrades by deriving the initial capital;
 * - risk guard at version 1;
 * - every section at version 0: the D70 form, without a version field (`D70State`), read through
 *   version 1 (the positions through version 2).
 */
export const sectionCodecs: { readonly [K in SectionName]: VersionedSection<EngineState[K]> } = {
  session: makeVersionedSection({
    part: "session",
    schema: SessionState,
    currentVersion: 3,
    olderVersions: [
      olderVersionVia(0, SessionStateV0, migrateSessionV0, sessionV1.decodeAndUpgrade),
      sessionV1,
      olderVersion(2, SessionStateV2, migrateSessionV2)
    ]
  }),
  positions: makeVersionedSection({
    part: "positions",
    schema: PositionsState,
    currentVersion: 3,
    olderVersions: [
      olderVersionVia(0, PositionsStateV0, migratePositionsV0, positionsV2.decodeAndUpgrade),
      olderVersion(1, PositionsStateV1, migratePositionsV1),
      positionsV2
    ]
  }),
  metrics: makeVersionedSection({
    part: "metrics",
    schema: MetricsState,
    currentVersion: 2,
    olderVersions: [olderVersionVia(0, MetricsStateV0, migrateMetricsV0, metricsV1.decodeAndUpgrade), metricsV1]
  }),
  riskGuard: makeVersionedSection({
    part: "riskGuard",
    schema: RiskGuardState,
    currentVersion: 1,
    olderVersions: [olderVersionVia(0, RiskGuardStateV0, migrateRiskGuardV0, (fields) => decodeRiskGuard(fields, { errors: "all", onExcessProperty: "error" }))]
  })
}

/**
 * The encoded engine state: one versioned JSON object per section, and the runner's own sections
 * (each versioned) under `custom` when it has any.
 */
export type EncodedEngineState = { readonly [K in SectionName]: VersionedJson } & { readonly custom?: CustomSections }

const checkCustom = Schema.decodeUnknownResult(CustomSections)

/**
 * The runner's own sections as stored, checked as far as the core can: names, JSON objects each
 * with a version (their Schemas are the runner's, checked by `CustomSection.verify`). An empty
 * record, `null` or absence all mean none.
 */
export const decodeCustomSections = (input: unknown): Result.Result<CustomSections | undefined, StateCodecError> => {
  if (input === undefined || input === null) return Result.succeed(undefined)
  if (typeof input !== "object" || Array.isArray(input)) {
    return Result.fail(StateCodecError.invalid("custom", `expected an object of sections by name at custom, got ${Array.isArray(input) ? "an array" : typeof input}`))
  }
  // Before the Schema, which walks it recursively: a value nested thousands deep is refused here.
  const unstorable = unstorableCustom(input)
  if (unstorable !== undefined) return Result.fail(StateCodecError.invalid("custom", unstorable))
  return Result.mapBoth(checkCustom(input, { errors: "all", onExcessProperty: "error" }), {
    onFailure: (error) => StateCodecError.fromIssue("custom", error.issue),
    onSuccess: (custom) => (Object.keys(custom).length === 0 ? undefined : custom)
  })
}

/** Encodes every section by its Schema; fails when the state breaks a Schema or an invariant. */
export const encodeEngineState = (state: EngineState): Result.Result<EncodedEngineState, StateCodecError> =>
  Result.flatMap(checkInvariants(state), () =>
    Result.flatMap(
      Result.all({
        session: sectionCodecs.session.encode(state.session),
        positions: sectionCodecs.positions.encode(state.positions),
        metrics: sectionCodecs.metrics.encode(state.metrics),
        riskGuard: sectionCodecs.riskGuard.encode(state.riskGuard)
      }),
      (sections) => Result.map(decodeCustomSections(state.custom), (custom) => (custom === undefined ? sections : { ...sections, custom }))
    ))

/** Decodes (and upgrades) every section, then checks the invariants across them. */
export const decodeEngineState = (input: unknown): Result.Result<EngineState, StateCodecError> => {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    return Result.fail(StateCodecError.invalid("state", "expected an object with the four state sections"))
  }
  const sections = input as Record<string, unknown>
  const missing = sectionNames.filter((name) => !(name in sections))
  if (missing.length > 0) {
    return Result.fail(StateCodecError.invalid("state", `missing section ${missing.join(", ")} at state`))
  }
  return Result.flatMap(
    Result.all({
      session: sectionCodecs.session.decode(sections.session),
      positions: sectionCodecs.positions.decode(sections.positions),
      metrics: sectionCodecs.metrics.decode(sections.metrics),
      riskGuard: sectionCodecs.riskGuard.decode(sections.riskGuard),
      custom: decodeCustomSections(sections.custom)
    }),
    ({ custom, ...builtIn }) => checkInvariants(custom === undefined ? builtIn : { ...builtIn, custom })
  )
}

const checkInvariants = (state: EngineState): Result.Result<EngineState, StateCodecError> => {
  const issues = engineStateIssues(state)
  return issues.length === 0
    ? Result.succeed(state)
    : Result.fail(StateCodecError.invalid("state", issues.map((i) => `${i.issue} at state.${i.path.join(".")}`).join("; ")))
}

/** Parses JSON text; a syntax error (truncation, garbage) is a typed `MalformedJson`. */
export const parseJson = (part: StatePart, text: string): Result.Result<unknown, StateCodecError> => {
  try {
    return Result.succeed(JSON.parse(text))
  } catch (error) {
    return Result.fail(
      new StateCodecError({
        reason: new MalformedJson({ part, message: `${part} is not valid JSON: ${(error as Error).message}` })
      })
    )
  }
}

/** JSON text of the whole engine state. */
export const encodeEngineStateJson = (state: EngineState): Result.Result<string, StateCodecError> =>
  Result.map(encodeEngineState(state), (encoded) => JSON.stringify(encoded))

/** Reads the whole engine state from JSON text. */
export const decodeEngineStateJson = (text: string): Result.Result<EngineState, StateCodecError> =>
  Result.flatMap(parseJson("state", text), decodeEngineState)

/** JSON text of one section (a Redis value). */
export const encodeSectionJson = <K extends SectionName>(
  name: K,
  value: EngineState[K]
): Result.Result<string, StateCodecError> =>
  Result.map((sectionCodecs[name] as VersionedSection<EngineState[K]>).encode(value), (json) => JSON.stringify(json))

/** Reads one section from JSON text (a Redis value), upgrading older versions. */
export const decodeSectionJson = <K extends SectionName>(
  name: K,
  text: string
): Result.Result<EngineState[K], StateCodecError> =>
  Result.flatMap(
    parseJson(name, text),
    (json) => (sectionCodecs[name] as VersionedSection<EngineState[K]>).decode(json)
  )
