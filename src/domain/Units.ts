/**
 * Units: the numeric building blocks of every persisted value.
 *
 * Persisted numbers are always finite (JSON cannot carry NaN or Infinity, and
 * a state holding one cannot be trusted), and counters are non-negative
 * integers. Money is in US dollars, time in epoch milliseconds, spreads in
 * basis points.
 *
 * @module
 */
import { Schema } from "effect"

/** A finite amount of US dollars; may be negative (PnL). */
export const Usd = Schema.Finite.annotate({ identifier: "Usd" })

/** A finite, non-negative amount of US dollars (capital, losses). */
export const NonNegativeUsd = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)).annotate({
  identifier: "NonNegativeUsd"
})

/** A strictly positive, finite amount of US dollars (a trade's notional). */
export const PositiveUsd = Schema.Finite.check(Schema.isGreaterThan(0)).annotate({ identifier: "PositiveUsd" })

/** A strictly positive, finite price quoted in US dollars. */
export const Price = Schema.Finite.check(Schema.isGreaterThan(0)).annotate({ identifier: "Price" })

/** A finite, non-negative quantity of the base asset. */
export const Quantity = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)).annotate({ identifier: "Quantity" })

/** A finite number of basis points (1 bp = 0.01%); may be negative. */
export const BasisPoints = Schema.Finite.annotate({ identifier: "BasisPoints" })

/** A non-negative integer counter. */
export const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)).annotate({ identifier: "Count" })

/**
 * The latest time a persisted value may hold: the last millisecond of 9999-12-31 (UTC). Every time
 * up to it is one a `Date` can hold and `toISOString` can write in the usual four-digit-year form;
 * past it, reports and inspections could not print the state (a `Date` ends at 275760).
 */
export const maxEpochMillis = 253_402_300_799_999

/** A point in time as integer epoch milliseconds, from 1970 to the end of 9999 (see `maxEpochMillis`). */
export const EpochMillis = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThanOrEqualTo(maxEpochMillis)).annotate({
  identifier: "EpochMillis"
})
export type EpochMillis = typeof EpochMillis.Type
