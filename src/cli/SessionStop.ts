/**
 * SessionStop: how the CLI ends when a session's stop could not be made
 * durable. The session then stays `running` in the durable tier (AUTO and
 * `resume-all` will take it for interrupted; the session has logged the one
 * line that says so), so the command must not end as a clean stop: it exits
 * with the code of the store's failure, which wins over the signal's code
 * (see `main.ts`).
 */
import { Effect } from "effect"
import type { ShutdownOutcome } from "../session/Session.ts"
import { ExitCode } from "./ExitCode.ts"

/** A session's `onShutdown`: a stop that was not recorded sets the exit code of its failure. */
export const reportStop = (outcome: ShutdownOutcome): Effect.Effect<void> =>
  outcome.kind === "not_recorded" ? ExitCode.set(ExitCode.classify(outcome.error).code) : Effect.void
