#!/usr/bin/env node
/**
 * The operator command line: `npm run cli -- <command>`.
 *
 * Each command prints text for people or, with `--json`, JSON for scripts,
 * on stdout; logs and failures go to stderr. A failure prints one line and
 * exits with a code that says what kind of failure it was (the table is
 * `supervisor/RunnerExit.ts`, which the supervisor reads its runners by;
 * `ExitCode.ts` maps each failure to it), never with a stack trace. SIGINT and SIGTERM stop the
 * command cleanly (finalizers run) and exit with 130 and 143.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect, Layer, Logger } from "effect"
import { Command } from "effect/cli"
import { health } from "./commands/Health.ts"
import { importD70 } from "./commands/ImportD70.ts"
import { cleanup, inspect, sessions, snapshots } from "./commands/Inspect.ts"
import { migrate } from "./commands/Migrate.ts"
import { reconcile } from "./commands/Reconcile.ts"
import { rekey } from "./commands/Rekey.ts"
import { report } from "./commands/Report.ts"
import { restore } from "./commands/Restore.ts"
import { resumeAll } from "./commands/ResumeAll.ts"
import { run } from "./commands/Run.ts"
import { supervise } from "./commands/Supervise.ts"
import { trades } from "./commands/Trades.ts"
import { venue } from "./commands/VenueSim.ts"
import { verifySnapshot } from "./commands/VerifySnapshot.ts"
import * as MetricsExporter from "../observability/MetricsExporter.ts"
import { ExitCode } from "./ExitCode.ts"
import * as Help from "./Help.ts"

const root = Command.make("arbitrage-state").pipe(
  Command.withDescription("Operate the arbitrage-state persistence core and its paper arbitrage runner"),
  Command.withSubcommands([migrate, run, supervise, resumeAll, restore, reconcile, sessions, snapshots, inspect, trades, cleanup, rekey, health, report, verifySnapshot, importD70, venue])
)

// Which signal stopped the program, for its exit code (NodeRuntime interrupts on both alike).
let stoppedBy: NodeJS.Signals | undefined
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    stoppedBy ??= signal
  })
}

root.pipe(
  Command.run({ version: "0.1.0" }),
  Effect.provide(Layer.mergeAll(NodeServices.layer, Help.layer, Layer.succeed(Logger.LogToStderr, true), MetricsExporter.layerConfig)),
  // Outside the layers, so that a layer that cannot start (the metrics exporter) is reported like the rest.
  ExitCode.reportFailures,
  NodeRuntime.runMain({ teardown: ExitCode.teardown(() => stoppedBy) })
)
