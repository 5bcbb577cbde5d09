/**
 * How the report writes text, money and times: every value put into the page
 * goes through `escape`, and the two clocks a session has are always written
 * differently, so that a reader never takes one for the other.
 */

/** Text safe inside HTML and SVG, in element content and in quoted attributes. */
export const escape = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c]!)

/** An amount in USD with cents and thousands separators, and a real minus sign. */
export const usd = (n: number): string =>
  n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }).replace("-", "−")

/** An amount in USD with its sign always shown (a change, not a level). */
export const signedUsd = (n: number): string => (n > 0 ? `+${usd(n)}` : usd(n))

/** A fraction as a signed percentage with two decimals. */
export const signedPercent = (fraction: number): string => {
  const text = (fraction * 100).toFixed(2).replace("-", "−")
  return fraction > 0 ? `+${text} %` : `${text} %`
}

/** A time on the database's wall clock (when a row was written), to the millisecond, in UTC. */
export const wallClock = (ms: number): string => `${new Date(ms).toISOString().replace("T", " ").replace("Z", "")} UTC`

/** A time on a session's simulated clock, to the second, in UTC. */
export const simulatedClock = (ms: number): string => `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")} UTC`

/** A simulated duration in its two largest units: `+45s`, `+5m30s`, `+3h05m`, `+2d04h`. */
export const elapsed = (ms: number): string => {
  const seconds = Math.round(ms / 1000)
  const units: ReadonlyArray<readonly [string, number]> = [
    ["d", Math.floor(seconds / 86_400)],
    ["h", Math.floor(seconds / 3_600) % 24],
    ["m", Math.floor(seconds / 60) % 60],
    ["s", seconds % 60]
  ]
  const first = units.findIndex(([, n]) => n > 0)
  if (first < 0) return "+0s"
  const [bigUnit, big] = units[first]!
  const next = units[first + 1]
  return next === undefined || next[1] === 0
    ? `+${big}${bigUnit}`
    : `+${big}${bigUnit}${String(next[1]).padStart(2, "0")}${next[0]}`
}
