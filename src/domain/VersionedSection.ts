/**
 * VersionedSection: the encoded form of a state section carries its version.
 *
 * A section is stored as `{ "version": N, ...fields }`. Reading picks the
 * Schema of version N; an older version is decoded by its own Schema and
 * upgraded to the current shape, which is then checked by the current
 * Schema. A version the code does not know (newer, missing, not an integer)
 * is a typed `UnsupportedVersion`, never a guess.
 *
 * @module
 */
import { Result, Schema } from "effect"
import { compileExactShape } from "./internal/ExactShape.ts"
import { formatIssue, StateCodecError, type StatePart, UnsupportedVersion } from "./StateCodecError.ts"

/** The encoded form of a section: its fields plus `version`. */
export type VersionedJson = { readonly version: number } & Record<string, unknown>

/** A past version: its Schema, and how a value of it becomes a value of the current version (encoded form). */
export interface OlderVersion<Current> {
  readonly version: number
  /** Decodes the fields (the stored form without `version`) by the old Schema and upgrades them. */
  readonly decodeAndUpgrade: (fields: unknown) => Result.Result<Current, Schema.SchemaError>
}

/** Reads and writes one section in every version it ever had. */
export interface VersionedSection<A> {
  readonly part: StatePart
  readonly currentVersion: number
  /** The current-version encoded object, `version` included; fails when the value breaks its Schema. */
  readonly encode: (value: A) => Result.Result<VersionedJson, StateCodecError>
  /** Decodes any known version into the current shape, checked by the current Schema. */
  readonly decode: (input: unknown) => Result.Result<A, StateCodecError>
}

const strict = { onExcessProperty: "error", errors: "all" } as const
const strictFirst = { onExcessProperty: "error", errors: "first" } as const

/** A past version decoded by `schema`, then upgraded by `upgrade` to the current type. */
export const olderVersion = <Old, OldEncoded, Current>(
  version: number,
  schema: Schema.Codec<Old, OldEncoded>,
  upgrade: (old: Old) => Current
): OlderVersion<Current> => {
  const decodeOld = Schema.decodeUnknownResult(schema)
  return {
    version,
    decodeAndUpgrade: (fields) => Result.map(decodeOld(fields, strict), upgrade)
  }
}

/**
 * A past version decoded by `schema` and rewritten by `rewrite` into the stored fields of the
 * version after it, which `next` decodes (by its own Schema and checks) and upgrades from there.
 */
export const olderVersionVia = <Old, OldEncoded, Current>(
  version: number,
  schema: Schema.Codec<Old, OldEncoded>,
  rewrite: (old: Old) => unknown,
  next: (fields: unknown) => Result.Result<Current, Schema.SchemaError>
): OlderVersion<Current> => {
  const decodeOld = Schema.decodeUnknownResult(schema)
  return {
    version,
    decodeAndUpgrade: (fields) => Result.flatMap(decodeOld(fields, strict), (old) => next(rewrite(old)))
  }
}

/** Builds the versioned codec of a section whose current Schema is `schema` at version `currentVersion`. */
export const makeVersionedSection = <S extends Schema.Codec<any, any>>(options: {
  readonly part: StatePart
  readonly schema: S
  readonly currentVersion: number
  readonly olderVersions?: ReadonlyArray<OlderVersion<S["Type"]>>
}): VersionedSection<S["Type"]> => {
  const { currentVersion, part, schema } = options
  const decodeCurrent = Schema.decodeUnknownResult(schema)
  const encodeCurrent = Schema.encodeUnknownResult(schema)
  // A value already exactly in its encoded form (nearly every read and write) skips the Schema
  // interpreter: the compiled copy runs the same checks and gives the same result, and anything it
  // cannot prove goes the long way.
  const exact = compileExactShape(schema) ?? (() => undefined)
  const older = new Map((options.olderVersions ?? []).map((o) => [o.version, o]))
  const invalid = (error: Schema.SchemaError) => StateCodecError.fromIssue(part, error.issue)
  const unsupported = (found: string) =>
    new StateCodecError({
      reason: new UnsupportedVersion({
        part,
        found,
        newestKnown: currentVersion,
        message: `${part} has version ${found}; this code reads versions ${
          [...older.keys(), currentVersion].sort((a, b) => a - b).join(", ")
        }`
      })
    })

  const encode = (value: S["Type"]): Result.Result<VersionedJson, StateCodecError> => {
    const copy = exact(value)
    if (copy !== undefined) return Result.succeed({ version: currentVersion, ...(copy.value as Record<string, unknown>) })
    return Result.match(encodeCurrent(value, { errors: "all" }), {
      onFailure: (error) => Result.fail(invalid(error)),
      onSuccess: (fields) => Result.succeed({ version: currentVersion, ...(fields as Record<string, unknown>) })
    })
  }

  const decode = (input: unknown): Result.Result<S["Type"], StateCodecError> => {
    if (input === null || typeof input !== "object" || Array.isArray(input)) {
      return Result.fail(StateCodecError.invalid(part, `expected an object with a version, got ${describe(input)}`))
    }
    const { version, ...fields } = input as Record<string, unknown>
    // No version at all: the form of the system before this one (version 0), when the section has one.
    const original = version === undefined && !("version" in input) ? older.get(0) : undefined
    if (original !== undefined) {
      return Result.flatMap(
        Result.mapError(original.decodeAndUpgrade(fields), (error) =>
          new StateCodecError({
            reason: new UnsupportedVersion({
              part,
              found: "missing",
              newestKnown: currentVersion,
              message: `${part} has version missing, and does not read as version 0 (the D70 form): ${formatIssue(part, error.issue)}`
            })
          })),
        (upgraded) => Result.mapError(decodeCurrent(upgraded, strict), invalid)
      )
    }
    if (typeof version !== "number" || !Number.isInteger(version)) {
      return Result.fail(unsupported(version === undefined ? "missing" : JSON.stringify(version) ?? String(version)))
    }
    // The valid case (nearly all reads) stops at nothing and is cheaper with "first"; a failure is
    // decoded again with every issue collected, for a message that names them all.
    if (version === currentVersion) {
      const copy = exact(fields)
      if (copy !== undefined) return Result.succeed(copy.value as S["Type"])
      const fast = decodeCurrent(fields, strictFirst)
      return Result.isSuccess(fast) ? Result.succeed(fast.success) : Result.mapError(decodeCurrent(fields, strict), invalid)
    }
    const past = older.get(version)
    if (past === undefined) return Result.fail(unsupported(String(version)))
    return Result.flatMap(
      Result.mapError(past.decodeAndUpgrade(fields), invalid),
      (upgraded) => Result.mapError(decodeCurrent(upgraded, strict), invalid)
    )
  }

  return { part, currentVersion, encode, decode }
}

const describe = (input: unknown) => (input === null ? "null" : Array.isArray(input) ? "an array" : typeof input)
