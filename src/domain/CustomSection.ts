/**
 * CustomSection: a section of a runner's own (a strategy's indicators, a
 * cooldown, an order book cursor), persisted with the built-in four.
 *
 * A runner declares each section once, with the Schema of every version it
 * ever stored and how each older one upgrades, as the built-in sections are
 * declared (`VersionedSection`). The state holds each in its stored form
 * (`{ "version": N, ...fields }`, under `EngineState.custom[name]`), so the
 * stores carry it without knowing it: in both tiers, inside the snapshot's
 * checksum, within the size limits. The runner reads it typed (`get`,
 * upgraded to the current version) and writes it typed (`set`, checked by
 * its Schema). A restore given the runner's sections (`Restore.run`'s and
 * `Session.initialize`'s `sections`) verifies each one it finds in a
 * candidate and upgrades it: a candidate whose section its Schema refuses is
 * passed over like any invalid state. Sections the runner does not declare
 * are kept as they are.
 *
 * @module
 */
import { Option, Result, Schema, SchemaAST } from "effect"
import type { EngineState } from "./EngineState.ts"
import { maxCustomSectionDepth, storableIssue } from "./internal/JsonLimits.ts"
import { StateCodecError } from "./StateCodecError.ts"
import { makeVersionedSection, type OlderVersion, type VersionedSection } from "./VersionedSection.ts"

/** The name of a runner's own section: a lower-case letter, then letters, digits or `_`, 32 at most. */
export const CustomSectionName = Schema.String.check(Schema.isPattern(/^[a-z][a-zA-Z0-9_]{0,31}$/)).annotate({
  identifier: "CustomSectionName"
})

/**
 * A runner's own section in its stored form: a JSON object with its version (a positive integer).
 * What every store can hold of it (its depth, its characters: `JsonLimits`) is checked before
 * this Schema runs, by `decodeCustomSections` and `set`.
 */
export const StoredCustomSection = Schema.JsonObject.check(
  Schema.makeFilter((section) =>
    typeof section["version"] === "number" && Number.isInteger(section["version"]) && section["version"] >= 1
      ? undefined
      : { path: ["version"], issue: "a custom section carries its version, a positive integer" }
  )
).annotate({ identifier: "StoredCustomSection" })

/** The first reason the runner's own sections cannot be stored (too deep, a character no store holds), if any. */
export const unstorableCustom = (custom: unknown): string | undefined => storableIssue(custom, "custom", maxCustomSectionDepth + 1)

/** The runner's own sections of a state, by name, each in its stored form. */
export const CustomSections = Schema.Record(CustomSectionName, StoredCustomSection).annotate({ identifier: "CustomSections" })
export type CustomSections = typeof CustomSections.Type

/**
 * What a restore, a session and `remove` need of a declared section, whatever its value's type: its
 * name, and how a stored copy is checked by its Schema and brought to its current version.
 */
export interface DeclaredSection {
  readonly name: string
  /** The stored copy at the current version (the same object when it is one), or why its Schema refuses it. */
  readonly upgrade: (stored: CustomSections[string]) => Result.Result<CustomSections[string], StateCodecError>
}

/** A section a runner declared: its name, its current Schema and its versioned codec. */
export interface CustomSection<A> extends DeclaredSection {
  readonly schema: Schema.Codec<A, unknown>
  readonly codec: VersionedSection<A>
}

const isName = Schema.is(CustomSectionName)

/** The section stored under `name`, an own key only (a name like `constructor` is never an inherited property). */
const ownSection = (custom: CustomSections | undefined, name: string): CustomSections[string] | undefined =>
  custom !== undefined && Object.hasOwn(custom, name) ? custom[name] : undefined

/**
 * Declares a section of the runner's own: its current Schema at `currentVersion`, and every older
 * version with its upgrade (`olderVersion(n, SchemaN, upgrade)`, as for the built-in sections).
 * The Schema must be a struct (its fields are stored beside `version`, so none may be called
 * `version`) of JSON: plain objects, arrays, strings, finite numbers, booleans, null. A declaration
 * that breaks these rules is a programmer's error: it throws a `TypeError` at once, naming it.
 */
export const make = <S extends Schema.Codec<any, any>>(options: {
  readonly name: string
  readonly schema: S
  readonly currentVersion: number
  readonly olderVersions?: ReadonlyArray<OlderVersion<S["Type"]>>
}): CustomSection<S["Type"]> => {
  const refuse = (why: string) => {
    throw new TypeError(`custom section ${JSON.stringify(options.name)}: ${why}`)
  }
  if (!isName(options.name)) refuse("its name is a lower-case letter, then letters, digits or _ (32 at most)")
  // Its stored form is `{ "version": N, ...fields }`: the fields are a struct's, and none is called version.
  const encoded = SchemaAST.toEncoded(options.schema.ast)
  if (encoded._tag !== "Objects" || encoded.indexSignatures.length > 0) {
    refuse("its Schema must be a struct (named fields), stored as an object beside its version")
  } else if (encoded.propertySignatures.some((property) => property.name === "version")) {
    refuse("its Schema has a field called version, which its stored form keeps for the section's version")
  }
  const versions = (options.olderVersions ?? []).map((older) => older.version)
  if (!Number.isInteger(options.currentVersion) || options.currentVersion < 1) refuse("its current version must be a positive integer")
  if (versions.some((v) => !Number.isInteger(v) || v < 1 || v >= options.currentVersion) || new Set(versions).size !== versions.length) {
    refuse("its older versions must be distinct positive integers below the current one")
  }
  const codec = makeVersionedSection({ ...options, part: `custom.${options.name}` })
  return {
    name: options.name,
    schema: options.schema,
    codec,
    upgrade: (stored) =>
      Result.flatMap(codec.decode(stored), (value) =>
        stored["version"] === codec.currentVersion
          ? Result.succeed(stored)
          : Result.flatMap(codec.encode(value), (encoded) => checkStoredAs(options.name, encoded)))
  }
}

/** The section's value in `state`, upgraded to its current version; `None` when the state does not hold it. */
export const get = <A>(state: EngineState, section: CustomSection<A>): Result.Result<Option.Option<A>, StateCodecError> => {
  const stored = ownSection(state.custom, section.name)
  return stored === undefined ? Result.succeed(Option.none()) : Result.map(section.codec.decode(stored), Option.some)
}

const checkStored = Schema.decodeUnknownResult(StoredCustomSection)

/** `encoded` as the stored form of section `name`, checked as every store needs it (a version, JSON). */
const checkStoredAs = (name: string, encoded: unknown): Result.Result<CustomSections[string], StateCodecError> =>
  Result.mapError(checkStored(encoded, { errors: "all" }), (error) => StateCodecError.fromIssue(`custom.${name}`, error.issue))

/**
 * `state` holding `value` as the section (encoded at its current version); fails when `value`
 * breaks its Schema or is nothing a store can hold (a NUL character in a string).
 */
export const set = <A>(state: EngineState, section: CustomSection<A>, value: A): Result.Result<EngineState, StateCodecError> =>
  Result.flatMap(section.codec.encode(value), (encoded) => {
    const unstorable = storableIssue(encoded, `custom.${section.name}`, maxCustomSectionDepth)
    if (unstorable !== undefined) return Result.fail(StateCodecError.invalid(`custom.${section.name}`, unstorable))
    return Result.map(checkStoredAs(section.name, encoded), (stored) => ({ ...state, custom: { ...state.custom, [section.name]: stored } }))
  })

/** `state` without the section. */
export const remove = (state: EngineState, section: DeclaredSection): EngineState => {
  if (state.custom === undefined || ownSection(state.custom, section.name) === undefined) return state
  const { [section.name]: _, ...rest } = state.custom
  return withCustom(state, rest)
}

/** `state` with `custom` as its own sections; an empty record is no custom section at all. */
export const withCustom = (state: EngineState, custom: CustomSections): EngineState => {
  if (Object.keys(custom).length > 0) return { ...state, custom }
  const { custom: _, ...rest } = state
  return rest
}

/**
 * Verifies every declared section `state` holds by its Schema, upgrading older versions to the
 * current one (stored form); undeclared sections are kept as they are. Fails on the first section
 * its Schema refuses, naming it.
 */
export const verify = (
  state: EngineState,
  sections: ReadonlyArray<DeclaredSection>
): Result.Result<EngineState, StateCodecError> => {
  if (state.custom === undefined || sections.length === 0) return Result.succeed(state)
  let custom: CustomSections | undefined
  for (const section of sections) {
    const stored = ownSection(state.custom, section.name)
    if (stored === undefined) continue
    const upgraded = section.upgrade(stored)
    if (Result.isFailure(upgraded)) return Result.fail(upgraded.failure)
    if (upgraded.success !== stored) custom = { ...(custom ?? state.custom), [section.name]: upgraded.success }
  }
  return Result.succeed(custom === undefined ? state : { ...state, custom })
}

/** The names of two declarations that clash (the same name twice), if any. */
export const duplicateNames = (sections: ReadonlyArray<DeclaredSection>): ReadonlyArray<string> => {
  const seen = new Set<string>()
  return sections.flatMap((section) => {
    if (seen.has(section.name)) return [section.name]
    seen.add(section.name)
    return []
  })
}

/** Fails with a typed error naming each declaration that clashes. */
export const checkDeclarations = (sections: ReadonlyArray<DeclaredSection>): Result.Result<void, StateCodecError> => {
  const clashes = duplicateNames(sections)
  return clashes.length === 0
    ? Result.void
    : Result.fail(StateCodecError.invalid("custom", `custom section ${clashes.join(", ")} is declared more than once`))
}
