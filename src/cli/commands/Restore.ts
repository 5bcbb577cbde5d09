/**
 * `restore`: runs the restore pipeline for a session and reports what it
 * found. With `--dry-run` nothing is written; without it, the restored state
 * is written back to the live tier (a repair of a lost or damaged live state),
 * under the session's lease like any writer: a session a live runner holds
 * is refused (exit 5).
 */
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { planAt, describeReconciliation } from "./Reconcile.ts"
import * as Restore from "../../recovery/Restore.ts"
import { describeReport, reportToJson } from "../../recovery/RestoreReport.ts"
import { LiveStateStore } from "../../store/LiveStateStore.ts"
import { defaultHolder, hold } from "../../session/Session.ts"
import * as Persistence from "../../store/Persistence.ts"
import { ExitCode } from "../ExitCode.ts"
import { jsonFlag, scanBudgetFlag, scanBudgetOf, sessionFlag } from "../Output.ts"
import { venueUrlOf } from "../RunFlags.ts"

/** `restore --session ID [--dry-run]`: the restore report; without --dry-run, repairs the live tier. */
export const restore = Command.make(
  "restore",
  {
    session: sessionFlag("The session to restore (sess_... or a D70 session_YYYYMMDD_HHMMSS)"),
    dryRun: Flag.Boolean("dry-run").pipe(
      Flag.withDescription("Write nothing; without it, a state restored from a snapshot is written back to the live tier"),
      Flag.withDefault(false)
    ),
    depth: Flag.Int("depth").pipe(
      Flag.withDescription("At most this many snapshots are read, newest first (default: as many as the scan budget allows)"),
      Flag.optional
    ),
    scanBudgetMb: scanBudgetFlag,
    venueUrl: Flag.String("venue-url").pipe(
      Flag.withMetavar("URL"),
      Flag.withDescription("A live session's venues: the report gains its reconciliation (each pending intent, what the venue says, what will be done)"),
      Flag.optional
    ),
    json: jsonFlag
  },
  Effect.fn(function*({ depth, dryRun, json, scanBudgetMb, session, venueUrl }) {
    if (Option.isSome(depth) && depth.value < 1) return yield* ExitCode.fail(ExitCode.badArguments, "--depth must be at least 1")
    const venues = Option.isSome(venueUrl) ? yield* venueUrlOf(venueUrl.value) : undefined
    const options: Restore.RestoreOptions = {
      ...Option.match(depth, { onNone: () => ({}), onSome: (d) => ({ depth: d }) }),
      ...(yield* scanBudgetOf(scanBudgetMb))
    }
    const report = yield* (dryRun
      ? Restore.run(session, options).pipe(Effect.provide(Persistence.layerReadOnly))
      : Effect.scoped(Effect.gen(function*() {
        // The repair writes like a runner: under the session's lease, its fence raised to the lease's token.
        const lease = yield* hold(session, { holder: `restore-${defaultHolder()}`, ttl: "30 seconds", wait: 0 })
        const report = yield* Restore.run(session, options)
        if (report.outcome === "restored" && report.source === "snapshot" && report.state !== null) {
          yield* (yield* LiveStateStore).save(report.state, lease.fencingToken)
        }
        return report
      })).pipe(Effect.provide(Persistence.layer)))
    const reconciliation = venues === undefined || report.outcome !== "restored"
      ? undefined
      : yield* planAt(report.state, venues)
    yield* Console.log(
      json
        ? JSON.stringify({ ...reportToJson(report), ...(reconciliation === undefined ? {} : { reconciliation }) })
        : [describeReport(report), ...(reconciliation === undefined ? [] : describeReconciliation(reconciliation))].join("\n")
    )
    if (report.outcome === "unrecoverable") yield* ExitCode.set(ExitCode.invalidState)
  })
).pipe(Command.withDescription("Find the freshest valid state of a session and say where it came from"))
