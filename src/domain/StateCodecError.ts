/**
 * StateCodecError: why a persisted value could not be read (or written).
 *
 * One error with a `reason`, so that callers can react to the family as a
 * whole (skip this candidate) or to one reason (a future version means the
 * code is older than the data, which an operator must hear about).
 *
 * @module
 */
import { Schema, SchemaIssue } from "effect"

/**
 * The part of the persisted state a failure concerns: a built-in section, a runner's own
 * (`custom.<name>`), the whole, a snapshot's envelope, or the trade ledger.
 */
export const StatePart = Schema.Union([
  Schema.Literals(["session", "positions", "metrics", "riskGuard", "custom", "state", "snapshot", "ledger"]),
  Schema.TemplateLiteral(["custom.", Schema.String])
])
export type StatePart = typeof StatePart.Type

/** The text was not JSON at all (truncated, garbled). */
export class MalformedJson extends Schema.TaggedError<MalformedJson>()("MalformedJson", {
  part: StatePart,
  message: Schema.String
}) {}

/** The value carries a version this code cannot read: missing, not a number, or newer than the code knows. */
export class UnsupportedVersion extends Schema.TaggedError<UnsupportedVersion>()("UnsupportedVersion", {
  part: StatePart,
  found: Schema.String,
  newestKnown: Schema.Int,
  message: Schema.String
}) {}

/** The value is JSON of a known version but breaks its Schema or an invariant; `message` names each path. */
export class InvalidValue extends Schema.TaggedError<InvalidValue>()("InvalidValue", {
  part: StatePart,
  message: Schema.String
}) {}

/** The stored checksum does not match the payload: the bytes changed after they were written. */
export class ChecksumMismatch extends Schema.TaggedError<ChecksumMismatch>()("ChecksumMismatch", {
  expected: Schema.String,
  actual: Schema.String,
  message: Schema.String
}) {}

/** The state's seal is missing, names a key that is not configured, or does not match (see `StateProtection`). */
export class NotAuthentic extends Schema.TaggedError<NotAuthentic>()("NotAuthentic", {
  part: StatePart,
  message: Schema.String
}) {}

/** A section is encrypted and cannot be opened: no key, not the key it was encrypted under, or damaged. */
export class CannotDecrypt extends Schema.TaggedError<CannotDecrypt>()("CannotDecrypt", {
  part: StatePart,
  message: Schema.String
}) {}

/** A persisted value could not be decoded or encoded; never retryable, since the bytes will not change by themselves. */
export class StateCodecError extends Schema.TaggedError<StateCodecError>()("StateCodecError", {
  reason: Schema.Union([MalformedJson, UnsupportedVersion, InvalidValue, ChecksumMismatch, NotAuthentic, CannotDecrypt])
}) {
  override get message(): string {
    return this.reason.message
  }

  /** A value that breaks its Schema or an invariant; `message` should name the path. */
  static invalid(part: StatePart, message: string): StateCodecError {
    return new StateCodecError({ reason: new InvalidValue({ part, message }) })
  }

  /** A state refused as not authentic; `message` says why ("not authentic: ..."). */
  static notAuthentic(part: StatePart, message: string): StateCodecError {
    return new StateCodecError({ reason: new NotAuthentic({ part, message }) })
  }

  /** A section that does not decrypt; `message` says why ("cannot decrypt: ..."). */
  static cannotDecrypt(part: StatePart, message: string): StateCodecError {
    return new StateCodecError({ reason: new CannotDecrypt({ part, message }) })
  }

  /** A Schema failure, one line per problem with its path. */
  static fromIssue(part: StatePart, issue: SchemaIssue.Issue): StateCodecError {
    return StateCodecError.invalid(part, formatIssue(part, issue))
  }
}

/** Renders a Schema issue as one line per problem, each with its path inside `part`. */
export const formatIssue = (part: StatePart, issue: SchemaIssue.Issue): string =>
  SchemaIssue.makeFormatterStandardSchemaV1()(issue).issues
    .map((entry) => `${entry.message} at ${formatPath(part, entry.path ?? [])}`)
    .join("; ")

/** `part.a.b[0]`-style rendering of a path. */
export const formatPath = (part: StatePart, path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>) =>
  path.reduce<string>((acc, segment) => {
    const key = typeof segment === "object" ? segment.key : segment
    return typeof key === "number" ? `${acc}[${key}]` : `${acc}.${String(key)}`
  }, part)
