/**
 * `supervise`: runs a session in a child process and resumes it after every
 * crash, with backoff, up to a restart limit.
 */
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { newSessionId } from "../../session/Session.ts"
import * as Supervisor from "../../supervisor/Supervisor.ts"
import { ExitCode } from "../ExitCode.ts"
import { withDefaultDescribed } from "../Help.ts"
import { jsonFlag, scanBudgetFlag, scanBudgetOf, sessionFlag } from "../Output.ts"
import { checkLoopsAndTick, chooseSeed, newSessionFlags, venuesOfFlag } from "../RunFlags.ts"

/** `supervise`: `run` in a child process, resumed after every crash; exit 1 when it gives up. */
export const supervise = Command.make(
  "supervise",
  {
    session: sessionFlag("The session to run and resume after crashes (sess_... or a D70 session_YYYYMMDD_HHMMSS); without it, a new session under a new id").pipe(
      Flag.optional
    ),
    loops: Flag.Int("loops").pipe(Flag.withDescription("Run until the session's loop count reaches this")),
    ...newSessionFlags("chosen at random once, printed, and the same for every restart"),
    maxRestarts: Flag.Int("max-restarts").pipe(
      withDefaultDescribed("Restarts after crashes before giving up (exit 1); the backoff doubles from 200 ms to 10 s", 10)
    ),
    scanBudgetMb: scanBudgetFlag,
    json: jsonFlag
  },
  Effect.fn(function*(args) {
    if (args.maxRestarts < 0) return yield* ExitCode.fail(ExitCode.badArguments, "--max-restarts must be at least 0")
    yield* checkLoopsAndTick(args.loops, Option.getOrElse(args.tickMs, () => 1000))
    yield* scanBudgetOf(args.scanBudgetMb)
    yield* venuesOfFlag(args.venues)
    const sessionId = Option.getOrElse(args.session, () => newSessionId(Date.now()))
    // Chosen once, here: every runner started gets the same, so that a session that dies before it
    // records its market starts again on the same one. `--seed-if-new`, because the session may
    // exist already (a given --session), and then it trades its own.
    const market = Option.match(args.seed, {
      onSome: (seed) => ({ flag: "--seed", seed, chosen: false }),
      onNone: () => ({ flag: "--seed-if-new", seed: chooseSeed(), chosen: true })
    })
    const runArgs = [
      "--loops", String(args.loops), market.flag, String(market.seed),
      // Only when given: a resumed session keeps its own tick, and a tick passed anyway would contradict it.
      ...Option.match(args.tickMs, { onNone: () => [], onSome: (tick) => ["--tick-ms", String(tick)] }),
      ...(args.pace ? ["--pace"] : []),
      ...Option.match(args.campaign, { onNone: () => [], onSome: (c) => ["--campaign", c] }),
      ...Option.match(args.venues, { onNone: () => [], onSome: (v) => ["--venues", v] }),
      ...Option.match(args.scanBudgetMb, { onNone: () => [], onSome: (mb) => ["--scan-budget-mb", String(mb)] }),
      ...(args.json ? ["--json"] : [])
    ]
    yield* Console.error(`supervising ${sessionId}${market.chosen ? ` (seed ${market.seed} chosen, if the session is new)` : ""}`)
    // Stopped itself (SIGTERM), the supervisor ends as its runner did: a runner that could not record
    // its stop exits with the store's code, and so must the supervisor, not as a clean stop.
    let lastDeath: Supervisor.Death | undefined
    const report = yield* Supervisor.supervise({
      sessionId,
      runArgs,
      maxRestarts: args.maxRestarts,
      onDeath: (death) => void (lastDeath = death)
    }).pipe(
      Effect.onInterrupt(() =>
        lastDeath !== undefined && lastDeath.exitCode !== null && lastDeath.exitCode !== 0 && !Supervisor.isCleanStop(lastDeath.exitCode, null)
          ? ExitCode.set(lastDeath.exitCode)
          : Effect.void
      )
    )
    const summary = `${sessionId}: ${report.outcome} after ${report.restarts} restart(s)`
    if (args.json) {
      yield* Console.log(JSON.stringify({ sessionId, outcome: report.outcome, restarts: report.restarts, deaths: report.deaths }))
      if (report.lastLine !== null) yield* Console.log(report.lastLine)
    } else yield* Console.error(summary)
    if (report.outcome === "gave_up") return yield* ExitCode.fail(1, `${summary}: gave up`)
    if (report.outcome === "failed") yield* ExitCode.set(report.deaths.at(-1)?.exitCode ?? 1)
  })
).pipe(Command.withDescription("Run a session and resume it automatically after a crash (backoff, restart limit)"))
