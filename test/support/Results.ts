/**
 * Assertions over `Result` values that say what went wrong when they fail.
 */
import { assert } from "@effect/vitest"
import { Result } from "effect"
import type { StateCodecError } from "../../src/domain/StateCodecError.ts"
import { describeReport, type Restored, type RestoreReport } from "../../src/recovery/RestoreReport.ts"

/** The success value, or a test failure that prints the error. */
export const expectSuccess = <A, E>(result: Result.Result<A, E>): A => {
  if (Result.isFailure(result)) assert.fail(`expected success, got ${String((result.failure as Error).message ?? result.failure)}`)
  return result.success
}

/** The codec failure, or a test failure that prints the unexpected value. */
export const expectCodecFailure = <A>(result: Result.Result<A, StateCodecError>): StateCodecError => {
  if (Result.isSuccess(result)) assert.fail(`expected a StateCodecError, got ${JSON.stringify(result.success)}`)
  assert.strictEqual(result.failure._tag, "StateCodecError")
  return result.failure
}

/**
 * The value with every -0 replaced by 0. JSON has no negative zero, so a
 * stored -0 comes back as 0: the same amount, and the only change a round
 * trip through any store may make.
 */
export const withoutNegativeZero = <A>(value: A): A => {
  if (Object.is(value, -0)) return 0 as A
  if (Array.isArray(value)) return value.map(withoutNegativeZero) as A
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutNegativeZero(v)])) as A
  }
  return value
}

/** The report of a restore that found a valid state, or a test failure that says what it found instead. */
export const expectRestored = (report: RestoreReport): Restored => {
  if (report.outcome !== "restored") assert.fail(`expected a restored state, got: ${describeReport(report)}`)
  return report
}
