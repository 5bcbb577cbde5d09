/**
 * StateProtection: state nobody without the keys can forge or read.
 *
 * With `STATE_KEYS` configured, every snapshot row and every live state is
 * sealed: an HMAC-SHA256, under the newest key, over what places it (env,
 * session id, sequence, fencing token, loop count) and over its bytes (a
 * snapshot's payload checksum; a live state's parts, see `LiveSeal`). The
 * seal names its key (`hmac-sha256:<key id>:<hex>`), so states sealed under an
 * older key stay readable while that key is configured. A state whose seal is
 * missing, names a key that is not configured, or does not match, is "not
 * authentic": a restore refuses it like any corruption and falls back.
 *
 * With `STATE_ENCRYPTION=aes-256-gcm` too, every section is stored encrypted
 * (`aes-256-gcm:<key id>:<iv>:<ciphertext and tag>`, base64), bound by its
 * associated data to where it is stored (env, session, sequence, part), so a
 * ciphertext moved to another place does not open. Metadata (ids, sequence,
 * loop count, status, times) stays readable for the listings. A section that
 * does not open is a typed "cannot decrypt", never a guess.
 *
 * One secret per key: the seal's key and the cipher's key are derived from it
 * by HKDF-SHA256 with different labels, so one rotation covers both.
 *
 * @module
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto"
import { Redacted, Result } from "effect"
import { canonicalJson } from "../domain/Checksum.ts"

/** One configured key: its id (written beside what it seals) and the two keys derived from its secret. */
export interface StateKey {
  readonly id: string
  readonly sealKey: Redacted.Redacted<Buffer>
  readonly cipherKey: Redacted.Redacted<Buffer>
}

/** The keys state is sealed (and, with `encrypt`, encrypted) with; the last one is the newest, which writes. */
export interface StateProtection {
  readonly keys: ReadonlyArray<StateKey>
  readonly encrypt: boolean
  /**
   * Read a state that carries no seal at all as authentic (trust on first use: `rekey
   * --trust-unsealed` seals what was written before STATE_KEYS was set). Never a seal that fails.
   */
  readonly trustUnsealed?: boolean
  /** Where the keys were configured (said to an operator as what a later run needs set too). */
  readonly source?: "STATE_KEYS" | "STATE_KEYS_FILE"
}

/** The least a key's secret holds: 256 bits. */
export const minSecretBytes = 32

const keyIdPattern = /^[A-Za-z0-9_.-]{1,32}$/

const derive = (secret: Buffer, label: string): Buffer => Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), label, 32))

/** A key made from its id and secret. */
export const stateKey = (id: string, secret: Buffer): StateKey => ({
  id,
  sealKey: Redacted.make(derive(secret, "arbitrage-state seal v1")),
  cipherKey: Redacted.make(derive(secret, "arbitrage-state aes-256-gcm v1"))
})

/**
 * The keys of `text` (`STATE_KEYS`, or the file `STATE_KEYS_FILE` names): entries `ID:SECRET`,
 * separated by commas or lines (blank lines and `#` comments ignored), the secret base64 of at least
 * 32 bytes, the newest last. What is wrong is said by entry number, never with the secret.
 */
export const parseStateKeys = (text: string): Result.Result<ReadonlyArray<StateKey>, string> => {
  const entries = text.split(/[,\n]/).map((line) => line.replace(/#.*$/, "").trim()).filter((line) => line !== "")
  if (entries.length === 0) return Result.fail("holds no key (entries are ID:BASE64-SECRET, newest last)")
  const keys: Array<StateKey> = []
  for (const [i, entry] of entries.entries()) {
    const colon = entry.indexOf(":")
    const id = colon < 0 ? "" : entry.slice(0, colon)
    const material = colon < 0 ? "" : entry.slice(colon + 1).trim()
    if (!keyIdPattern.test(id)) {
      return Result.fail(`entry ${i + 1} must be ID:BASE64-SECRET with an id of 1 to 32 letters, digits, '_', '.' or '-'`)
    }
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(material)) return Result.fail(`entry ${i + 1} (key ${id}): its secret is not base64`)
    const secret = Buffer.from(material, "base64")
    if (secret.length < minSecretBytes) {
      return Result.fail(`entry ${i + 1} (key ${id}): its secret is ${secret.length} bytes; at least ${minSecretBytes} (openssl rand -base64 32)`)
    }
    if (keys.some((key) => key.id === id)) return Result.fail(`entry ${i + 1}: key id ${id} is listed twice`)
    keys.push(stateKey(id, secret))
  }
  return Result.succeed(keys)
}

/** The newest key: the one new states are sealed and encrypted with. */
export const newestKey = (protection: StateProtection): StateKey => protection.keys[protection.keys.length - 1]!

const keyNamed = (protection: StateProtection | undefined, id: string): StateKey | undefined => protection?.keys.find((key) => key.id === id)

const sealPrefix = "hmac-sha256:"

/**
 * How a state under a key this process does not hold is said (`none`: it holds no keys at all): the
 * words `keyNotHeldIn` finds again. Such a state is not damaged, the process is missing its key.
 */
const keyNotHeld = (id: string, held: "none" | "others" = "others") =>
  held === "none" ? `key ${id}, and STATE_KEYS is not set` : `key ${id}, which STATE_KEYS does not hold`

/** The key a refusal says this process does not hold, when it says so (see `keyNotHeld`). */
export const keyNotHeldIn = (reason: string): string | undefined =>
  /under key (\S+?)(?:, and STATE_KEYS is not set|, which STATE_KEYS does not hold)/.exec(reason)?.[1]

/** Why a sealed state cannot be verified by a process without keys (`undefined`: it is not sealed). */
export const unverifiable = (seal: string | null | undefined): string | undefined => {
  if (typeof seal !== "string") return undefined
  const id = sealKeyId(seal)
  return id === undefined ? "sealed (its seal names no key this code writes), and STATE_KEYS is not set: it cannot be verified" : `sealed under ${keyNotHeld(id, "none")}: it cannot be verified`
}

/** The HMAC of `text` under `key`'s seal key, hex. */
const hmacHex = (key: StateKey, text: string): string => createHmac("sha256", Redacted.value(key.sealKey)).update(text).digest("hex")

/** The seal of `fields` (what places a state and what its bytes come to) under the newest key. */
export const sealOf = (protection: StateProtection, purpose: "snapshot" | "live", fields: Record<string, unknown>): string => {
  const key = newestKey(protection)
  return `${sealPrefix}${key.id}:${hmacHex(key, canonicalJson({ ...fields, purpose }))}`
}

/** The id of the key a seal names, when it is one. */
export const sealKeyId = (seal: string | null | undefined): string | undefined => {
  if (typeof seal !== "string" || !seal.startsWith(sealPrefix)) return undefined
  const rest = seal.slice(sealPrefix.length)
  const colon = rest.lastIndexOf(":")
  const id = colon > 0 ? rest.slice(0, colon) : ""
  // Only an id a key can have: what is stored is anyone's, and is said to an operator.
  return keyIdPattern.test(id) ? id : undefined
}

/**
 * Why `seal` is not the seal of `fields` under a configured key, if it is not ("not authentic: ...");
 * `computeFields`, given the key the seal names, gives the fields (a live state's sum is taken under that key).
 */
export const sealProblem = (
  protection: StateProtection,
  purpose: "snapshot" | "live",
  seal: string | null | undefined,
  computeFields: (key: StateKey) => Record<string, unknown>
): string | undefined => {
  // Only a state with no seal at all is unsealed: a seal that is there, whatever it holds, is judged.
  if (typeof seal !== "string") {
    return protection.trustUnsealed === true ? undefined : "not authentic: it carries no seal (written without STATE_KEYS)"
  }
  const id = sealKeyId(seal)
  if (id === undefined) return "not authentic: its seal is not one this code writes"
  const key = keyNamed(protection, id)
  if (key === undefined) return `not authentic: sealed under ${keyNotHeld(id)}`
  const expected = Buffer.from(`${sealPrefix}${key.id}:${hmacHex(key, canonicalJson({ ...computeFields(key), purpose }))}`)
  const found = Buffer.from(seal)
  return expected.length === found.length && timingSafeEqual(expected, found)
    ? undefined
    : `not authentic: its seal under key ${id} does not match what it holds (forged, altered, or moved to another place)`
}

/** Whether a seal is under the newest key (a rekey leaves such a state as it is). */
export const sealedUnderNewest = (protection: StateProtection, seal: string | null | undefined): boolean =>
  sealKeyId(seal) === newestKey(protection).id

const cipherPrefix = "aes-256-gcm:"

/** Whether a stored text is a ciphertext of `encryptText`. */
export const isEncrypted = (value: unknown): value is string => typeof value === "string" && value.startsWith(cipherPrefix)

/** `plaintext` encrypted under the newest key, bound to `place` (a ciphertext opens only where it was written). */
export const encryptText = (protection: StateProtection, place: string, plaintext: string): string => {
  const key = newestKey(protection)
  const iv = randomBytes(12)
  const cipher = createCipheriv("aes-256-gcm", Redacted.value(key.cipherKey), iv)
  cipher.setAAD(Buffer.from(place))
  const data = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()])
  return `${cipherPrefix}${key.id}:${iv.toString("base64")}:${data.toString("base64")}`
}

/** The plaintext of a ciphertext written at `place`, or why it cannot be had ("cannot decrypt: ..."). */
export const decryptText = (protection: StateProtection | undefined, place: string, text: string): Result.Result<string, string> => {
  const [id = "", ivText = "", dataText = ""] = text.slice(cipherPrefix.length).split(":")
  if (!keyIdPattern.test(id)) return Result.fail("cannot decrypt: its ciphertext names no key this code writes (damaged or forged)")
  if (protection === undefined || protection.keys.length === 0) {
    return Result.fail(`cannot decrypt: it is encrypted under ${keyNotHeld(id, "none")}`)
  }
  const key = keyNamed(protection, id)
  if (key === undefined) return Result.fail(`cannot decrypt: it is encrypted under ${keyNotHeld(id)}`)
  const iv = Buffer.from(ivText, "base64")
  const data = Buffer.from(dataText, "base64")
  if (iv.length !== 12 || data.length < 16) return Result.fail(`cannot decrypt: its ciphertext under key ${id} is truncated or damaged`)
  try {
    const decipher = createDecipheriv("aes-256-gcm", Redacted.value(key.cipherKey), iv)
    decipher.setAAD(Buffer.from(place))
    decipher.setAuthTag(data.subarray(data.length - 16))
    return Result.succeed(Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString("utf8"))
  } catch {
    return Result.fail(`cannot decrypt: key ${id} does not open it (another secret under that id, damage, or moved from another place)`)
  }
}

/**
 * The most `fields` stored values of `bytes` plaintext bytes in all take once encrypted (base64 of
 * the text and its tag, the key id and the nonce beside each); `bytes` as they are without
 * encryption. A store checks what it writes against what it reads back by this.
 */
export const storedBytesBound = (protection: StateProtection | undefined, bytes: number, fields: number): number => {
  if (protection?.encrypt !== true) return bytes
  const perValue = cipherPrefix.length + newestKey(protection).id.length + 1 + 16 + 1 + 4 * Math.ceil(16 / 3) + 4
  return Math.ceil((bytes * 4) / 3) + fields * perValue
}

/** A stored text as written: encrypted at `place` when `protection` asks for it, else as it is. */
export const protectText = (protection: StateProtection | undefined, place: string, text: string): string =>
  protection?.encrypt === true ? encryptText(protection, place, text) : text

/** A stored text as read: decrypted when it is a ciphertext, else as it is. */
export const openText = (protection: StateProtection | undefined, place: string, text: string): Result.Result<string, string> =>
  isEncrypted(text) ? decryptText(protection, place, text) : Result.succeed(text)

const modulus = 1n << 256n

/**
 * LiveSeal: the sum of a live state's parts, kept as it changes.
 *
 * A live state is written incrementally (only the parts that changed), so its seal cannot be a
 * MAC over all of its bytes without reading them all every loop. Instead each stored part (a
 * section's key and text, a positions field and value) counts as the HMAC of its place and bytes,
 * and the state as the sum of its parts modulo 2^256: a part that changes moves the sum by its own
 * difference, so a save seals in time proportional to what it wrote. The sum is never stored; the
 * seal is an HMAC over it, the env, the session and the writer's token. Without the key, the parts'
 * values are unknown, so no removed, added, replaced or replayed part keeps the sum.
 */
export const partOf = (key: StateKey, place: string, text: string): bigint =>
  BigInt(`0x${hmacHex(key, `${place}\u0000${text}`)}`)

/** The sum of parts. */
export const sumOf = (parts: Iterable<bigint>): bigint => {
  let sum = 0n
  for (const part of parts) sum = (sum + part) % modulus
  return sum
}

/** `sum` with `part` added (`sign` 1) or taken out (-1). */
export const moveSum = (sum: bigint, part: bigint, sign: 1 | -1): bigint => ((sum + BigInt(sign) * part) % modulus + modulus) % modulus

/** What a live state's seal covers. */
export const liveSealFields = (env: string, sessionId: string, fencingToken: number, sum: bigint): Record<string, unknown> => ({
  env,
  sessionId,
  fencingToken,
  sum: sum.toString(16)
})
