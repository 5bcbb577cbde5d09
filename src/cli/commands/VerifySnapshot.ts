/**
 * `verify-snapshot`: checks a snapshot exported to a file.
 */
import { Console, Effect, FileSystem, Result } from "effect"
import { Argument, Command } from "effect/cli"
import { decodeSnapshotJson } from "../../domain/Snapshot.ts"
import { maxSnapshotBytes } from "../../domain/StateLimits.ts"
import { ExitCode } from "../ExitCode.ts"
import { jsonFlag } from "../Output.ts"

/**
 * `verify-snapshot FILE`: exit 0 for a valid snapshot, 3 for an invalid one, 2 for a file that cannot be read,
 * is not a regular file, or is larger than any snapshot can be (`maxSnapshotBytes`).
 */
export const verifySnapshot = Command.make(
  "verify-snapshot",
  { file: Argument.String("file").pipe(Argument.withDescription("A snapshot envelope as JSON")), json: jsonFlag },
  Effect.fn(function*({ file, json }) {
    const fs = yield* FileSystem.FileSystem
    const cannotRead = (error: { readonly message: string }) => ExitCode.fail(ExitCode.badArguments, `cannot read ${file}: ${error.message}`)
    // Checked before a byte is read: a device (/dev/zero) or a FIFO may never end, and a huge file would be read whole.
    const info = yield* fs.stat(file).pipe(Effect.catch(cannotRead))
    if (info.type !== "File") return yield* ExitCode.fail(ExitCode.badArguments, `cannot check ${file}: not a regular file`)
    if (info.size > BigInt(maxSnapshotBytes)) {
      return yield* ExitCode.fail(ExitCode.badArguments, `cannot check ${file}: ${info.size} bytes, over the limit of ${maxSnapshotBytes} for a snapshot`)
    }
    const text = yield* fs.readFileString(file).pipe(Effect.catch(cannotRead))
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
