/**
 * ExitCode: the process exit codes of the CLI, one per kind of failure, so
 * that scripts can tell a bad argument from an unreachable store or a
 * session held by another runner.
 */
import { Config, Console, Effect, Schema } from "effect"
import { CliError } from "effect/cli"
import { RestoreError } from "../recovery/Restore.ts"
import { SessionError } from "../session/SessionError.ts"
import { LeaseError } from "../store/SessionLease.ts"
import { StoreError } from "../store/StoreError.ts"
import { SupervisorError } from "../supervisor/Supervisor.ts"

/** A failure that ends the command with a one-line message and a chosen exit code. */
export class CliFailure extends Schema.TaggedError<CliFailure>()("CliFailure", {
  code: Schema.Int,
  message: Schema.String
}) {}

/** Success. */
export const ok = 0
/** The arguments (or a file they name) are not usable. */
export const badArguments = 2
/** The state read is not valid (corrupt, unknown version). */
export const invalidState = 3
/** A store (Redis, PostgreSQL) could not be reached. */
export const storeUnreachable = 4
/** The session is held by another runner. */
export const sessionHeld = 5
/** A store answered but failed (a missing table, a refused write, ...). */
export const storeFailed = 6

/** Ends the command with `code` after printing `message` to stderr. */
export const fail = (code: number, message: string) => Effect.fail(new CliFailure({ code, message }))

/** Sets the exit code the process ends with, without failing the command. */
export const set = (code: number) =>
  Effect.sync(() => {
    process.exitCode = code
  })

/** The exit code and one-line message of a failure the CLI knows, if it knows it. */
const classify = (error: unknown): { readonly code: number; readonly message: string | undefined } | undefined => {
  if (error instanceof CliFailure) return { code: error.code, message: error.message }
  if (error instanceof StoreError) {
    const code = error.reason._tag === "Unreachable"
      ? storeUnreachable
      : error.reason._tag === "Fenced"
      ? sessionHeld
      : storeFailed
    return { code, message: error.message }
  }
  if (error instanceof LeaseError) return { code: sessionHeld, message: error.message }
  if (error instanceof SupervisorError) return { code: 1, message: error.message }
  if (error instanceof RestoreError) return { code: storeUnreachable, message: error.message }
  if (error instanceof SessionError) {
    return { code: error.reason._tag === "SessionUnrecoverable" ? invalidState : badArguments, message: error.message }
  }
  // effect/cli has already printed the parse error and the help.
  if (CliError.isCliError(error)) {
    return { code: error._tag === "ShowHelp" && error.errors.length === 0 ? ok : badArguments, message: undefined }
  }
  if (error instanceof Config.ConfigError) return { code: badArguments, message: `configuration: ${error.message}` }
  return undefined
}

/** Turns every failure the CLI knows into its one-line message on stderr and its exit code. */
export const reportFailures = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(
    Effect.catch((error) => {
      const known = classify(error)
      if (known === undefined) return Effect.fail(error)
      return (known.message === undefined ? Effect.void : Console.error(known.message)).pipe(Effect.andThen(set(known.code)))
    })
  )

export * as ExitCode from "./ExitCode.ts"
