/**
 * `verify-snapshot`: checks a snapshot exported to a file.
 */
import { Console, Effect, Result } from "effect"
import { Argument, Command } from "effect/cli"
import { decodeSnapshotJson } from "../../domain/Snapshot.ts"
import { maxSnapshotBytes } from "../../store/internal/StateLimits.ts"
import { ExitCode } from "../ExitCode.ts"
import { jsonFlag } from "../Output.ts"
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs"

/**
 * The text of the regular file at `path`, read through one descriptor: opened without blocking (a
 * FIFO would wait for a writer), checked by `fstat` on that descriptor (so a path swapped for
 * /dev/zero after a check cannot be read instead), and never more than `limit` bytes read.
 */
const readBounded = (path: string, limit: number) =>
  Effect.try({
    try: (): { readonly text: string } | { readonly refused: string } => {
      const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
      try {
        const info = fstatSync(fd)
        if (!info.isFile()) return { refused: "not a regular file" }
        if (info.size > limit) return { refused: `${info.size} bytes, over the limit of ${limit} for a snapshot` }
        const buffer = Buffer.alloc(limit + 1)
        let length = 0
        for (let read = -1; read !== 0 && length <= limit;) {
          read = readSync(fd, buffer, length, buffer.length - length, null)
          length += read
        }
        return length > limit ? { refused: `over the limit of ${limit} bytes for a snapshot` } : { text: buffer.toString("utf8", 0, length) }
      } finally {
        closeSync(fd)
      }
    },
    catch: (cause) => cause as Error
  })

/**
 * `verify-snapshot FILE`: exit 0 for a valid snapshot, 3 for an invalid one, 2 for a file that cannot be read,
 * is not a regular file, or is larger than any snapshot can be (`maxSnapshotBytes`).
 */
export const verifySnapshot = Command.make(
  "verify-snapshot",
  { file: Argument.String("file").pipe(Argument.withDescription("A snapshot envelope as JSON")), json: jsonFlag },
  Effect.fn(function*({ file, json }) {
    // A device (/dev/zero) or a FIFO may never end, and a huge file would be read whole: refused first.
    const read = yield* readBounded(file, maxSnapshotBytes).pipe(
      Effect.catch((error) => ExitCode.fail(ExitCode.badArguments, `cannot read ${file}: ${error.message}`))
    )
    if ("refused" in read) return yield* ExitCode.fail(ExitCode.badArguments, `cannot check ${file}: ${read.refused}`)
    const result = decodeSnapshotJson(read.text)
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
