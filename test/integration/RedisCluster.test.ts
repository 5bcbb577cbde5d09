/**
 * The live tier on a real Redis Cluster (three masters started from the
 * installed redis-server): the live-tier contract, and a crash and resume.
 * A session's keys share one hash slot (the session id is a hash tag), so
 * its atomic scripts run on a cluster as on one server.
 */
import { sessionOptions } from "../support/Sessions.ts"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Redacted, Scope } from "effect"
import { spawnSync } from "node:child_process"
import type { Env } from "../../src/domain/Ids.ts"
import { SessionId } from "../../src/domain/Ids.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import * as Runner from "../../src/runner/Runner.ts"
import * as Session from "../../src/session/Session.ts"
import { LiveStateStore } from "../../src/store/LiveStateStore.ts"
import { durableOn } from "../../src/store/Persistence.ts"
import * as RedisClientModule from "../../src/store/RedisClient.ts"
import * as RedisLiveStateStore from "../../src/store/RedisLiveStateStore.ts"
import { sectionKey } from "../../src/store/StateKeys.ts"
import { liveStateStoreContract } from "../contract/LiveStateStoreContract.ts"
import { type LiveBacking, redisBackingOn, testPostgres } from "../support/Backings.ts"
import { sharedRedisCluster, stopSharedRedisCluster } from "../support/PrivateRedisCluster.ts"
import { withoutNegativeZero } from "../support/Results.ts"
import { runCli } from "../support/Cli.ts"
import { testDatabaseUrl, uniqueEnv } from "../support/Services.ts"

/** A connection to the cluster. */
const clusterClient = Layer.unwrap(Effect.map(sharedRedisCluster, ({ nodes }) =>
  RedisClientModule.layer({ url: nodes[0]!, clusterNodes: nodes })))

const clusterLive: LiveBacking = {
  name: "redis-cluster",
  layer: (env: Env) => redisBackingOn(env).pipe(Layer.provide(clusterClient))
}

liveStateStoreContract(clusterLive, { propertyRuns: 10 })

afterAll(() => stopSharedRedisCluster())

describe("a session on a redis cluster", () => {
  it.live("crashes and resumes from the cluster's live state; its keys sit in one slot", () =>
    Effect.gen(function*() {
      const { ports } = yield* sharedRedisCluster
      const env = uniqueEnv("cluster")
      const sessionId = SessionId.make("sess_cluster001")
      const campaign = campaigns.balanced!
      const options = sessionOptions("AUTO", campaign, sessionId, { lease: { ttl: "2 seconds" } })
      const stores = Layer.mergeAll(RedisLiveStateStore.layer(env).pipe(Layer.provide(clusterClient)), durableOn(env, testPostgres))
      yield* Effect.gen(function*() {
        const first = yield* Scope.make()
        const a = yield* Session.initialize(options).pipe(Scope.provide(first))
        const crashedAt = yield* Runner.run(a, a.initialState, { campaign, market: { seed: 4, tickMs: 1000 }, targetLoops: 250 })
        yield* Scope.close(first, Exit.fail("killed"))
        const second = yield* Scope.make()
        const b = yield* Session.initialize(options).pipe(Scope.provide(second))
        const origin = b.origin
        assert.strictEqual(origin.kind === "resumed" ? origin.report.source : "", "live")
        assert.deepStrictEqual(b.initialState, withoutNegativeZero(crashedAt))
        assert.deepStrictEqual(Option.getOrThrow(yield* (yield* LiveStateStore).load(sessionId)).state.session.loopCount, 250)
        yield* Scope.close(second, Exit.void)
      }).pipe(Effect.provide(stores))
      const slots = (["session", "positions", "metrics", "riskGuard"] as const).map((section) =>
        spawnSync("redis-cli", ["-p", String(ports[0]), "CLUSTER", "KEYSLOT", sectionKey(env, sessionId, section)], { encoding: "utf8" }).stdout.trim()
      )
      assert.strictEqual(new Set(slots).size, 1)
    }), { timeout: 60_000 })

  it.effect("health on a cluster-only configuration probes the cluster, as every command's stack does", () =>
    Effect.gen(function*() {
      const { nodes } = yield* sharedRedisCluster
      const run = runCli(["health", "--json"], {
        DATABASE_URL: Redacted.value(testDatabaseUrl),
        REDIS_CLUSTER_NODES: nodes.map((node) => Redacted.value(node)).join(","),
        STATE_ENV: uniqueEnv("clusterhealth")
      })
      assert.strictEqual(run.status, 0, run.stderr)
      const report = JSON.parse(run.stdout.trim().split("\n").at(-1)!)
      assert.deepStrictEqual([report.liveTier.kind, report.liveTier.reachable], ["redis-cluster", true])
    }), { timeout: 60_000 })
})
