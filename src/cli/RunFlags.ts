/**
 * RunFlags: the flags `run` and `supervise` share (what a new session
 * trades), the seed chosen when none is given, and the checks `run`,
 * `supervise` and `resume-all` make on their `--loops` and `--tick-ms`
 * before anything starts, so that a run never stops halfway on a state it
 * cannot store.
 */
import { Effect, Option, Schema } from "effect"
import { PaperVenues } from "../domain/SessionState.ts"
import { Flag } from "effect/cli"
import { randomInt } from "node:crypto"
import { simulatedStart } from "../runner/ArbitrageStrategy.ts"
import { campaigns } from "../runner/Campaign.ts"
import { checkClock, type PlanRefused } from "../runner/TradingPlan.ts"
import { shownUrl } from "../venue/HttpVenue.ts"
import { ExitCode } from "./ExitCode.ts"

/**
 * `--seed`, `--campaign`, `--tick-ms`, `--venues` and `--pace`: what a new session trades (a resumed session keeps
 * what it recorded, and a flag that contradicts it is refused), and whether to run at the tick's pace;
 * `chosenSeed` says what happens without `--seed`.
 */
export const newSessionFlags = (chosenSeed: string) => ({
  seed: Flag.Int("seed").pipe(
    Flag.withDescription(
      "Seed of the market feed of a new session, recorded in it; a resumed session trades its own, and a different " +
        `one is refused; a session that recorded none (one import-d70 brought) takes one on its first resume (default: ${chosenSeed})`
    ),
    Flag.optional
  ),
  campaign: Flag.String("campaign").pipe(
    Flag.withDescription(
      `Campaign preset of a new session: ${Object.keys(campaigns).join(", ")}; a resumed session keeps its own, ` +
        `and a different one is refused (default: balanced)`
    ),
    Flag.optional
  ),
  tickMs: Flag.Int("tick-ms").pipe(
    Flag.withDescription(
      "Simulated milliseconds between loops of a new session, recorded in it; a resumed session keeps its own, " +
        "and a different one is refused; one import-d70 brought takes one on its first resume, as its import said (default: 1000)"
    ),
    Flag.optional
  ),
  venues: Flag.String("venues").pipe(
    Flag.withMetavar("NAME,NAME"),
    Flag.withDescription(
      "Names of the two venues a new session trades between, recorded in it (upbit,binance); a resumed session " +
        "keeps its own, and different ones are refused (default: A,B; with --venue-url, the first two the venues' server offers)"
    ),
    Flag.optional
  ),
  pace: Flag.Boolean("pace").pipe(
    Flag.withDescription("Also wait the tick in real time between loops (a watchable run; the trades are the same)"),
    Flag.withDefault(false)
  )
})

const decodeVenues = Schema.decodeUnknownOption(PaperVenues)

/**
 * The URL of `--venue-url`: an http:// or https:// URL with a host, or a usage error (exit 2); with
 * the form of it that may be printed (`shown`: credentials in it replaced by `***`).
 */
export const venueUrlOf = (text: string): Effect.Effect<{ readonly url: string; readonly shown: string }, ExitCode.CliFailure> => {
  let parsed: URL | undefined
  try {
    parsed = new URL(text)
  } catch {
    parsed = undefined
  }
  return parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:") || parsed.hostname === ""
    ? ExitCode.fail(
      ExitCode.badArguments,
      `--venue-url takes an http:// or https:// URL (the venue simulator's, or a venue adapter's server), got ${JSON.stringify(shownUrl(text))}`
    )
    : Effect.succeed({ url: text, shown: shownUrl(text) })
}

/** The two venue names of `--venues NAME,NAME`, or a usage error (exit 2) saying what it takes. */
export const venuesOfFlag = (flag: Option.Option<string>): Effect.Effect<PaperVenues | undefined, ExitCode.CliFailure> =>
  Option.match(flag, {
    onNone: () => Effect.succeed(undefined),
    onSome: (text) =>
      Option.match(decodeVenues(text.split(",").map((name) => name.trim())), {
        onNone: () =>
          ExitCode.fail(
            ExitCode.badArguments,
            `--venues takes two different venue names, comma-separated (upbit,binance): letters, digits, _ - . (32 at most); got ${JSON.stringify(text)}`
          ),
        onSome: (venues) => Effect.succeed(venues)
      })
  })

/**
 * The seed of a new session when none is given: random, and six digits, so that an operator can
 * read it in the "seed ... chosen" line and give it back to `--seed` to trade the same market again.
 */
export const chooseSeed = (): number => randomInt(100_000, 1_000_000)

/**
 * Fails with exit 2 unless `loops` is at least 0, `tickMs` (when the flags say what the tick will be)
 * is positive, and the simulated clock of a session started by the CLI stays within the latest
 * time a state may hold after `loops` loops of that tick.
 */
export const checkLoopsAndTick = (loops: number, tickMs: number | undefined): Effect.Effect<void, ExitCode.CliFailure | PlanRefused> => {
  if (loops < 0) return ExitCode.fail(ExitCode.badArguments, "--loops must be at least 0")
  if (tickMs === undefined) return Effect.void
  if (tickMs <= 0) return ExitCode.fail(ExitCode.badArguments, "--tick-ms must be positive")
  return checkClock("(new session)", loops, simulatedStart, tickMs, `--loops ${loops} with --tick-ms ${tickMs}`)
}
