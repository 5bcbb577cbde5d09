/**
 * SessionStop: how the CLI ends when a session's stop could not be made
 * durable. The session then stays `running` in the durable tier (AUTO and
 * `resume-all` will take it for interrupted; the session has logged the one
 * line that says so), so the command must not end as a clean stop: it exits
 * with the code of the store's failure, which wins over the signal's code
 * (see `main.ts`).
 */
import { Effect, Option, Ref } from "effect"
import type { ActiveSession } from "../session/Session.ts"
import { ExitCode } from "./ExitCode.ts"

/** After a session's scope has closed: a stop that was not recorded sets the exit code of its failure. */
export const reportStop = (started: Ref.Ref<Option.Option<ActiveSession>>) =>
  Effect.gen(function*() {
    const session = yield* Ref.get(started)
    if (Option.isNone(session)) return
    const outcome = yield* session.value.shutdown
    if (outcome?.kind !== "not_recorded") return
    yield* ExitCode.set(ExitCode.classify(outcome.error).code)
  })
