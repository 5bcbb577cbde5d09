/**
 * `report --session ID --out FILE`: a self-contained HTML page about the
 * session (key figures, equity curve with resume marks, drawdown, resumes,
 * trades, risk-guard counters, snapshot timeline).
 */
import { Console, Effect, FileSystem } from "effect"
import { Command, Flag } from "effect/cli"
import * as SessionReport from "../../report/SessionReport.ts"
import * as Persistence from "../../store/Persistence.ts"
import { ExitCode } from "../ExitCode.ts"
import { sessionFlag } from "../Output.ts"

/** `report --session ID --out FILE`: writes the session's HTML report. */
export const report = Command.make(
  "report",
  {
    session: sessionFlag("The session to report on (sess_... or a D70 session_YYYYMMDD_HHMMSS)"),
    out: Flag.String("out").pipe(Flag.withDescription("Where to write the HTML page (a file path; an existing file is replaced)"))
  },
  Effect.fn(function*({ out, session }) {
    const data = yield* SessionReport.gather(session).pipe(Effect.provide(Persistence.layerReadOnly))
    if (data.snapshots.length === 0) return yield* ExitCode.fail(ExitCode.badArguments, `${session} has no snapshots`)
    const fs = yield* FileSystem.FileSystem
    yield* fs.writeFileString(out, SessionReport.render(data)).pipe(
      Effect.catch((error) => ExitCode.fail(ExitCode.badArguments, `cannot write ${out}: ${error.message}`))
    )
    yield* Console.log(`wrote ${out}: ${SessionReport.plural(data.snapshots.length, "snapshot")}, ${SessionReport.plural(data.events.length, "event")}`)
  })
).pipe(Command.withDescription("Write a self-contained HTML report of a session"))
