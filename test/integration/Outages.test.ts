/**
 * Outages mid-run, against real servers, without disturbing the shared ones:
 * the live tier is a private redis-server that the test stops and starts;
 * the durable tier is the shared PostgreSQL behind a fault-injecting TCP
 * proxy that the test cuts and restores.
 */
import { sessionOptions } from "../support/Sessions.ts"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Scope } from "effect"
import { SessionId } from "../../src/domain/Ids.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import * as Runner from "../../src/runner/Runner.ts"
import * as Session from "../../src/session/Session.ts"
import { LiveStateStore } from "../../src/store/LiveStateStore.ts"
import { durableOn, postgresLayer, redisLiveLayer } from "../../src/store/Persistence.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import { testPostgres } from "../support/Backings.ts"
import { privateRedis } from "../support/PrivateRedis.ts"
import { withoutNegativeZero } from "../support/Results.ts"
import { storedForm, uninterruptedRun } from "../support/Runs.ts"
import { testRedisUrl, uniqueEnv } from "../support/Services.ts"
import { testPostgresProxy } from "../support/TcpProxy.ts"

const campaign = campaigns.aggressive!
const seed = 5150
// A 5 ms tick, so that paced loops let the session's retry backoff run out quickly.
const market = { seed, tickMs: 5 }

const startSession = (sessionId: SessionId) =>
  Session.initialize(sessionOptions("CLEAN_RESET", campaign, sessionId, { lease: { ttl: "2 seconds" } }))

describe("outages", () => {
  it.live("Redis down mid-run: the runner goes on, snapshots every loop, reports the live tier degraded, and re-syncs it when back", () =>
    Effect.gen(function*() {
      const redis = yield* privateRedis
      const env = uniqueEnv("redisdown")
      const sessionId = SessionId.make("sess_redisdown1")
      const stores = Layer.mergeAll(redisLiveLayer(env, redis.url), durableOn(env, testPostgres))
      yield* Effect.gen(function*() {
        const scope = yield* Scope.make()
        const session = yield* startSession(sessionId).pipe(Scope.provide(scope))
        const at200 = yield* Runner.run(session, session.initialState, { campaign, market, targetLoops: 200 })
        assert.strictEqual((yield* session.health).liveTier, "ok")

        yield* redis.stop
        const at400 = yield* Runner.run(session, at200, { campaign, market, targetLoops: 400 })
        assert.strictEqual((yield* session.health).liveTier, "degraded")
        const during = (yield* (yield* SnapshotStore).listSnapshots(sessionId, 1_000)).filter((s) => s.loopCount > 200 && s.loopCount <= 400)
        assert.strictEqual(during.length, 200, "a durable snapshot for every loop while the live tier was down")

        yield* redis.start
        // The client reconnects on its own backoff (real time, up to 2 s between attempts): go on
        // trading, a loop at a time, until the session has found the live tier again (bounded, so
        // a session that never re-syncs fails).
        let state = at400
        const deadline = Date.now() + 30_000
        while ((yield* session.health).liveTier === "degraded" && Date.now() < deadline) {
          state = yield* Runner.run(session, state, { campaign, market, targetLoops: state.session.loopCount + 1, pace: true })
        }
        assert.strictEqual((yield* session.health).liveTier, "ok", "the live tier re-synced")
        const loops = state.session.loopCount + 100
        const atEnd = yield* Runner.run(session, state, { campaign, market, targetLoops: loops })
        assert.strictEqual((yield* session.health).liveTier, "ok")
        assert.deepStrictEqual(Option.getOrThrow(yield* (yield* LiveStateStore).load(sessionId)).state, withoutNegativeZero(atEnd))
        // The live tier's outage changed nothing about the trading.
        assert.deepStrictEqual(storedForm(atEnd), storedForm(uninterruptedRun({ sessionId, campaign, seed, loops, tickMs: market.tickMs, status: "running" })))
        yield* Scope.close(scope, Exit.void)
      }).pipe(Effect.provide(stores))
    }), { timeout: 120_000 })

  it.live("PostgreSQL down mid-run: no new trade opens, the snapshot waits, and is written when the database is back; nothing is lost", () =>
    Effect.gen(function*() {
      const { proxy, url } = yield* testPostgresProxy
      const env = uniqueEnv("pgdown")
      const sessionId = SessionId.make("sess_pgdown0001")
      const stores = Layer.mergeAll(
        redisLiveLayer(env, testRedisUrl),
        durableOn(env, postgresLayer(url, { maxConnections: 2 }))
      )
      yield* Effect.gen(function*() {
        const scope = yield* Scope.make()
        const session = yield* startSession(sessionId).pipe(Scope.provide(scope))
        const at200 = yield* Runner.run(session, session.initialState, { campaign, market, targetLoops: 200 })

        yield* proxy.cut
        let refusedForHealth = 0
        const at600 = yield* Runner.run(session, at200, {
          campaign,
          market,
          targetLoops: 600,
          onLoop: (_state, events) =>
            Effect.sync(() => {
              refusedForHealth += events.rejected.filter((r) => r.reason === "persistence_unhealthy").length
            })
        })
        const health = yield* session.health
        assert.strictEqual(health.durableTier, "degraded")
        assert.isNotNull(health.pendingSnapshot)
        assert.isFalse(yield* session.canTrade)
        assert.isAbove(refusedForHealth, 0, "the market offered trades during the outage, and the gate refused them")
        assert.strictEqual(at600.metrics.tradesOpened, at200.metrics.tradesOpened, "no trade opened while nothing could be made durable")

        yield* proxy.restore
        // The session retries on its own backoff (real time): go on trading, a few loops at a time,
        // until it has found the database again (bounded, so a session that never recovers fails).
        let state = at600
        const deadline = Date.now() + 30_000
        while ((yield* session.health).durableTier === "degraded" && Date.now() < deadline) {
          state = yield* Runner.run(session, state, { campaign, market, targetLoops: state.session.loopCount + 1, pace: true })
        }
        const at800 = yield* Runner.run(session, state, { campaign, market, targetLoops: state.session.loopCount + 200 })
        assert.deepStrictEqual(yield* session.health, { liveTier: "ok", durableTier: "ok", pendingSnapshot: null, inDoubt: null })
        assert.isTrue(yield* session.canTrade)
        assert.isAbove(at800.metrics.tradesOpened, at600.metrics.tradesOpened, "trading resumed")
        const written = yield* (yield* SnapshotStore).listSnapshots(sessionId, 10_000)
        assert.isTrue(written.some((s) => s.loopCount >= 600 && s.loopCount <= state.session.loopCount), "the pending snapshot was written")
        yield* Scope.close(scope, Exit.void)
        const stopped = Option.getOrThrow(yield* (yield* SnapshotStore).loadLatest(sessionId))
        assert.deepStrictEqual(stopped.snapshot.state, withoutNegativeZero({ ...at800, session: { ...at800.session, status: "stopped" } }))
      }).pipe(Effect.provide(stores))
    }), { timeout: 120_000 })
})
