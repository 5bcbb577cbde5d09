/**
 * State keys for tests: fresh random secrets under ids of the test's choosing,
 * as `STATE_KEYS` would configure them.
 */
import { randomBytes } from "node:crypto"
import { Result } from "effect"
import { parseStateKeys, type StateProtection } from "../../src/store/StateProtection.ts"

/** The text of `STATE_KEYS` with one fresh 32-byte secret per id, newest last. */
export const stateKeysText = (...ids: ReadonlyArray<string>): string =>
  ids.map((id) => `${id}:${randomBytes(32).toString("base64")}`).join(",")

/** The protection `STATE_KEYS=text` gives (with `STATE_ENCRYPTION=aes-256-gcm` when `encrypt`). */
export const protectionOf = (text: string, encrypt = false): StateProtection => ({
  keys: Result.getOrThrow(parseStateKeys(text)),
  encrypt
})

/** A protection with fresh keys under `ids`. */
export const freshProtection = (ids: ReadonlyArray<string> = ["k1"], encrypt = false): StateProtection =>
  protectionOf(stateKeysText(...ids), encrypt)
