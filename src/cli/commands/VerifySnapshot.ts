/**
 * `verify-snapshot`: checks a snapshot exported to a file.
 */
import { Console, Effect, FileSystem, Result } from "effect"
import { Argument, Command } from "effect/cli"
import { decodeSnapshotJson } from "../../domain/Snapshot.ts"
import { ExitCode } from "../ExitCode.ts"
import { jsonFlag } from "../Output.ts"

/** `verify-snapshot FILE`: exit 0 for a valid snapshot, 3 for an invalid one, 2 for an unreadable file. */
export const verifySnapshot = Command.make(
  "verify-snapshot",
  { file: Argument.String("file").pipe(Argument.withDescription("A snapshot envelope as JSON")), json: jsonFlag },
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
