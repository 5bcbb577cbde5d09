/**
 * A new session without --seed: `run` and `supervise` choose one, say so, and
 * the session records it; a session that exists trades its own, whatever was
 * chosen.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import { randomInt } from "node:crypto"
import { SessionId } from "../../src/domain/Ids.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import * as Session from "../../src/session/Session.ts"
import * as Persistence from "../../src/store/Persistence.ts"
import { runCli } from "../support/Cli.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"
import { sessionOptions } from "../support/Sessions.ts"

const env = {
  DATABASE_URL: Redacted.value(testDatabaseUrl),
  REDIS_URL: Redacted.value(testRedisUrl),
  STATE_ENV: uniqueEnv("cliseed")
}
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1)!)

/** The market the session recorded, as a restore reads it back. */
const recordedMarket = (sessionId: string) => {
  const restore = runCli(["restore", "--session", sessionId, "--dry-run", "--json"], env)
  assert.strictEqual(restore.status, 0, restore.stderr)
  return lastJson(restore.stdout).state.session.market
}

describe("a new session without --seed", () => {
  it("run (auto, no session, no seed) starts one on a seed it chooses, prints it, and records it; a resume keeps it", () => {
    const run = runCli(["run", "--loops", "30", "--json"], env)
    assert.strictEqual(run.status, 0, run.stderr)
    const started = /started (sess_\S+) \(campaign balanced, seed (\d+) chosen\)/.exec(run.stderr)
    assert.isNotNull(started, run.stderr)
    const [, sessionId, seed] = started!
    assert.deepStrictEqual(lastJson(run.stdout).session.market, { seed: Number(seed), tickMs: 1000 })
    assert.deepStrictEqual(recordedMarket(sessionId!), { seed: Number(seed), tickMs: 1000 })

    const resumed = runCli(["run", "--mode", "resume", "--session", sessionId!, "--loops", "40", "--json"], env)
    assert.strictEqual(resumed.status, 0, resumed.stderr)
    assert.notInclude(resumed.stderr, "chosen")
    assert.deepStrictEqual(lastJson(resumed.stdout).session.market, { seed: Number(seed), tickMs: 1000 })
  })

  it("run --mode clean with a session id and no seed: started on a chosen seed, recorded", () => {
    const sessionId = `sess_seed${randomInt(1e9).toString(36)}`
    const run = runCli(["run", "--mode", "clean", "--session", sessionId, "--loops", "10", "--tick-ms", "50"], env)
    assert.strictEqual(run.status, 0, run.stderr)
    const seed = Number(new RegExp(`started ${sessionId} \\(campaign balanced, seed (\\d+) chosen\\)`).exec(run.stderr)?.[1])
    assert.isTrue(Number.isInteger(seed), run.stderr)
    assert.deepStrictEqual(recordedMarket(sessionId), { seed, tickMs: 50 })
  })

  it("supervise without --seed chooses one for a new session, says so, and its runner records it", () => {
    const sessionId = `sess_supseed${randomInt(1e9).toString(36)}`
    const supervised = runCli(["supervise", "--session", sessionId, "--loops", "25", "--json"], env)
    assert.strictEqual(supervised.status, 0, supervised.stderr)
    const seed = Number(new RegExp(`supervising ${sessionId} \\(seed (\\d+) chosen, if the session is new\\)`).exec(supervised.stderr)?.[1])
    assert.isTrue(Number.isInteger(seed), supervised.stderr)
    // The runner was handed the supervisor's seed: it chose none of its own.
    assert.include(supervised.stderr, `started ${sessionId} (campaign balanced, seed ${seed})`)
    assert.deepStrictEqual(recordedMarket(sessionId), { seed, tickMs: 1000 })
  })

  it("supervise without --seed or --tick-ms on a session that exists: it runs on the market the session recorded", () => {
    const sessionId = `sess_supold${randomInt(1e9).toString(36)}`
    const first = runCli(["run", "--mode", "clean", "--session", sessionId, "--loops", "10", "--seed", "3", "--tick-ms", "20"], env)
    assert.strictEqual(first.status, 0, first.stderr)
    const supervised = runCli(["supervise", "--session", sessionId, "--loops", "30", "--json"], env)
    assert.strictEqual(supervised.status, 0, supervised.stderr)
    const final = lastJson(supervised.stdout)
    assert.strictEqual(final.session.loopCount, 30)
    assert.deepStrictEqual(final.session.market, { seed: 3, tickMs: 20 })
  })

  it("--venues names a new session's two venues, recorded and kept; a resume that names others, or a malformed list, is refused", () => {
    const sessionId = `sess_venues${randomInt(1e9).toString(36)}`
    const run = runCli(["run", "--mode", "clean", "--session", sessionId, "--loops", "400", "--seed", "11", "--venues", "upbit,okx.spot"], env)
    assert.strictEqual(run.status, 0, run.stderr)
    const restored = runCli(["restore", "--session", sessionId, "--dry-run", "--json"], env)
    const state = lastJson(restored.stdout).state
    assert.deepStrictEqual(state.session.market, { seed: 11, tickMs: 1000, venues: ["upbit", "okx.spot"] })
    assert.isAbove(state.metrics.tradesOpened, 0)

    const refused = runCli(["run", "--mode", "resume", "--session", sessionId, "--loops", "450", "--venues", "A,B"], env)
    assert.strictEqual(refused.status, 2, refused.stderr)
    assert.include(refused.stderr, "trades between upbit and okx.spot; --venues says otherwise")
    const kept = runCli(["run", "--mode", "resume", "--session", sessionId, "--loops", "450", "--json"], env)
    assert.strictEqual(kept.status, 0, kept.stderr)
    assert.deepStrictEqual(lastJson(kept.stdout).session.market.venues, ["upbit", "okx.spot"])

    for (const venues of ["upbit", "upbit,Upbit", "up:bit,binance", "a,b,c"]) {
      const bad = runCli(["run", "--mode", "clean", "--loops", "5", "--seed", "1", "--venues", venues], env)
      assert.strictEqual(bad.status, 2, `${venues}: ${bad.stderr}`)
      assert.deepStrictEqual(bad.stderr.trim().split("\n").filter((line) => line.startsWith("--venues")).length, 1, bad.stderr)
    }
  }, 60_000)

  it.live("a resumed session that never recorded its market (written before markets were) is refused without --seed, never given a chosen one", () =>
    Effect.gen(function*() {
      const sessionId = SessionId.make(`sess_legacy${randomInt(1e9).toString(36)}`)
      // Started and stopped in-process with no market, as sessions were before the market was recorded.
      yield* Effect.scoped(Session.initialize(sessionOptions("CLEAN_RESET", campaigns.balanced!, sessionId))).pipe(
        Effect.provide(Layer.fresh(Persistence.layer).pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env)))))
      )
      assert.isUndefined(recordedMarket(sessionId))
      const refused = runCli(["run", "--mode", "resume", "--session", sessionId, "--loops", "10"], env)
      assert.strictEqual(refused.status, 2, refused.stderr)
      assert.deepStrictEqual(refused.stderr.trim().split("\n"), [`${sessionId} did not record its market: give --seed (and --tick-ms)`])
      const given = runCli(["run", "--mode", "resume", "--session", sessionId, "--loops", "10", "--seed", "5", "--json"], env)
      assert.strictEqual(given.status, 0, given.stderr)
      assert.strictEqual(lastJson(given.stdout).session.loopCount, 10)
      // It now records the market it was given: a later resume trades the same, and another seed is refused.
      assert.deepStrictEqual(recordedMarket(sessionId), { seed: 5, tickMs: 1000 })
      const other = runCli(["run", "--mode", "resume", "--session", sessionId, "--loops", "20", "--seed", "6"], env)
      assert.strictEqual(other.status, 2, other.stderr)
    }), { timeout: 60_000 })
})
