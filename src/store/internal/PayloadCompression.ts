/**
 * PayloadCompression: large stored payloads are compressed, and the codec is
 * recorded beside them so that a reader knows how to open them.
 *
 * Decompression is bounded: a payload that would inflate past the limit is
 * refused with a typed error as soon as the limit is reached, so a damaged
 * or malicious payload (a "zip bomb") cannot exhaust memory.
 */
import { errorCodeOf } from "./ErrorCode.ts"
import { Effect, Result } from "effect"
import { promisify } from "node:util"
import { gunzipSync, gzip as gzipCallback, gzipSync } from "node:zlib"
import { StateCodecError, type StatePart, UnsupportedVersion } from "../../domain/StateCodecError.ts"

/** The codecs a stored payload may carry. */
export type PayloadCodec = "gzip"

/** Payloads of JSON text above this many bytes are stored compressed (8 KiB). */
export const defaultCompressionThreshold = 8 * 1024

/** The gzip bytes of `text`. */
export const gzip = (text: string): Buffer => gzipSync(text)

const gzipInPool = promisify(gzipCallback)

/**
 * The gzip bytes of `text`, compressed on libuv's thread pool: a large payload does not block the
 * event loop while it is compressed (the runner's loop goes on meanwhile).
 */
export const gzipOffLoop = (text: string): Effect.Effect<Buffer> => Effect.promise(() => gzipInPool(text))

/** The text inside `data`, inflated to at most `maxBytes`; a larger or damaged payload is a typed failure. */
export const decompress = (
  part: StatePart,
  codec: string,
  data: Uint8Array,
  maxBytes: number
): Result.Result<string, StateCodecError> => {
  if (codec !== "gzip") {
    return Result.fail(new StateCodecError({
      reason: new UnsupportedVersion({ part, found: `codec ${codec}`, newestKnown: 1, message: `${part} is stored with codec ${codec}, which this code cannot read` })
    }))
  }
  try {
    return Result.succeed(gunzipSync(data, { maxOutputLength: maxBytes }).toString("utf8"))
  } catch (error) {
    const tooLarge = errorCodeOf(error) === "ERR_BUFFER_TOO_LARGE" || error instanceof RangeError
    return Result.fail(StateCodecError.invalid(
      part,
      tooLarge
        ? `${part} inflates past the limit of ${maxBytes} bytes; not read`
        : `${part} is not valid gzip data: ${error instanceof Error ? error.message : String(error)}`
    ))
  }
}
