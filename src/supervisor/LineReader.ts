/**
 * LineReader: the lines a child process writes, one call per complete line.
 */
import type { Readable } from "node:stream"

/** Calls `onLine` with every complete line of `stream`, and with a last unterminated one when it ends. */
export const readLines = (stream: Readable, onLine: (line: string) => void): void => {
  let pending = ""
  stream.setEncoding("utf8")
  stream.on("data", (chunk: string) => {
    pending += chunk
    const lines = pending.split("\n")
    pending = lines.pop() ?? ""
    for (const line of lines) onLine(line)
  })
  stream.on("end", () => {
    if (pending.length > 0) onLine(pending)
    pending = ""
  })
}
