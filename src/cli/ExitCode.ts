/**
 * ExitCode: the process exit codes of the CLI, one per kind of failure, so
 * that scripts can tell a bad argument from an unreachable store or a
 * session held by another runner, and how the process ends: one line per
 * failure, never a stack trace; 128 + the signal's number when stopped.
 */
import { Cause, Config, Console, Effect, Exit, Runtime, Schema, SchemaIssue } from "effect"
import { CliError } from "effect/cli"
import { constants } from "node:os"
import { StateCodecError } from "../domain/StateCodecError.ts"
import { MetricsExporterError } from "../observability/MetricsExporter.ts"
import { RestoreError } from "../recovery/Restore.ts"
import { PlanRefused } from "../runner/TradingPlan.ts"
import { SessionError } from "../session/SessionError.ts"
import { LeaseError } from "../store/SessionLease.ts"
import { StoreError } from "../store/StoreError.ts"
import { SupervisorError } from "../supervisor/Supervisor.ts"

/** A failure that ends the command with a one-line message and a chosen exit code. */
export class CliFailure extends Schema.TaggedError<CliFailure>()("CliFailure", {
  code: Schema.Int,
  message: Schema.String
}) {}

// The codes themselves are the supervisor's too: one table, in `supervisor/RunnerExit.ts`.
export { badArguments, invalidState, ok, sessionHeld, storeFailed, storeUnreachable, unexpected } from "../supervisor/RunnerExit.ts"
import { badArguments, invalidState, ok, sessionHeld, storeFailed, storeUnreachable, unexpected } from "../supervisor/RunnerExit.ts"

/** What each exit code means, as the root help lists them. */
export const meanings: ReadonlyArray<readonly [number, string]> = [
  [ok, "success"],
  [unexpected, "unexpected failure"],
  [badArguments, "bad arguments or configuration (a usage error, a refused request)"],
  [invalidState, "invalid state (corrupt, an unknown version)"],
  [storeUnreachable, "a store (Redis, PostgreSQL) did not answer"],
  [sessionHeld, "the session is held by another runner"],
  [storeFailed, "a store answered but failed"],
  [130, "stopped by SIGINT (Ctrl-C), after the shutdown snapshot"],
  [143, "stopped by SIGTERM, after the shutdown snapshot"]
]

/**
 * How an operator runs the CLI, what a hint says to type: `npm run cli --` in a checkout (the
 * sources run), `arbitrage-state` where the package is installed (its build runs, the `bin`).
 */
export const invocation = import.meta.url.endsWith(".ts") ? "npm run cli --" : "arbitrage-state"

/**
 * A usage error (an unknown flag or subcommand, a bad or missing value) on one line, with the
 * command to read the help of: effect/cli's messages span lines ("Did you mean this?").
 */
const describeUsageError = (error: CliError.ShowHelp): string => {
  const said = error.errors.map((e) => {
    switch (e._tag) {
      case "UnrecognizedOption":
        return `unknown flag ${e.option}${e.suggestions.length > 0 ? ` (did you mean ${e.suggestions.join(" or ")}?)` : ""}`
      case "UnknownSubcommand":
        return `unknown command "${e.subcommand}"${e.suggestions.length > 0 ? ` (did you mean ${e.suggestions.join(" or ")}?)` : ""}`
      default:
        return oneLine(e.message)
    }
  })
  const command = [invocation, ...error.commandPath.slice(1), "--help"].join(" ")
  return `${said.join("; ")}; run '${command}' for usage`
}

/** Ends the command with `code` after printing `message` to stderr. */
export const fail = (code: number, message: string) => Effect.fail(new CliFailure({ code, message }))

/** Sets the exit code the process ends with, without failing the command. */
export const set = (code: number) =>
  Effect.sync(() => {
    process.exitCode = code
  })

/** How a failure ends the CLI: its exit code, and the line to print (none when effect/cli printed it already). */
export interface Classified {
  readonly code: number
  readonly message: string | undefined
}

/** `text` on one line: a driver's or a Schema's message may span several. */
const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, " ").trim()

/** A configuration error as `VARIABLE: what is wrong` (Effect's own text spans lines and wraps it in `SchemaError(...)`). */
const describeConfigError = (error: Config.ConfigError): string => {
  if (!Schema.isSchemaError(error.cause)) return error.cause.message
  return SchemaIssue.makeFormatterStandardSchemaV1()(error.cause.issue).issues
    .map((issue) => `${(issue.path ?? []).map(String).join(".")}: ${issue.message}`)
    .join("; ")
}

/**
 * The exit code and one-line message of any failure, the same for a whole command and for one
 * session of `resume-all`: each kind the CLI knows has its code; anything else is unexpected (1).
 */
export const classify = (error: unknown): Classified => {
  if (error instanceof CliFailure) return { code: error.code, message: error.message }
  if (error instanceof StoreError) {
    // A write whose reply was lost is a store that stopped answering: a restart that finds it back resolves it.
    const code = error.reason._tag === "Unreachable" || error.reason._tag === "OutcomeUnknown"
      ? storeUnreachable
      : error.reason._tag === "Fenced"
      ? sessionHeld
      : storeFailed
    return { code, message: error.message }
  }
  if (error instanceof StateCodecError) return { code: invalidState, message: error.message }
  if (error instanceof PlanRefused) return { code: badArguments, message: error.message }
  if (error instanceof LeaseError) {
    const hint = error.reason._tag === "SessionHeld" ? " (it is free once its holder stops, or once it expires if that holder died; run, resume-all and reconcile wait for it with --wait-lease SECONDS)" : ""
    return { code: sessionHeld, message: `${error.message}${hint}` }
  }
  if (error instanceof SupervisorError) return { code: unexpected, message: error.message }
  if (error instanceof RestoreError) return { code: storeUnreachable, message: error.message }
  if (error instanceof SessionError) {
    return { code: error.reason._tag === "SessionUnrecoverable" ? invalidState : badArguments, message: error.message }
  }
  // A usage error; or help shown because it was asked for (or a command was given without its subcommand).
  if (CliError.isCliError(error) && error._tag === "ShowHelp") {
    return error.errors.length === 0 ? { code: ok, message: undefined } : { code: badArguments, message: describeUsageError(error) }
  }
  if (CliError.isCliError(error)) return { code: badArguments, message: error.message }
  if (error instanceof Config.ConfigError) return { code: badArguments, message: `configuration: ${describeConfigError(error)}` }
  // The exporter listens where METRICS_PROMETHEUS_PORT says: a port taken is that setting's fault.
  if (error instanceof MetricsExporterError) return { code: badArguments, message: `configuration: METRICS_PROMETHEUS_PORT: ${error.message}` }
  return { code: unexpected, message: `unexpected failure: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}` }
}

/**
 * Turns every failure and defect into one line on stderr and its exit code, never a stack trace.
 * An interruption stays an interruption (the runtime's teardown gives the signal's exit code); one
 * that came with a failure (a finalizer that failed while stopping) is reported, and then ends
 * the program as an interruption, with the failure's code set.
 */
export const reportFailures = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A | void, never, R> =>
  self.pipe(
    Effect.catchCause((cause) => {
      const failure = cause.reasons.find((reason) => Cause.isFailReason(reason) || Cause.isDieReason(reason))
      // Interrupted, nothing else: stay interrupted, for the runtime's teardown to give the signal's code.
      if (failure === undefined) return Effect.interrupt
      const { code, message } = classify(Cause.isFailReason(failure) ? failure.error : failure.defect)
      const report = (message === undefined ? Effect.void : Console.error(oneLine(message))).pipe(Effect.andThen(set(code)))
      return Cause.hasInterrupts(cause) ? report.pipe(Effect.andThen(Effect.interrupt)) : report
    })
  )

/**
 * How the process ends once the program has: success and failures as Effect's default teardown
 * has it; an interruption (SIGINT, SIGTERM) with 128 + the number of the signal that came first
 * (SIGINT 130, SIGTERM 143, as a shell reports a death by that signal), unless the command set a
 * nonzero exit code first (it could not record its shutdown): that code wins.
 */
export const teardown = (signal: () => NodeJS.Signals | undefined): Runtime.Teardown => (exit, onExit) => {
  if (Exit.isSuccess(exit) || !Cause.hasInterruptsOnly(exit.cause)) return Runtime.defaultTeardown(exit, onExit)
  const commandCode = Number(process.exitCode ?? 0)
  if (commandCode !== 0) return onExit(commandCode)
  const received = signal()
  onExit(received === undefined ? 130 : 128 + constants.signals[received])
}

export * as ExitCode from "./ExitCode.ts"
