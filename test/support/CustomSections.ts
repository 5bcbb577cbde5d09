/**
 * Sections a runner of its own might declare, for the tests: indicators (two
 * versions, the first upgrading), a cooldown and an order book cursor; and a
 * generator of states holding any of them with any valid value.
 */
import { Arbitrary, Option, Result, Schema } from "effect"
import * as CustomSection from "../../src/domain/CustomSection.ts"
import type { EngineState } from "../../src/domain/EngineState.ts"
import { olderVersion } from "../../src/domain/VersionedSection.ts"
import { engineStateArbitrary } from "./StateArbitrary.ts"

/** Text a store can hold: no NUL character (PostgreSQL's jsonb refuses one, and `set` does too). */
const text = (maxLength: number) => Schema.String.check(Schema.isMaxLength(maxLength), Schema.isPattern(/^[^\u0000]*$/))

const finite = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(-1e9), Schema.isLessThanOrEqualTo(1e9))

/** Version 1 of the indicators: one moving average. */
export const IndicatorsV1 = Schema.Struct({ ema: finite })
/** Version 2: a fast and a slow average, and the last prices seen. */
export const Indicators = Schema.Struct({
  emaFast: finite,
  emaSlow: finite,
  window: Schema.Array(finite).check(Schema.isMaxLength(20))
})

export const indicators = CustomSection.make({
  name: "indicators",
  schema: Indicators,
  currentVersion: 2,
  olderVersions: [olderVersion(1, IndicatorsV1, (v1) => ({ emaFast: v1.ema, emaSlow: v1.ema, window: [] }))]
})

export const cooldown = CustomSection.make({
  name: "cooldown",
  schema: Schema.Struct({
    until: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThanOrEqualTo(253_402_300_799_999)),
    symbols: Schema.Array(text(20)).check(Schema.isMaxLength(5))
  }),
  currentVersion: 1
})

export const bookCursor = CustomSection.make({
  name: "book_cursor",
  schema: Schema.Struct({
    venue: text(16).check(Schema.isMinLength(1)),
    sequence: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThanOrEqualTo(Number.MAX_SAFE_INTEGER)),
    stale: Schema.Boolean,
    note: Schema.NullOr(text(40))
  }),
  currentVersion: 1
})

/** Every section the tests declare. */
export const declared = [indicators, cooldown, bookCursor] as const

/** The values a state holds of the declared sections (absent ones left out). */
export interface CustomValues {
  readonly indicators?: typeof Indicators.Type
  readonly cooldown?: typeof cooldown.schema.Type
  readonly bookCursor?: typeof bookCursor.schema.Type
}

const optional = <A>(arbitrary: Arbitrary.Arbitrary<A>) =>
  Arbitrary.map(Arbitrary.all({ present: Arbitrary.schema(Schema.Boolean), value: arbitrary }), ({ present, value }) =>
    present ? value : undefined)

/** `state` holding `values` (each set by its section's codec). */
export const withValues = (state: EngineState, values: CustomValues): EngineState => {
  let next = state
  const put = <A>(section: CustomSection.CustomSection<A>, value: A | undefined) => {
    if (value !== undefined) next = Result.getOrThrow(CustomSection.set(next, section, value))
  }
  put(indicators, values.indicators)
  put(cooldown, values.cooldown)
  put(bookCursor, values.bookCursor)
  return next
}

/** What `state` holds of the declared sections, read back typed. */
export const valuesOf = (state: EngineState): CustomValues => {
  const read = <A>(section: CustomSection.CustomSection<A>) => Option.getOrUndefined(Result.getOrThrow(CustomSection.get(state, section)))
  const found: Record<string, unknown> = {}
  const indicatorsValue = read(indicators)
  const cooldownValue = read(cooldown)
  const cursorValue = read(bookCursor)
  if (indicatorsValue !== undefined) found["indicators"] = indicatorsValue
  if (cooldownValue !== undefined) found["cooldown"] = cooldownValue
  if (cursorValue !== undefined) found["bookCursor"] = cursorValue
  return found as CustomValues
}

/** Valid states holding any of the declared sections, with any valid values, and those values. */
export const stateWithSectionsArbitrary = (options: { readonly maxOpenTrades?: number } = {}) =>
  Arbitrary.map(
    Arbitrary.all({
      state: engineStateArbitrary(options),
      indicators: optional(Arbitrary.schema(Indicators)),
      cooldown: optional(Arbitrary.schema(cooldown.schema)),
      bookCursor: optional(Arbitrary.schema(bookCursor.schema))
    }),
    ({ state, ...candidates }) => {
      const values = Object.fromEntries(Object.entries(candidates).filter(([, value]) => value !== undefined)) as CustomValues
      return { state: withValues(state, values), values }
    }
  )
