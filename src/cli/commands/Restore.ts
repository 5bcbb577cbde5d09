/**
 * `restore`: runs the restore pipeline for a session and reports what it
 * found. With `--dry-run` nothing is written; without it, the restored state
 * is written back to the live tier (a repair of a lost or damaged live state).
 */
import { Console, Effect } from "effect"
import { Command, Flag } from "effect/cli"
import { SessionId } from "../../domain/Ids.ts"
import * as Restore from "../../recovery/Restore.ts"
import { describeReport, reportToJson } from "../../recovery/RestoreReport.ts"
import { HotStateStore } from "../../store/HotStateStore.ts"
import * as Persistence from "../../store/Persistence.ts"
import { ExitCode } from "../ExitCode.ts"
import { jsonFlag } from "../Output.ts"

/** `restore --session ID [--dry-run]`: the restore report; without --dry-run, repairs the live tier. */
export const restore = Command.make(
  "restore",
  {
    session: Flag.String("session").pipe(Flag.withSchema(SessionId)),
    dryRun: Flag.Boolean("dry-run").pipe(Flag.withDescription("Write nothing"), Flag.withDefault(false)),
    depth: Flag.Int("depth").pipe(Flag.withDescription("Snapshots to consider, newest first"), Flag.withDefault(10)),
    json: jsonFlag
  },
  Effect.fn(function*({ depth, dryRun, json, session }) {
    if (depth < 1) return yield* ExitCode.fail(ExitCode.badArguments, "--depth must be at least 1")
    const report = yield* Effect.gen(function*() {
      const report = yield* Restore.run(session, { depth })
      if (!dryRun && report.outcome === "restored" && report.source === "snapshot" && report.state !== null) {
        yield* (yield* HotStateStore).save(report.state)
      }
      return report
    }).pipe(Effect.provide(dryRun ? Persistence.layerReadOnly : Persistence.layer))
    yield* Console.log(json ? JSON.stringify(reportToJson(report)) : describeReport(report))
    if (report.outcome === "unrecoverable") yield* ExitCode.set(ExitCode.invalidState)
  })
).pipe(Command.withDescription("Find the freshest valid state of a session and say where it came from"))
