/**
 * JsonbText: how many bytes PostgreSQL's text form of a jsonb value takes
 * (`octet_length(value::text)`), computed from the value without asking the
 * server. The PostgreSQL backing reads a section only within its size limit,
 * measured so; a save measures the same way, so that what it writes a restore
 * can read.
 *
 * PostgreSQL prints `": "` and `", "` between members and items, and a
 * number in plain decimal (`1e300` is 301 digits); strings as JSON escapes
 * them, UTF-8 as is. Walked without recursion.
 */

/** The length of the plain decimal form PostgreSQL prints for a number JavaScript writes as `text`. */
const numericBytes = (text: string): number => {
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/i.exec(text)
  if (match === null) return text.length
  const [, sign, whole, fraction = "", exponentText = "0"] = match
  const digits = `${whole}${fraction}`.replace(/^0+(?=\d)/, "")
  const exponent = Number(exponentText) - fraction.length
  const body = exponent >= 0
    ? (digits === "0" ? 1 : digits.length + exponent)
    : Math.max(1, digits.length + exponent) + 1 + -exponent
  return sign!.length + body
}

/** Bytes of PostgreSQL's text form of the jsonb made of `value` (a JSON value). */
export const jsonbTextBytes = (value: unknown): number => {
  let bytes = 0
  const pending: Array<unknown> = [value]
  while (pending.length > 0) {
    const current = pending.pop()
    if (current === null || typeof current === "boolean") bytes += String(current).length
    else if (typeof current === "number") bytes += numericBytes(JSON.stringify(current))
    else if (typeof current === "string") bytes += Buffer.byteLength(JSON.stringify(current))
    else if (Array.isArray(current)) {
      bytes += 2 + Math.max(0, current.length - 1) * 2
      for (const item of current) pending.push(item)
    } else if (typeof current === "object") {
      const keys = Object.keys(current)
      bytes += 2 + Math.max(0, keys.length - 1) * 2
      for (const key of keys) {
        bytes += Buffer.byteLength(JSON.stringify(key)) + 2
        pending.push((current as Record<string, unknown>)[key])
      }
    }
  }
  return bytes
}
