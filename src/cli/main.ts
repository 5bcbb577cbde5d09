/**
 * The operator command line: `npm run cli -- <command>`.
 *
 * Each command prints one line per fact on a terminal, or one JSON document
 * with `--json`. Failures print a one-line message and exit with a code that
 * says what kind of failure it was; never a stack trace.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Effect, FileSystem, Result } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { decodeSnapshotJson } from "../domain/Snapshot.ts"
import { migrate } from "../store/Migrations.ts"
import { databaseLayer } from "../store/Persistence.ts"
import { ExitCode } from "./ExitCode.ts"

const json = Flag.Boolean("json").pipe(Flag.withDescription("Print machine-readable JSON"), Flag.withDefault(false))

const verifySnapshot = Command.make(
  "verify-snapshot",
  { file: Argument.String("file").pipe(Argument.withDescription("A snapshot envelope as JSON")), json },
  Effect.fn(function*({ file, json }) {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.catch((error) => ExitCode.fail(ExitCode.badArguments, `cannot read ${file}: ${error.message}`))
    )
    const result = decodeSnapshotJson(text)
    if (Result.isFailure(result)) {
      const { reason } = result.failure
      yield* Console.log(json ? JSON.stringify({ valid: false, reason: reason._tag, message: reason.message }) : `invalid: ${reason.message}`)
      return yield* ExitCode.set(ExitCode.invalidState)
    }
    const { sequence, sessionId, snapshotType, state } = result.success
    yield* Console.log(
      json
        ? JSON.stringify({ valid: true, sessionId, sequence, snapshotType, loopCount: state.session.loopCount })
        : `valid: ${snapshotType} snapshot #${sequence} of ${sessionId} at loop ${state.session.loopCount}, ${
          Object.keys(state.positions.activeTrades).length
        } open trades`
    )
  })
).pipe(Command.withDescription("Check a snapshot file: checksum, versions, Schemas and invariants"))

const migrateCommand = Command.make(
  "migrate",
  { json },
  Effect.fn(function*({ json }) {
    const applied = yield* migrate.pipe(Effect.provide(databaseLayer), ExitCode.failOnStoreError)
    yield* Console.log(
      json
        ? JSON.stringify({ applied: applied.map(([id, name]) => ({ id, name })) })
        : applied.length === 0
        ? "the database is up to date"
        : applied.map(([id, name]) => `applied ${String(id).padStart(4, "0")}_${name}`).join("\n")
    )
  })
).pipe(Command.withDescription("Apply pending PostgreSQL migrations (DATABASE_URL, or the embedded database)"))

const root = Command.make("arbitrage-state").pipe(
  Command.withDescription("Operate the arbitrage-state persistence core"),
  Command.withSubcommands([migrateCommand, verifySnapshot])
)

root.pipe(
  Command.run({ version: "0.1.0" }),
  ExitCode.reportFailures,
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
