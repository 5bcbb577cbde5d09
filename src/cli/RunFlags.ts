/**
 * RunFlags: the checks `run`, `supervise` and `resume-all` make on their
 * `--loops` and `--tick-ms` before anything starts, so that a run never
 * stops halfway on a state it cannot store.
 */
import { Effect } from "effect"
import { randomInt } from "node:crypto"
import { maxEpochMillis } from "../domain/Units.ts"
import { maxLoopsWithin, simulatedStart } from "../runner/ArbitrageStrategy.ts"
import { ExitCode } from "./ExitCode.ts"

/**
 * The seed of a new session when none is given: random, and six digits, so that an operator can
 * read it in the "seed ... chosen" line and give it back to `--seed` to trade the same market again.
 */
export const chooseSeed = (): number => randomInt(100_000, 1_000_000)

/**
 * Fails with exit 2 when `loops` loops of `tickMs` from `startTime` would take a session's clock
 * past the latest time a state may hold; `subject` says whose loops they are.
 */
export const checkClock = (loops: number, startTime: number, tickMs: number, subject: string): Effect.Effect<void, ExitCode.CliFailure> => {
  const most = maxLoopsWithin(startTime, tickMs)
  return loops > most
    ? ExitCode.fail(
      ExitCode.badArguments,
      `${subject} would take the simulated clock past ${new Date(maxEpochMillis).toISOString()}; at most ${most} loops fit with this tick`
    )
    : Effect.void
}

/**
 * Fails with exit 2 unless `loops` is at least 0, `tickMs` (when the flags say what the tick will be)
 * is positive, and the simulated clock of a session started by the CLI stays within the latest
 * time a state may hold after `loops` loops of that tick.
 */
export const checkLoopsAndTick = (loops: number, tickMs: number | undefined): Effect.Effect<void, ExitCode.CliFailure> => {
  if (loops < 0) return ExitCode.fail(ExitCode.badArguments, "--loops must be at least 0")
  if (tickMs === undefined) return Effect.void
  if (tickMs <= 0) return ExitCode.fail(ExitCode.badArguments, "--tick-ms must be positive")
  return checkClock(loops, simulatedStart, tickMs, `--loops ${loops} with --tick-ms ${tickMs}`)
}
