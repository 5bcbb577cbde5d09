/**
 * ExitCode: the process exit codes of the CLI, one per kind of failure, so
 * that scripts can tell a bad argument from an unreachable store.
 */
import { Console, Effect, Schema } from "effect"
import { StoreError } from "../store/StoreError.ts"

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
export const set = (code: number) => Effect.sync(() => { process.exitCode = code })

/** Ends the command with the exit code of a store failure: unreachable, or any other. */
export const failOnStoreError = <A, E, R>(
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, Exclude<E, StoreError> | CliFailure, R> =>
  self.pipe(
    Effect.catch((error): Effect.Effect<never, Exclude<E, StoreError> | CliFailure> =>
      error instanceof StoreError
        ? fail(error.reason._tag === "Unreachable" ? storeUnreachable : storeFailed, error.message)
        : Effect.fail(error as Exclude<E, StoreError>)
    )
  )

/** Turns a `CliFailure` into its message on stderr and its exit code. */
export const reportFailures = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(
    Effect.catch((error) =>
      error instanceof CliFailure
        ? Console.error(error.message).pipe(Effect.andThen(set(error.code)))
        : Effect.fail(error)
    )
  )

export * as ExitCode from "./ExitCode.ts"
