/**
 * RedisScript: a Lua script as one value: its text, the names of its keys
 * (in the order Redis receives them), and the Schema of its reply.
 *
 * The keys are bound in the Lua by name (`local fence, mark = KEYS[1],
 * KEYS[2]`, generated from the same list the caller's keys are laid out by),
 * so no index is kept in step by hand. A script answers with a reply the
 * Schema decodes (a refusal is a reply like `{'fenced', 7}`, not an error
 * message to be matched): a reply that does not decode is a typed store
 * failure naming the script. The script runs by its SHA1 (EVALSHA), its
 * text sent only to a server that does not know it yet (NOSCRIPT, e.g.
 * after a restart).
 */
import { Effect, Schema } from "effect"
import { createHash } from "node:crypto"
import type { RedisClient, RedisConnection } from "../RedisClient.ts"
import { StoreError } from "../StoreError.ts"

/** A script ready to run: its keys by name, its arguments, its decoded reply. */
export interface RedisScript<Key extends string, Reply> {
  readonly name: string
  /** Its Lua text, as sent (benchmarks run it with the raw driver). */
  readonly lua: string
  readonly keyNames: ReadonlyArray<Key>
  /** The 1-based position of a key in KEYS (what an argument naming a key passes). */
  readonly keyIndex: (key: Key) => number
  readonly run: (
    redis: RedisClient["Service"],
    keys: Readonly<Record<Key, string>>,
    args: ReadonlyArray<string>
  ) => Effect.Effect<Reply, StoreError>
}

/** Runs `lua` by its SHA, sending the text when the server does not know it. */
const evalBySha = (lua: string) => {
  const sha = createHash("sha1").update(lua).digest("hex")
  return async (client: RedisConnection, keys: ReadonlyArray<string>, args: ReadonlyArray<string>): Promise<unknown> => {
    try {
      return await client.evalsha(sha, keys.length, ...keys, ...args)
    } catch (error) {
      if (error instanceof Error && error.message.startsWith("NOSCRIPT")) return client.eval(lua, keys.length, ...keys, ...args)
      throw error
    }
  }
}

/**
 * A script named `name`. `body` is its Lua after the shebang and the key locals; `flags` the
 * shebang's flags (`no-writes` for a read: it then runs when Redis is out of memory, while a
 * script that writes is refused whole, before it starts).
 */
export const make = <const Key extends string, Reply>(options: {
  readonly name: string
  readonly keys: ReadonlyArray<Key>
  readonly body: string
  readonly flags?: string
  readonly reply: Schema.Codec<Reply, unknown>
}): RedisScript<Key, Reply> => {
  const locals = `local ${options.keys.join(", ")} = ${options.keys.map((_, i) => `KEYS[${i + 1}]`).join(", ")}`
  const lua = `#!lua${options.flags === undefined ? "" : ` flags=${options.flags}`}\n${locals}\n${options.body}`
  const evaluate = evalBySha(lua)
  const decode = Schema.decodeUnknownEffect(options.reply)
  return {
    name: options.name,
    lua,
    keyNames: options.keys,
    keyIndex: (key) => options.keys.indexOf(key) + 1,
    run: (redis, keys, args) =>
      redis.use(`EVAL ${options.name}`, (client) => evaluate(client, options.keys.map((key) => keys[key]), args)).pipe(
        Effect.flatMap((reply) =>
          decode(reply).pipe(
            Effect.mapError((error) => StoreError.failure("redis", `script ${options.name} answered ${JSON.stringify(reply)}: ${error.message}`))
          )
        )
      )
  }
}
