/**
 * StateProtection: the keys of STATE_KEYS as configured (every refusal says
 * what is wrong without the secret), seals, ciphertexts bound to their place,
 * and the live tier's sum of parts: kept as parts change, it always seals the
 * same as a sum made afresh of the parts there are.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Option, Result, Schema } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { persistenceConfig } from "../../src/config.ts"
import { Env, SessionId } from "../../src/domain/Ids.ts"
import { LiveParts, newParts } from "../../src/store/internal/LiveSeal.ts"
import {
  decryptText,
  encryptText,
  parseStateKeys,
  sealOf,
  sealProblem,
  type StateProtection
} from "../../src/store/StateProtection.ts"
import { freshProtection, protectionOf, stateKeysText } from "../support/Protection.ts"

const readConfig = (variables: Record<string, string>) =>
  Effect.gen(function*() {
    return yield* persistenceConfig
  }).pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromUnknown(variables)), Effect.exit)

const failureText = (exit: Exit.Exit<unknown, unknown>): string => (Exit.isFailure(exit) ? String(exit.cause) : "")

describe("STATE_KEYS", () => {
  it("takes ID:BASE64 entries by commas or lines, comments and blank lines aside, newest last", () => {
    const text = stateKeysText("old", "mid", "new")
    const keys = Result.getOrThrow(parseStateKeys(`# rotated 2026-12\n${text.split(",").join("\n\n")}\n`))
    assert.deepStrictEqual(keys.map((key) => key.id), ["old", "mid", "new"])
    assert.deepStrictEqual(Result.getOrThrow(parseStateKeys(text)).map((key) => key.id), ["old", "mid", "new"])
  })

  it("refuses a short secret, one that is not base64, a bad id, a repeated id, or none, naming the entry but never the secret", () => {
    const short = "c2hvcnQtc2VjcmV0LXNob3J0"
    for (const [text, words] of [
      [`k1:${short}`, "at least 32"],
      ["k1:not base64 at all!", "not base64"],
      [`bad id:${stateKeysText("x").slice(2)}`, "entry 1 must be ID:BASE64-SECRET"],
      [`${stateKeysText("k1")},${stateKeysText("k1")}`, "entry 2: key id k1 is listed twice"],
      ["  # nothing\n", "holds no key"]
    ] as const) {
      const parsed = parseStateKeys(text)
      assert.isTrue(Result.isFailure(parsed), text)
      const message = Result.isFailure(parsed) ? parsed.failure : ""
      assert.include(message, words)
      assert.notInclude(message, short)
    }
  })

  it.effect("as configuration: from the environment or a file (not both); encryption needs keys; a refusal names the variable, not the secret", () =>
    Effect.gen(function*() {
      const text = stateKeysText("k1", "k2")
      const inline = yield* readConfig({ STATE_KEYS: text, STATE_ENCRYPTION: "aes-256-gcm" })
      assert.isTrue(Exit.isSuccess(inline))
      const protection = Exit.isSuccess(inline) ? Option.getOrUndefined(inline.value.protection) : undefined
      assert.deepStrictEqual(protection?.keys.map((key) => key.id), ["k1", "k2"])
      assert.isTrue(protection?.encrypt)

      const file = join(mkdtempSync(join(tmpdir(), "state-keys-")), "keys")
      writeFileSync(file, text.split(",").join("\n"))
      const fromFile = yield* readConfig({ STATE_KEYS_FILE: file })
      assert.deepStrictEqual(Exit.isSuccess(fromFile) ? Option.getOrUndefined(fromFile.value.protection)?.keys.map((key) => key.id) : [], ["k1", "k2"])

      const none = yield* readConfig({})
      assert.isTrue(Exit.isSuccess(none) && Option.isNone(none.value.protection))

      const secret = "c2hvcnQtc2VjcmV0LXNob3J0"
      for (const [variables, words] of [
        [{ STATE_KEYS: text, STATE_KEYS_FILE: file }, "STATE_KEYS and STATE_KEYS_FILE are both set"],
        [{ STATE_ENCRYPTION: "aes-256-gcm" }, "STATE_ENCRYPTION=aes-256-gcm needs STATE_KEYS"],
        [{ STATE_ENCRYPTION: "rot13", STATE_KEYS: text }, "STATE_ENCRYPTION"],
        [{ STATE_KEYS: `k1:${secret}` }, "STATE_KEYS: entry 1 (key k1): its secret is 18 bytes"],
        [{ STATE_KEYS_FILE: join(file, "missing") }, "STATE_KEYS_FILE: cannot read"]
      ] as const) {
        const exit = yield* readConfig(variables)
        assert.isTrue(Exit.isFailure(exit), words)
        assert.include(failureText(exit), words)
        assert.notInclude(failureText(exit), secret)
      }
    }))
})

describe("seals and ciphertexts", () => {
  const fields = { env: "prod", sessionId: "sess_a", sequence: 7, fencingToken: 3, checksum: "sha256:ab" }

  it("a seal holds for its fields under its key, and for no change of any field, another key or another purpose", () => {
    const keys = freshProtection(["k1"])
    const seal = sealOf(keys, "snapshot", fields)
    assert.isUndefined(sealProblem(keys, "snapshot", seal, () => fields))
    for (const [name, value] of Object.entries(fields)) {
      const changed = { ...fields, [name]: typeof value === "number" ? value + 1 : `${value}x` }
      assert.include(sealProblem(keys, "snapshot", seal, () => changed), "does not match", name)
    }
    assert.include(sealProblem(keys, "live", seal, () => fields), "does not match")
    assert.include(sealProblem(freshProtection(["k1"]), "snapshot", seal, () => fields), "does not match")
    assert.include(sealProblem(freshProtection(["k9"]), "snapshot", seal, () => fields), "sealed under key k1, which STATE_KEYS does not hold")
    assert.include(sealProblem(keys, "snapshot", null, () => fields), "carries no seal")
    assert.isUndefined(sealProblem({ ...keys, trustUnsealed: true }, "snapshot", null, () => fields))
    assert.include(sealProblem({ ...keys, trustUnsealed: true }, "snapshot", `${seal.slice(0, -1)}${seal.endsWith("0") ? "1" : "0"}`, () => fields), "does not match")
  })

  it("a seal or a ciphertext naming an id no key can have is refused without repeating it: no line break, escape or megabyte reaches an operator", () => {
    const keys = freshProtection(["k1"], true)
    for (const id of ["k1\nFAKE LINE: restored OK\u001b[31m", "A".repeat(100_000), ""]) {
      const sealed = sealProblem(keys, "snapshot", `hmac-sha256:${id}:00`, () => fields)
      assert.strictEqual(sealed, "not authentic: its seal is not one this code writes")
      const opened = decryptText(keys, "place", `aes-256-gcm:${id}:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==`)
      assert.isTrue(Result.isFailure(opened))
      const message = Result.isFailure(opened) ? opened.failure : ""
      assert.include(message, "names no key this code writes")
      assert.isBelow(message.length, 200)
    }
    // An empty seal is a seal that does not hold, not a missing one: trust on first use does not take it.
    assert.include(sealProblem({ ...keys, trustUnsealed: true }, "snapshot", "", () => fields), "not one this code writes")
  })

  it("a ciphertext opens at its place under its key, and nowhere else; the same text never encrypts the same twice", () => {
    const keys = freshProtection(["e1"], true)
    const text = JSON.stringify({ tradeId: "t-1", pnl: 12.5 })
    const sealed = encryptText(keys, "live/prod/sess_a/S:metrics", text)
    assert.notStrictEqual(encryptText(keys, "live/prod/sess_a/S:metrics", text), sealed)
    assert.notInclude(sealed, "t-1")
    assert.strictEqual(Result.getOrThrow(decryptText(keys, "live/prod/sess_a/S:metrics", sealed)), text)
    const refusal = (protection: StateProtection | undefined, place: string, value = sealed) => {
      const opened = decryptText(protection, place, value)
      return Result.isFailure(opened) ? opened.failure : "opened"
    }
    assert.include(refusal(keys, "live/prod/sess_b/S:metrics"), "key e1 does not open it")
    assert.include(refusal(freshProtection(["e1"], true), "live/prod/sess_a/S:metrics"), "key e1 does not open it")
    assert.include(refusal(freshProtection(["e2"], true), "live/prod/sess_a/S:metrics"), "encrypted under key e1, which STATE_KEYS does not hold")
    assert.include(refusal(undefined, "live/prod/sess_a/S:metrics"), "STATE_KEYS is not set")
    assert.include(refusal(keys, "live/prod/sess_a/S:metrics", sealed.slice(0, 40)), "cannot decrypt")
  })
})

describe("the live tier's sum of parts", () => {
  const env = Env.make("unit")
  const sessionId = SessionId.make("sess_parts")
  const protection = protectionOf(stateKeysText("p1"))
  const fieldPlaces = ["H:t:a", "H:t:b", "H:o:a", "H:v"] as const
  const Operation = Schema.Union([
    Schema.Struct({ op: Schema.Literal("set"), place: Schema.Literals(["S:session", "S:metrics", ...fieldPlaces]), text: Schema.String }),
    Schema.Struct({ op: Schema.Literal("remove"), place: Schema.Literals(["S:custom", "S:metrics", ...fieldPlaces]) }),
    Schema.Struct({ op: Schema.Literal("clear") })
  ])

  it.prop(
    "kept through any changes, it seals as the parts there are, made afresh; a different set seals differently",
    { operations: Schema.Array(Operation) },
    ({ operations }) => {
        const kept: LiveParts = newParts(protection, env, sessionId)
        const model = new Map<string, string>()
        for (const change of operations) {
          if (change.op === "set") {
            kept.set(change.place, change.text)
            model.set(change.place, change.text)
          } else if (change.op === "remove") {
            kept.remove(change.place)
            model.delete(change.place)
          } else {
            kept.clearFields()
            for (const place of [...model.keys()]) if (place.startsWith("H:")) model.delete(place)
          }
        }
        const afresh = newParts(protection, env, sessionId)
        for (const [place, text] of model) afresh.set(place, text)
        assert.strictEqual(kept.seal(protection, 4), afresh.seal(protection, 4))
        // One part more, or the writer's token changed, and the seal is another.
        afresh.set("H:t:extra", "x")
        assert.notStrictEqual(kept.seal(protection, 4), afresh.seal(protection, 4))
        assert.notStrictEqual(kept.seal(protection, 4), kept.seal(protection, 5))
    }
  )
})
