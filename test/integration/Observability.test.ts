/**
 * What operators see: the metrics a session and a restore record, the
 * Prometheus exporter, and `cli health` against the real servers.
 */
import { sessionOptions } from "../support/Sessions.ts"
import { PgClient } from "@effect/sql-pg"
import { expectRestored } from "../support/Results.ts"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Metric, Option, Redacted, Scope, Tracer } from "effect"
import { randomInt } from "node:crypto"
import { Env, SessionId } from "../../src/domain/Ids.ts"
import * as MetricsExporter from "../../src/observability/MetricsExporter.ts"
import * as Metrics from "../../src/observability/PersistenceMetrics.ts"
import * as Restore from "../../src/recovery/Restore.ts"
import { newSessionState, simulatedStart } from "../../src/runner/ArbitrageStrategy.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import * as Runner from "../../src/runner/Runner.ts"
import * as Session from "../../src/session/Session.ts"
import * as Persistence from "../../src/store/Persistence.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import { testPostgres } from "../support/Backings.ts"
import { runCli, runCliUntil } from "../support/Cli.ts"
import { freePort } from "../support/Ports.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"

const campaign = campaigns.aggressive!

describe("metrics", () => {
  it.effect("a session records its saves, snapshots, bytes and gauges; a restore records its outcome and what it skipped", () =>
    Effect.gen(function*() {
      const liveBefore = (yield* Metric.value(Metrics.liveSaveDuration)).count
      const snapshotsBefore = (yield* Metric.value(Metrics.snapshotDuration)).count
      const bytesBefore = (yield* Metric.value(Metric.withAttributes(Metrics.bytesWritten, { tier: "live" }))).count
      const sessionId = SessionId.make("sess_metrics01")
      const scope = yield* Scope.make()
      const session = yield* Session.initialize(sessionOptions("CLEAN_RESET", campaign, sessionId)).pipe(Scope.provide(scope))
      const final = yield* Runner.run(session, session.initialState, { campaign, market: { seed: 3, tickMs: 1000 }, targetLoops: 300 })
      assert.isAbove(final.metrics.tradesOpened, 0)
      assert.isAtLeast((yield* Metric.value(Metrics.liveSaveDuration)).count - liveBefore, 300)
      assert.isAtLeast((yield* Metric.value(Metrics.snapshotDuration)).count - snapshotsBefore, final.metrics.tradesOpened)
      assert.isAbove((yield* Metric.value(Metric.withAttributes(Metrics.bytesWritten, { tier: "live" }))).count, bytesBefore)
      const lag = yield* Metric.value(Metric.withAttributes(Metrics.tierLagLoops, { session: sessionId }))
      assert.isAtLeast(lag.value, 0)
      assert.isAtMost(lag.value, 300)
      yield* Scope.close(scope, Exit.void)

      const restoredBefore = (yield* Metric.value(Metric.withAttributes(Metrics.restores, { outcome: "restored", source: "snapshot" }))).count
      const supersededBefore = (yield* Metric.value(Metric.withAttributes(Metrics.skippedCandidates, { source: "live", kind: "superseded" }))).count
      const report = expectRestored(yield* Restore.run(sessionId))
      assert.strictEqual(report.source, "snapshot")
      assert.strictEqual((yield* Metric.value(Metric.withAttributes(Metrics.restores, { outcome: "restored", source: "snapshot" }))).count, restoredBefore + 1)
      assert.strictEqual((yield* Metric.value(Metric.withAttributes(Metrics.skippedCandidates, { source: "live", kind: "superseded" }))).count, supersededBefore + 1)
    }).pipe(Effect.provide(Persistence.layerMemory(Env.make("metrics")))))

  it.live("the Prometheus exporter serves the metrics as text", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      yield* Restore.run(SessionId.make("sess_exported1")).pipe(Effect.provide(Persistence.layerMemory(Env.make("export"))))
      const body = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text())).pipe(
        Effect.provide(MetricsExporter.layerPrometheus({ port }))
      )
      assert.include(body, "arbitrage_state_restores_total")
      assert.match(body, /arbitrage_state_restores_total\{[^}]*outcome="fresh"[^}]*\} \d+/)
    }))
})

describe("spans", () => {
  it.effect("a session's store operations and a restore's steps are spans, nested under the restore", () =>
    Effect.gen(function*() {
      const spans: Array<Tracer.NativeSpan> = []
      const tracer = Tracer.make({
        span(options) {
          const span = new Tracer.NativeSpan(options)
          spans.push(span)
          return span
        }
      })
      const sessionId = SessionId.make("sess_spans0001")
      yield* Effect.gen(function*() {
        const scope = yield* Scope.make()
        const session = yield* Session.initialize(sessionOptions("CLEAN_RESET", campaign, sessionId)).pipe(Scope.provide(scope))
        yield* Runner.run(session, session.initialState, { campaign, market: { seed: 3, tickMs: 1000 }, targetLoops: 50 })
        yield* Scope.close(scope, Exit.void)
        yield* Restore.run(sessionId)
      }).pipe(Effect.provideService(Tracer.Tracer, tracer))
      const names = new Set(spans.map((span) => span.name))
      for (const name of [
        "Session.initialize", "SessionLease.acquire", "LiveStateStore.save", "SnapshotStore.save",
        "Restore.run", "Restore.liveCandidate", "Restore.newestSnapshot", "LiveStateStore.read", "SnapshotStore.loadRecent"
      ]) assert.isTrue(names.has(name), `no span ${name}: ${[...names].join(", ")}`)
      const restore = spans.find((span) => span.name === "Restore.run")!
      const load = spans.find((span) => span.name === "LiveStateStore.read")!
      const parentOf = (span: Tracer.NativeSpan) => Option.getOrUndefined(span.parent)?.spanId
      assert.strictEqual(parentOf(spans.find((span) => span.spanId === parentOf(load))!), restore.spanId)
    }).pipe(Effect.provide(Persistence.layerFrom({
      databaseUrl: Option.some(testDatabaseUrl),
      redisUrl: Option.some(testRedisUrl),
      redisClusterNodes: [],
      redisCaFile: Option.none(),
      env: uniqueEnv("spans"),
      snapshotInterval: Duration.minutes(5),
      pgMaxConnections: 2,
      pgliteDataDir: "",
      migrateOnStart: true,
      leaseTtl: Duration.seconds(15),
      protection: Option.none()
    }))), { timeout: 60_000 })
})

describe("cli health", () => {
  const env = () => ({ DATABASE_URL: Redacted.value(testDatabaseUrl), REDIS_URL: Redacted.value(testRedisUrl), STATE_ENV: uniqueEnv("health") })

  it("names the lease holder of a running session and the sessions overdue for a snapshot", async () => {
    const variables = env()
    // An overdue session: running, its newest snapshot recorded an hour ago.
    const overdue = SessionId.make(`sess_overdue${randomInt(1e6).toString(36)}`)
    await Effect.runPromise(Effect.gen(function*() {
      const store = yield* SnapshotStore
      const state = newSessionState({ sessionId: overdue, campaign, startTime: simulatedStart })
      const saved = yield* store.save({ sessionId: overdue, snapshotType: "periodic", sequence: 1, fencingToken: 0, createdAt: 0 }, state)
      const sql = yield* PgClient.PgClient
      yield* sql`UPDATE session_snapshots SET recorded_at = now() - interval '1 hour' WHERE snapshot_id = ${saved.snapshotId}`
    }).pipe(Effect.provide(Persistence.durableOn(Env.make(variables.STATE_ENV), testPostgres)), Effect.provide(testPostgres)))

    const live = `sess_health${randomInt(1e6).toString(36)}`
    let report: any
    const runner = await runCliUntil(
      ["run", "--mode", "clean", "--session", live, "--loops", "100000", "--seed", "1", "--tick-ms", "20", "--pace", "--json", "--status-every", "1"],
      variables,
      (line) => {
        if (!line.startsWith("{\"loop\":")) return false
        const health = runCli(["health", "--json"], variables)
        assert.strictEqual(health.status, 0, health.stderr)
        report = JSON.parse(health.stdout.trim())
        return true
      }
    )
    assert.isTrue(runner.killed)
    assert.isTrue(report.liveTier.reachable)
    assert.isTrue(report.durableTier.reachable)
    assert.isAtLeast(report.durableTier.latencyMs, 0)
    assert.isTrue(report.leases.some((l: { sessionId: string }) => l.sessionId === live), JSON.stringify(report.leases))
    assert.deepStrictEqual(report.staleSessions.map((s: { sessionId: string }) => s.sessionId), [overdue])
  }, 60_000)

  it("an unreachable Redis: exit 4, the durable tier still reported", () => {
    const run = runCli(["health", "--json"], { ...env(), REDIS_URL: "redis://127.0.0.1:1/0" })
    assert.strictEqual(run.status, 4)
    const report = JSON.parse(run.stdout.trim())
    assert.isFalse(report.liveTier.reachable)
    assert.include(report.liveTier.error, "ECONNREFUSED")
    assert.isTrue(report.durableTier.reachable)
  })
})
