/**
 * `import-d70 --env ENV [--redis-url URL] [--session ID] [--campaign PRESET]
 * [--accept-lost-trades] [--dry-run] [--json]`: takes over the sessions of a
 * running D70 deployment (see `adoption/D70Import.ts`). Each valid session
 * becomes the first durable snapshot of the same session id in this
 * project's stores (those of `DATABASE_URL` and `STATE_ENV`), after which
 * `run --mode resume --session ID` continues it. The D70 keys are read, never
 * changed. Exit 0 when every session found was imported (or, in a dry run,
 * would be, or was already), 3 when any was skipped (each says why), 2 when
 * there was nothing to import.
 */
import { Console, Effect, Option, Redacted } from "effect"
import { Command, Flag } from "effect/cli"
import { type D70SessionImport, importSessions, isD70Env } from "../../adoption/D70Import.ts"
import { d70RedisUrlConfig, persistenceConfig, redisUrlProblem } from "../../config.ts"
import { campaignNamed, campaigns } from "../../runner/Campaign.ts"
import { defaultHolder } from "../../session/Session.ts"
import { redactPasswords } from "../../store/internal/ConnectionString.ts"
import * as Persistence from "../../store/Persistence.ts"
import * as RedisClient from "../../store/RedisClient.ts"
import { ExitCode, invocation } from "../ExitCode.ts"
import { jsonFlag } from "../Output.ts"

const verbs: Record<D70SessionImport["outcome"], string> = {
  "imported": "imported",
  "would-import": "would be imported (dry run)",
  "already-imported": "already imported, unchanged",
  "skipped": "skipped"
}

/** The closing line's totals, in this order. */
const totals: ReadonlyArray<readonly [D70SessionImport["outcome"], string]> = [
  ["imported", "imported"],
  ["would-import", "would be imported"],
  ["already-imported", "already imported"],
  ["skipped", "skipped"]
]

/** A session id as found in a key, quoted when it holds anything but printable ASCII (a key may hold a newline). */
const shownId = (id: string) => (/^[\x21-\x7e]+$/.test(id) ? id : JSON.stringify(id))

/** The lines that describe one session's outcome. */
const describeSession = (outcome: D70SessionImport): ReadonlyArray<string> => [
  `${shownId(outcome.sessionId)}: ${verbs[outcome.outcome]}${
    outcome.snapshot === undefined ? "" : ` as snapshot #${outcome.snapshot.sequence}`
  }${outcome.loopCount === undefined ? "" : ` (loop ${outcome.loopCount}, ${outcome.openTrades} open trade${outcome.openTrades === 1 ? "" : "s"})`}${
    outcome.reason === undefined ? "" : `: ${outcome.reason}`
  }`,
  ...outcome.upgraded.map((line) => `  upgraded: ${line}`),
  ...outcome.derived.map((line) => `  derived: ${line}`),
  ...(outcome.resume === undefined || outcome.outcome === "skipped" ? [] : [`  resume with: ${invocation} ${outcome.resume.join(" ")}`])
]

/** `import-d70`: see the module header. */
export const importD70 = Command.make(
  "import-d70",
  {
    redisUrl: Flag.String("redis-url").pipe(
      Flag.withMetavar("URL"),
      Flag.withDescription(
        "The D70 deployment's Redis, a redis: or rediss: URL, read only (default: D70_REDIS_URL; prefer it for a URL with a password, " +
          "which a command line shows to ps and npm prints in its banner; this command never prints it)"
      ),
      Flag.optional
    ),
    env: Flag.String("env").pipe(
      Flag.withMetavar("ENV"),
      Flag.withDescription("D70's env, the {env} of its keys arbitrage:state:{env}:{session_id}:*, exactly as they hold it (case included)")
    ),
    session: Flag.String("session").pipe(Flag.withMetavar("ID"), Flag.withDescription("Only this D70 session (default: every one found)"), Flag.optional),
    campaign: Flag.String("campaign").pipe(
      Flag.withMetavar("PRESET"),
      Flag.withDescription(`The campaign preset the sessions continue under here (${Object.keys(campaigns).join(", ")}); needed when theirs is not one (default: theirs)`),
      Flag.optional
    ),
    acceptLostTrades: Flag.Boolean("accept-lost-trades").pipe(
      Flag.withDescription("Import a session whose metrics count open trades its positions do not hold (D70 did not keep them), without them; default: skip it"),
      Flag.withDefault(false)
    ),
    dryRun: Flag.Boolean("dry-run").pipe(Flag.withDescription("Read and decode, write nothing: what would be imported"), Flag.withDefault(false)),
    json: jsonFlag
  },
  Effect.fn(function*({ acceptLostTrades, campaign, dryRun, env, json, redisUrl: given, session }) {
    const fromEnvironment = yield* d70RedisUrlConfig
    const [redisUrl, named] = Option.isSome(given)
      ? [given.value, "--redis-url"]
      : Option.isSome(fromEnvironment)
      ? [fromEnvironment.value, "D70_REDIS_URL"]
      : [undefined, "--redis-url"]
    if (redisUrl === undefined) return yield* ExitCode.fail(ExitCode.badArguments, "give the D70 Redis: D70_REDIS_URL, or --redis-url")
    const problem = redisUrlProblem(redisUrl)
    if (problem !== undefined) return yield* ExitCode.fail(ExitCode.badArguments, `${named} ${problem}`)
    if (!isD70Env(env)) return yield* ExitCode.fail(ExitCode.badArguments, `--env takes D70's env name (letters, digits, _, . or -), got ${JSON.stringify(env)}`)
    if (Option.isSome(campaign) && campaignNamed(campaign.value) === undefined) {
      return yield* ExitCode.fail(ExitCode.badArguments, `--campaign ${campaign.value} is not a preset: ${Object.keys(campaigns).join(", ")}`)
    }
    const shown = redactPasswords(redisUrl)
    const config = yield* persistenceConfig
    const result = yield* Effect.scoped(Effect.gen(function*() {
      const redis = yield* RedisClient.make({ url: Redacted.make(redisUrl) })
      return yield* importSessions({
        redis,
        env,
        dryRun,
        acceptLostTrades,
        holder: `import-d70-${defaultHolder()}`,
        ...(Option.isSome(session) ? { sessionId: session.value } : {}),
        ...(Option.isSome(campaign) ? { campaign: campaign.value } : {})
      })
    })).pipe(Effect.provide(dryRun ? Persistence.layerReadOnly : Persistence.layer))
    const { sessions } = result
    if (sessions.length === 0) {
      const where = `${shown} under arbitrage:state:${env}:*`
      return yield* ExitCode.fail(
        ExitCode.badArguments,
        `${Option.isSome(session) ? `no D70 session ${shownId(session.value)} on ${where}` : `no D70 session on ${where}: nothing to import`} ` +
          "(the env is matched exactly as D70's keys hold it, case included)"
      )
    }
    const count = (outcome: D70SessionImport["outcome"]) => sessions.filter((s) => s.outcome === outcome).length
    if (json) {
      yield* Console.log(JSON.stringify({ redis: shown, d70Env: env, env: config.env, dryRun, sessions }))
    } else {
      yield* Console.log([
        `import-d70 from ${shown} (D70 env ${env}) into env ${config.env}${dryRun ? ", dry run: nothing written" : ""}`,
        ...sessions.flatMap(describeSession),
        `${sessions.length} session${sessions.length === 1 ? "" : "s"}: ${
          totals.flatMap(([outcome, word]) => (count(outcome) > 0 ? [`${count(outcome)} ${word}`] : [])).join(", ")
        }`,
        ...(count("imported") + count("would-import") > 0
          ? [
            "resume each with its line above, with this DATABASE_URL, REDIS_URL and STATE_ENV: D70 recorded no paper market, so a first resume " +
            "here chooses it (--seed, and the --tick-ms and --venues shown), and <n> --loops is the loop to run to"
          ]
          : [])
      ].join("\n"))
    }
    if (count("skipped") > 0) yield* ExitCode.set(ExitCode.invalidState)
  })
).pipe(Command.withDescription(
  "Take over a running D70 deployment's sessions: each valid one becomes the first snapshot of the same session in this " +
    "project's stores (those of DATABASE_URL, REDIS_URL and STATE_ENV, see the root --help); the D70 keys are only read, never changed. " +
    "Exit 0: every session found was imported (or would be, or was already); 3: some were skipped, each saying why; 2: a bad flag, or nothing to import"
))
