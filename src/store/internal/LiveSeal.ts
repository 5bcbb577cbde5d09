/**
 * LiveSeal: a live state's seal and encryption, as every live-tier backing
 * applies them (see `StateProtection`).
 *
 * A live state is stored as parts: a text per section (`S:<part>`) and, on
 * Redis, a field per open trade in the positions hash (`H:<field>`). With
 * keys, every part's text is stored encrypted when asked (bound to its place),
 * and the state's seal is an HMAC over the env, the session, the writer's
 * token and the sum of its parts' HMACs (`partOf`), kept as parts change, so
 * that a delta save seals in time proportional to what it wrote. A read
 * recomputes the sum from every part it got: a part added, removed, replaced
 * or replayed from an earlier state breaks the seal. Internal.
 */
import { Option, Result } from "effect"
import type { Env, SessionId } from "../../domain/Ids.ts"
import { StoreError, type StoreKind } from "../StoreError.ts"
import { liveParts, type LivePart, sectionKey } from "../StateKeys.ts"
import {
  liveSealFields,
  moveSum,
  newestKey,
  openText,
  partOf,
  protectText,
  sealOf,
  sealProblem,
  type StateKey,
  type StateProtection,
  sumOf,
  unverifiable
} from "../StateProtection.ts"
import { type LiveRead, readLiveState, type StoredSection, tokenOfMark } from "./LiveStateCodec.ts"

/** A stored part of a live state as read: a text, a hash's fields (name, value, name, value, ...), or absent. */
export type RawPart = string | { readonly hash: ReadonlyArray<string> } | null

/** Where a section's text is stored (a ciphertext opens only there). */
const sectionPlace = (env: Env, sessionId: SessionId, part: LivePart) => `live/${env}/${sessionId}/S:${part}`
/** Where a positions field's value is stored. */
const fieldPlace = (env: Env, sessionId: SessionId, field: string) => `live/${env}/${sessionId}/H:${field}`

/** The parts of a live state as it is written: each section's text and each positions field's value, by place. */
export class LiveParts {
  private sum = 0n
  private readonly parts = new Map<string, bigint>()
  private readonly key: StateKey
  private readonly env: Env
  private readonly sessionId: SessionId
  constructor(key: StateKey, env: Env, sessionId: SessionId) {
    this.key = key
    this.env = env
    this.sessionId = sessionId
  }

  /** The part at `place` is now `text` (stored bytes). */
  set(place: string, text: string): void {
    this.remove(place)
    const part = partOf(this.key, place, text)
    this.parts.set(place, part)
    this.sum = moveSum(this.sum, part, 1)
  }

  /** The part at `place` is gone. */
  remove(place: string): void {
    const before = this.parts.get(place)
    if (before === undefined) return
    this.parts.delete(place)
    this.sum = moveSum(this.sum, before, -1)
  }

  /** Every positions field is gone. */
  clearFields(): void {
    for (const place of [...this.parts.keys()]) if (place.startsWith("H:")) this.remove(place)
  }

  /** The seal of these parts, written by `fencingToken`. */
  seal(protection: StateProtection, fencingToken: number): string {
    return sealOf(protection, "live", liveSealFields(this.env, this.sessionId, fencingToken, this.sum))
  }
}

/** A section's text as stored: encrypted at its place when asked. */
export const protectSection = (protection: StateProtection | undefined, env: Env, sessionId: SessionId, part: LivePart, text: string) =>
  protectText(protection, sectionPlace(env, sessionId, part), text)

/** A positions field's value as stored. */
export const protectField = (protection: StateProtection | undefined, env: Env, sessionId: SessionId, field: string, text: string) =>
  protectText(protection, fieldPlace(env, sessionId, field), text)

/** The place names `LiveParts` keeps a section and a field under. */
export const sectionPart = (part: LivePart) => `S:${part}`
export const fieldPart = (field: string) => `H:${field}`

/** Fresh parts under the newest key. */
export const newParts = (protection: StateProtection, env: Env, sessionId: SessionId) => new LiveParts(newestKey(protection), env, sessionId)

/** The sum of the parts read, under `key`. */
const sumOfRead = (key: StateKey, parts: ReadonlyArray<RawPart>): bigint =>
  sumOf(parts.flatMap((raw, i) => {
    if (raw === null) return []
    if (typeof raw === "string") return [partOf(key, sectionPart(liveParts[i]!), raw)]
    const out: Array<bigint> = []
    for (let j = 0; j + 1 < raw.hash.length; j += 2) out.push(partOf(key, fieldPart(raw.hash[j]!), raw.hash[j + 1]!))
    return out
  }))

/**
 * Reads a live state from its raw parts (in `liveParts` order), its mark and its seal. Every part is
 * decrypted first (with or without keys: a ciphertext no configured key opens "cannot decrypt");
 * then, with keys, a state whose seal does not hold reads as one that cannot be opened ("not
 * authentic"), placed by nothing.
 * `positionsOf` makes the positions section of a hash's fields.
 */
export const readSealedLiveState = (
  store: StoreKind,
  env: Env,
  sessionId: SessionId,
  raw: ReadonlyArray<RawPart>,
  mark: string | null | undefined,
  seal: string | null | undefined,
  protection: StateProtection | undefined,
  positionsOf: (fields: ReadonlyArray<string>) => StoredSection
): Option.Option<LiveRead> => {
  if (raw.every((part) => part === null)) return Option.none()
  const location = sectionKey(env, sessionId, "session").replace(/:session$/, ":*")
  const refused = (message: string): Option.Option<LiveRead> => {
    const failure = Result.fail(StoreError.unreadable(store, location, `live state of ${sessionId}${message}`))
    return Option.some({ loopCount: undefined, fencingToken: null, open: () => failure, sealed: typeof seal === "string" })
  }
  const texts: Array<StoredSection> = []
  for (const [i, part] of raw.entries()) {
    if (part === null || typeof part === "string") {
      const opened = part === null ? Result.succeed(null) : openText(protection, sectionPlace(env, sessionId, liveParts[i]!), part)
      if (Result.isFailure(opened)) return refused(`: its ${liveParts[i]} section ${opened.failure}`)
      texts.push(opened.success)
      continue
    }
    const fields = [...part.hash]
    for (let j = 0; j + 1 < fields.length; j += 2) {
      const opened = openText(protection, fieldPlace(env, sessionId, fields[j]!), fields[j + 1]!)
      if (Result.isFailure(opened)) return refused(`: its positions field ${fields[j]} ${opened.failure}`)
      fields[j + 1] = opened.success
    }
    texts.push(positionsOf(fields))
  }
  // After decryption, so that a key that does not open it says so; the seal is over the stored bytes.
  // Without keys, a sealed state cannot be verified: it is not read.
  const cannotVerify = protection === undefined ? unverifiable(seal) : undefined
  if (cannotVerify !== undefined) return refused(` is ${cannotVerify}`)
  if (protection !== undefined) {
    const token = tokenOfMark(mark)
    const forged = sealProblem(protection, "live", seal, (key) => liveSealFields(env, sessionId, token ?? -1, sumOfRead(key, raw)))
    if (forged !== undefined) return refused(` is ${forged}`)
  }
  return Option.map(readLiveState(store, env, sessionId, texts, mark), (read) => ({ ...read, sealed: typeof seal === "string" }))
}
