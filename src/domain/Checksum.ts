/**
 * Checksum: a stable digest of an encoded value.
 *
 * PostgreSQL's JSONB reorders object keys, so the digest is taken over a
 * canonical JSON text (keys sorted at every depth); the same value hashes the
 * same whichever store it came back from.
 *
 * @module
 */
import { createHash } from "node:crypto"

/**
 * JSON text with object keys sorted at every depth; equal JSON values give equal text. It is
 * `JSON.stringify` of a copy of the value with its keys inserted sorted (so array-index keys come
 * first, as an object lists them), written in one pass without the copy: a key called `__proto__`
 * is a key like any other, and is hashed.
 */
export const canonicalJson = (value: unknown): string => write(value)

/** Whether `key` is an array index, which a JavaScript object lists first, in numeric order. */
const isIndex = (key: string): boolean => {
  const first = key.charCodeAt(0)
  return first >= 48 && first <= 57 && /^(?:0|[1-9]\d{0,9})$/.test(key) && Number(key) < 4_294_967_295
}

/**
 * The keys in the order an object built by inserting them sorted lists them (which is what the
 * digest has always been taken over): array indices first in numeric order, then the rest sorted.
 */
const orderedKeys = (value: object): Array<string> => {
  const keys = Object.keys(value).sort()
  if (!keys.some(isIndex)) return keys
  return [...keys.filter(isIndex).sort((a, b) => Number(a) - Number(b)), ...keys.filter((key) => !isIndex(key))]
}

const omitted = (value: unknown): boolean => value === undefined || typeof value === "function" || typeof value === "symbol"

const write = (value: unknown): string => {
  // JSON.stringify's own answer for what it leaves out at the top (undefined, as before).
  if (omitted(value)) return JSON.stringify(value)
  switch (typeof value) {
    case "number":
      return Number.isFinite(value) ? String(value) : "null"
    case "boolean":
      return value ? "true" : "false"
    case "object":
      break
    default:
      // Strings (escaped), and what JSON.stringify itself refuses (a bigint throws, as it does there).
      return JSON.stringify(value)
  }
  if (value === null) return "null"
  if (Array.isArray(value)) {
    let out = "["
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ","
      const item: unknown = value[i]
      out += omitted(item) ? "null" : write(item)
    }
    return out + "]"
  }
  let out = "{"
  let first = true
  for (const key of orderedKeys(value)) {
    const item: unknown = Reflect.get(value, key)
    if (omitted(item)) continue
    out += (first ? "" : ",") + JSON.stringify(key) + ":" + write(item)
    first = false
  }
  return out + "}"
}

/** `sha256:` followed by the hex SHA-256 of the canonical JSON of `value`. */
export const checksumOf = (value: unknown): string =>
  `sha256:${createHash("sha256").update(canonicalJson(value)).digest("hex")}`
