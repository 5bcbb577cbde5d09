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

/** JSON text with object keys sorted at every depth; equal JSON values give equal text. */
export const canonicalJson = (value: unknown): string => JSON.stringify(sortKeys(value))

const sortKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === "object") {
    const sorted: Record<string, unknown> = {}
    // Defined, not assigned: a key called `__proto__` is a key like any other, and is hashed.
    for (const key of Object.keys(value).sort()) {
      Object.defineProperty(sorted, key, { value: sortKeys((value as Record<string, unknown>)[key]), enumerable: true, writable: true, configurable: true })
    }
    return sorted
  }
  return value
}

/** `sha256:` followed by the hex SHA-256 of the canonical JSON of `value`. */
export const checksumOf = (value: unknown): string =>
  `sha256:${createHash("sha256").update(canonicalJson(value)).digest("hex")}`
