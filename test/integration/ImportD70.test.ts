/**
 * `import-d70` as an operator switching from D70 runs it, against the real
 * Redis (holding D70's keys as D70 writes them) and the real PostgreSQL: the
 * report's own example and a session with open positions imported and
 * resumed; corrupted and partial sessions skipped with their reasons; a
 * re-import that changes nothing; and D70's keys exactly as they were.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { Redis } from "ioredis"
import { randomInt } from "node:crypto"
import { readFileSync } from "node:fs"
import { importSessions } from "../../src/adoption/D70Import.ts"
import { SessionId } from "../../src/domain/Ids.ts"
import * as PgSessionEvents from "../../src/store/PgSessionEvents.ts"
import * as PgSessionLease from "../../src/store/PgSessionLease.ts"
import * as PgSnapshotStore from "../../src/store/PgSnapshotStore.ts"
import { migrated } from "../../src/store/Persistence.ts"
import { RedisClient } from "../../src/store/RedisClient.ts"
import * as RedisLiveStateStore from "../../src/store/RedisLiveStateStore.ts"
import { SessionLease } from "../../src/store/SessionLease.ts"
import { redisClient, testPostgres } from "../support/Backings.ts"
import { runCli } from "../support/Cli.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"

const redisUrl = Redacted.value(testRedisUrl)
const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`../fixtures/d70/${name}.json`, import.meta.url), "utf8"))
const reportExample = "session_20251120_090301"
const withPositions = "session_20251121_143015"
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split("\n").at(-1)!)

/** A D70 deployment of its own on the test's Redis: its env, and the keys of `fixtures` (their `test` env replaced) written as D70 writes them. */
const d70Deployment = async (redis: Redis, fixtures: ReadonlyArray<Record<string, unknown>>) => {
  const env = `d70${randomInt(1e9).toString(36)}`
  for (const keys of fixtures) {
    for (const [key, value] of Object.entries(keys)) await redis.set(key.replace(":test:", `:${env}:`), JSON.stringify(value))
  }
  return env
}

/** Removes a D70 deployment's keys (what a test wrote). */
const removeDeployment = async (redis: Redis, env: string | undefined) => {
  const keys = env === undefined ? [] : await redis.keys(`arbitrage:state:${env}:*`)
  if (keys.length > 0) await redis.del(...keys)
  redis.disconnect()
}

/** Every key of a D70 env with its type, value and TTL: what must not change. */
const d70Keys = async (redis: Redis, env: string) => {
  const keys = (await redis.keys(`arbitrage:state:${env}:*`)).sort()
  return Promise.all(keys.map(async (key) => [key, await redis.type(key), await redis.dump(key), await redis.ttl(key)]))
}

/** The stores of a fresh project env (the real PostgreSQL and Redis). */
const projectEnv = () => ({ DATABASE_URL: Redacted.value(testDatabaseUrl), REDIS_URL: redisUrl, STATE_ENV: uniqueEnv("d70import") })

const importD70 = (env: Record<string, string>, d70Env: string, ...flags: ReadonlyArray<string>) =>
  runCli(["import-d70", "--redis-url", redisUrl, "--env", d70Env, "--json", ...flags], env)

describe("import-d70", () => {
  it("the report's example: refused without consent to the open trade D70 did not keep, imported with it, resumed, and its keys untouched", async () => {
    const redis = new Redis(redisUrl)
    let d70Env: string | undefined
    try {
      d70Env = await d70Deployment(redis, [fixture("report-example")])
      const before = await d70Keys(redis, d70Env)
      const env = projectEnv()

      const neither = importD70(env, d70Env, "--dry-run")
      assert.strictEqual(neither.status, 3, neither.stderr)
      const reasons = lastJson(neither.stdout).sessions[0].reason
      assert.include(reasons, `campaign "S4" is not a preset here`, "one run says every option it takes")
      assert.include(reasons, "--accept-lost-trades imports the session without them")

      const refused = importD70(env, d70Env, "--campaign", "balanced")
      assert.strictEqual(refused.status, 3, refused.stderr)
      const [skipped] = lastJson(refused.stdout).sessions
      assert.strictEqual(skipped.outcome, "skipped")
      assert.include(skipped.reason, "metrics count 1 open trade (2 opened, 1 closed) but its positions hold 0")
      const noCampaign = importD70(env, d70Env, "--accept-lost-trades")
      assert.strictEqual(noCampaign.status, 3)
      assert.include(lastJson(noCampaign.stdout).sessions[0].reason, `campaign "S4" is not a preset here`)

      const imported = importD70(env, d70Env, "--campaign", "balanced", "--accept-lost-trades")
      assert.strictEqual(imported.status, 0, imported.stderr)
      const [session] = lastJson(imported.stdout).sessions
      assert.strictEqual(session.sessionId, reportExample)
      assert.strictEqual(session.outcome, "imported")
      assert.deepStrictEqual(session.snapshot.sequence, 1)
      assert.strictEqual(session.loopCount, 20)
      assert.isTrue(session.derived.some((line: string) => line.startsWith("initial capital 10000 = portfolio_equity 10012.38 - total_pnl_usd 12.38")))
      assert.isTrue(session.derived.some((line: string) => line.startsWith("total_trades_opened 2 -> 1")))
      assert.isTrue(session.derived.some((line: string) => line.startsWith("risk guard session_start_time")))
      assert.isTrue(session.upgraded.some((line: string) => line.includes("start_time 1763629181.208 -> 1763629181208")))

      // D70's close predates the ledger here, and the audit says so rather than calling it lost.
      const inspected = runCli(["inspect", "--session", reportExample], env)
      assert.strictEqual(inspected.status, 0, inspected.stderr)
      assert.include(inspected.stdout, "agrees with the metrics since the ledger began (after close #1, with PnL 12.38 before it)")
      assert.include(inspected.stdout, "#1 closed before the session had a ledger")

      const restored = runCli(["restore", "--session", reportExample, "--dry-run", "--json"], env)
      assert.strictEqual(restored.status, 0, restored.stderr)
      const state = lastJson(restored.stdout).state
      assert.deepStrictEqual(
        [state.session.loopCount, state.session.campaignId, state.session.startTime, state.metrics.totalPnlUsd, state.metrics.portfolioEquityUsd, state.metrics.tradesClosed],
        [20, "balanced", 1763629181208, 12.38, 10012.38, 1]
      )

      const resumed = runCli(["run", "--mode", "resume", "--session", reportExample, "--loops", "45", "--seed", "3", "--json"], env)
      assert.strictEqual(resumed.status, 0, resumed.stderr)
      const final = lastJson(resumed.stdout)
      assert.strictEqual(final.session.loopCount, 45)
      assert.strictEqual(final.session.sessionId, reportExample)
      assert.isAtLeast(final.metrics.tradesClosed, 1, "the closes D70 counted are still counted")

      assert.deepStrictEqual(await d70Keys(redis, d70Env), before, "the D70 keys are exactly as they were")
    } finally {
      await removeDeployment(redis, d70Env)
    }
  })

  it("a session with open positions and every risk map filled: both trades, legs and counters carried across, and it trades on from them", async () => {
    const redis = new Redis(redisUrl)
    let d70Env: string | undefined
    try {
      d70Env = await d70Deployment(redis, [fixture("open-positions")])
      const env = projectEnv()
      const imported = importD70(env, d70Env, "--session", withPositions)
      assert.strictEqual(imported.status, 0, imported.stderr)
      const [session] = lastJson(imported.stdout).sessions
      assert.strictEqual(session.outcome, "imported")
      assert.strictEqual(session.openTrades, 2)
      assert.isFalse(session.derived.some((line: string) => line.startsWith("risk guard")), "every risk map was there: nothing derived for them")
      assert.isTrue(session.upgraded.some((line: string) => line.includes("T-20251121-0007 -> trd_d70_t-20251121-0007")))
      // D70 ran on the wall clock: 412 loops took it from 14:30:15.5 to the newest open at 14:43:50.
      assert.isTrue(session.derived.some((line: string) => line.includes("a resume needs --tick-ms 1977 or more")))
      const tooFast = runCli(["run", "--mode", "resume", "--session", withPositions, "--loops", "420", "--seed", "11", "--venues", "upbit,binance"], env)
      assert.strictEqual(tooFast.status, 2, tooFast.stderr)
      assert.include(tooFast.stderr, "give --tick-ms 1977 or more")

      const d70 = fixture("open-positions")
      const d70Trade = (d70[`arbitrage:state:test:${withPositions}:positions`] as any).active_orders["T-20251121-0009"]
      const state = lastJson(runCli(["restore", "--session", withPositions, "--dry-run", "--json"], env).stdout).state
      const trade = state.positions.activeTrades["trd_d70_t-20251121-0009"]
      // buy_b_sell_a: leg B bought, leg A sold.
      assert.deepStrictEqual([trade.buyLeg.venue, trade.buyLeg.price, trade.sellLeg.venue, trade.sellLeg.price], [
        d70Trade.order_b.venue, d70Trade.order_b.price, d70Trade.order_a.venue, d70Trade.order_a.price
      ])
      assert.strictEqual(trade.openedAt, Math.round(d70Trade.open_time * 1000))
      assert.deepStrictEqual(state.riskGuard.perSymbol["ETH-USDT"], { lossUsd: 8.5, tradesRejected: 3, tradesAllowed: 4, capitalUsedUsd: 2000, positionCount: 1 })
      assert.strictEqual(state.riskGuard.dailyLossUsd, 12.5)

      const resumed = runCli(["run", "--mode", "resume", "--session", withPositions, "--loops", "520", "--seed", "11", "--tick-ms", "2000", "--venues", "upbit,binance", "--json"], env)
      assert.strictEqual(resumed.status, 0, resumed.stderr)
      const final = lastJson(resumed.stdout)
      assert.strictEqual(final.session.loopCount, 520)
      assert.isAtLeast(final.metrics.tradesClosed, 7)
      const stillOpen = Object.keys(final.positions.activeTrades)
      const closedHere = final.metrics.tradesClosed - 7
      assert.strictEqual(final.metrics.tradesOpened - final.metrics.tradesClosed, stillOpen.length)
      assert.isAtLeast(closedHere + stillOpen.filter((id) => id.startsWith("trd_d70_")).length, 2, "each imported trade is closed here or still open")
    } finally {
      await removeDeployment(redis, d70Env)
    }
  })

  it("corrupted and partial sessions are skipped with their reasons, the good ones imported; a re-import changes nothing; a dry run writes nothing", async () => {
    const redis = new Redis(redisUrl)
    let d70Env: string | undefined
    try {
      d70Env = await d70Deployment(redis, [fixture("open-positions")])
      const key = (id: string, part: string) => `arbitrage:state:${d70Env}:${id}:${part}`
      const good = fixture("open-positions")
      const copy = async (id: string) => {
        for (const part of ["session", "positions", "metrics", "risk_guard"]) {
          const value = structuredClone(good[`arbitrage:state:test:${withPositions}:${part}`]) as Record<string, unknown>
          if (part === "session") value.session_id = id
          await redis.set(key(id, part), JSON.stringify(value))
        }
      }
      const broken: Array<readonly [string, (id: string) => Promise<unknown>, string]> = [
        ["session_20251122_000001", (id) => redis.set(key(id, "positions"), "{\"active_orders\": {"), "positions key is not valid JSON"],
        ["session_20251122_000002", (id) => redis.del(key(id, "risk_guard")), "a partial session: it lacks its risk_guard key"],
        ["session_20251122_000003", async (id) => {
          const metrics = JSON.parse((await redis.get(key(id, "metrics")))!)
          await redis.set(key(id, "metrics"), JSON.stringify({ ...metrics, total_winning_trades: 99 }))
        }, "winning trades"],
        ["session_20251122_000004", (id) => redis.del(key(id, "metrics")).then(() => redis.hset(key(id, "metrics"), "total_trades_opened", "9")), "holds a Redis hash, not a string"],
        ["session_20251122_000005", async (id) => {
          const positions = JSON.parse((await redis.get(key(id, "positions")))!)
          positions.active_orders["T-20251121-0007"].order_a.side = "sell"
          await redis.set(key(id, "positions"), JSON.stringify(positions))
        }, "the buy leg must buy"],
        ["session_20251122_000006", async (id) => {
          const guard = JSON.parse((await redis.get(key(id, "risk_guard")))!)
          await redis.set(key(id, "risk_guard"), JSON.stringify({ ...guard, per_symbol_position_count: { "BTC-USDT": 3, "ETH-USDT": 1 } }))
        }, "position count 3, but 1 trades of BTC-USDT are open"]
      ]
      for (const [id, damage] of broken) {
        await copy(id)
        await damage(id)
      }
      const before = await d70Keys(redis, d70Env)
      const env = projectEnv()

      const dryRun = importD70(env, d70Env, "--dry-run")
      assert.strictEqual(dryRun.status, 3, dryRun.stderr)
      const planned = lastJson(dryRun.stdout).sessions
      assert.deepStrictEqual(planned.find((s: { sessionId: string }) => s.sessionId === withPositions).outcome, "would-import")
      const listed = runCli(["sessions", "--json"], env)
      assert.deepStrictEqual(lastJson(listed.stdout), { sessions: [], liveOnly: [] }, "a dry run writes nothing")

      const first = importD70(env, d70Env)
      assert.strictEqual(first.status, 3, "some were skipped")
      const outcomes = lastJson(first.stdout).sessions
      assert.deepStrictEqual(outcomes.map((s: { sessionId: string }) => s.sessionId), [withPositions, ...broken.map(([id]) => id)].sort())
      const importedOne = outcomes.find((s: { sessionId: string }) => s.sessionId === withPositions)
      assert.strictEqual(importedOne.outcome, "imported")
      // Its first resume, as the import gives it: the market D70 did not record, <n> for the operator's choices.
      const resume: Array<string> = importedOne.resume
      assert.deepStrictEqual(resume.slice(0, 9), ["run", "--mode", "resume", "--session", withPositions, "--loops", "<n>", "--seed", "<n>"])
      assert.includeMembers(resume, ["--tick-ms", "--venues", "upbit,binance"])
      for (const [id, , reason] of broken) {
        const outcome = outcomes.find((s: { sessionId: string }) => s.sessionId === id)
        assert.strictEqual(outcome.outcome, "skipped", id)
        assert.include(outcome.reason, reason, id)
      }

      const again = importD70(env, d70Env, "--session", withPositions)
      assert.strictEqual(again.status, 0, again.stderr)
      assert.strictEqual(lastJson(again.stdout).sessions[0].outcome, "already-imported")
      const { snapshots } = lastJson(runCli(["snapshots", "--session", withPositions, "--json"], env).stdout)
      assert.lengthOf(snapshots, 1, "a re-import writes nothing more")

      // Once the session has run on here, D70's older state is not written over it.
      const choices = ["415", "2"]
      const resumed = runCli(resume.map((arg) => (arg === "<n>" ? choices.shift()! : arg)), env)
      assert.strictEqual(resumed.status, 0, resumed.stderr)
      const later = importD70(env, d70Env, "--session", withPositions)
      assert.strictEqual(later.status, 3)
      assert.include(lastJson(later.stdout).sessions[0].reason, "it exists here already")

      assert.deepStrictEqual(await d70Keys(redis, d70Env), before, "the D70 keys are exactly as they were")
    } finally {
      await removeDeployment(redis, d70Env)
    }
  })

  it("refuses bad requests before reading anything: a URL that is not Redis, an env that cannot be one, an unknown preset, nothing to import", () => {
    const env = projectEnv()
    const cases: Array<readonly [ReadonlyArray<string>, string]> = [
      [["--redis-url", "http://user:hunter2@127.0.0.1:6379", "--env", "test"], "--redis-url must be a redis: or rediss: URL"],
      [["--redis-url", redisUrl, "--env", "Test*"], "--env takes D70's env name (letters, digits, _, . or -)"],
      // D70's env names are its own: upper case is one.
      [["--redis-url", redisUrl, "--env", `Prod${randomInt(1e9)}`], "nothing to import"],
      [["--redis-url", redisUrl, "--env", "test", "--campaign", "S4"], "--campaign S4 is not a preset"],
      [["--redis-url", redisUrl, "--env", `none${randomInt(1e9)}`], "nothing to import"]
    ]
    for (const [args, message] of cases) {
      const run = runCli(["import-d70", ...args], env)
      assert.strictEqual(run.status, 2, `${args.join(" ")}: ${run.stderr}`)
      assert.include(run.stderr, message)
      assert.notInclude(run.stderr + run.stdout, "hunter2")
    }
    // The URL from the environment (off the command line, which ps and npm's banner show).
    const fromEnvironment = runCli(["import-d70", "--env", "test"], { ...env, D70_REDIS_URL: "http://user:hunter2@127.0.0.1:6379" })
    assert.strictEqual(fromEnvironment.status, 2)
    assert.include(fromEnvironment.stderr, "D70_REDIS_URL must be a redis: or rediss: URL")
    assert.notInclude(fromEnvironment.stderr + fromEnvironment.stdout, "hunter2")
    const neither = runCli(["import-d70", "--env", "test"], env)
    assert.strictEqual(neither.status, 2)
    assert.include(neither.stderr, "give the D70 Redis: D70_REDIS_URL, or --redis-url")
    const found = runCli(["import-d70", "--env", `none${randomInt(1e9)}`], { ...env, D70_REDIS_URL: redisUrl })
    assert.include(found.stderr, "nothing to import", "D70_REDIS_URL is the Redis read")
  })
})

// The import as a library, on stores that read sections of 1 KiB at most: the session with open
// positions is over it and is skipped alone (by a dry run too), the report's example imported; and
// a session whose lease another holds is skipped saying whose.
const smallReads = uniqueEnv("d70small")
layer(
  Layer.mergeAll(
    RedisLiveStateStore.layer(smallReads),
    PgSnapshotStore.layer(smallReads, { maxSectionBytes: 1024 }),
    PgSessionLease.layer(smallReads),
    PgSessionEvents.layer(smallReads)
  ).pipe(Layer.provideMerge(Layer.mergeAll(redisClient, migrated(testPostgres))))
)("import-d70 on stores that refuse what they cannot read back", (it) => {
  it.effect("an oversized session is skipped alone, in a dry run as in a real one; a held lease is named", () =>
    Effect.acquireUseRelease(
      Effect.gen(function*() {
        const client = new Redis(redisUrl)
        const d70Env = yield* Effect.promise(() => d70Deployment(client, [fixture("report-example"), fixture("open-positions")]))
        return { client, d70Env }
      }),
      ({ d70Env }) =>
        Effect.gen(function*() {
          const redis = yield* RedisClient
          const options = { redis, env: d70Env, campaign: "balanced", acceptLostTrades: true, holder: "test-import" }
          const outcomes = (result: { readonly sessions: ReadonlyArray<{ readonly sessionId: string; readonly outcome: string; readonly reason?: string }> }) =>
            Object.fromEntries(result.sessions.map((s) => [s.sessionId, [s.outcome, s.reason ?? ""]]))
          for (const dryRun of [true, false]) {
            const result = outcomes(yield* importSessions({ ...options, dryRun }))
            assert.strictEqual(result[reportExample]![0], dryRun ? "would-import" : "imported")
            assert.strictEqual(result[withPositions]![0], "skipped", `dry run: ${dryRun}`)
            assert.include(result[withPositions]![1], "not written: ")
            assert.include(result[withPositions]![1], "a restore reads")
          }
          // Another holder's lease on a session with no snapshot yet (an import running now).
          const leases = yield* SessionLease
          const lease = yield* leases.acquire(SessionId.make(withPositions), "import-d70-elsewhere", "1 minute")
          const held = outcomes(yield* importSessions({ ...options, dryRun: true, sessionId: withPositions }))
          assert.strictEqual(held[withPositions]![0], "skipped")
          assert.include(held[withPositions]![1], "its lease here is held (by import-d70-elsewhere, token ")
          // Released (or expired), it no longer stands in the way: the session is refused for its size alone.
          yield* leases.release(lease)
          const freed = outcomes(yield* importSessions({ ...options, dryRun: true, sessionId: withPositions }))
          assert.include(freed[withPositions]![1], "not written: ")
        }),
      ({ client, d70Env }) => Effect.promise(() => removeDeployment(client, d70Env))
    ))
})
