/**
 * `health`: can each store be reached, how fast, who holds which session,
 * and which running sessions have gone longer without a durable snapshot
 * than the policy allows.
 *
 * Each tier is probed on its own, so an unreachable one is reported rather
 * than hiding the other. Exit 0 when both answer, 4 when one does not.
 */
import { Clock, Console, Duration, Effect, Layer, Option } from "effect"
import { Command } from "effect/cli"
import { persistenceConfig } from "../../config.ts"
import { LiveStateStore } from "../../store/LiveStateStore.ts"
import { layerDurable, layerLive, liveKindOf } from "../../store/Persistence.ts"
import { SessionLease } from "../../store/SessionLease.ts"
import { SnapshotStore } from "../../store/SnapshotStore.ts"
import { ExitCode } from "../ExitCode.ts"
import { jsonFlag, table } from "../Output.ts"

/**
 * A probe's verdict: reachable with the latency of `check` (timed once connected, so the
 * connection's setup is not counted), or not, with the reason.
 */
const probe = <A, E extends { readonly message: string }, R, E2 extends { readonly message: string }>(
  check: Effect.Effect<A, E, R>,
  layer: Layer.Layer<R, E2>
) =>
  Effect.timed(check).pipe(
    Effect.map(([took, value]) => ({ reachable: true as const, latencyMs: +Duration.toMillis(took).toFixed(2), value })),
    Effect.provide(Layer.fresh(layer)),
    Effect.catch((error) => Effect.succeed({ reachable: false as const, error: error.message }))
  )

/** `health`: each store probed on its own; exit 4 when one does not answer. */
export const health = Command.make(
  "health",
  { json: jsonFlag },
  Effect.fn(function*({ json }) {
    // The tiers as every command builds them (the one place that chooses them), never migrating.
    const config = { ...(yield* persistenceConfig), migrateOnStart: false }
    const live = layerLive(config)
    const durable = layerDurable(config)

    const liveTier = yield* probe(Effect.flatMap(LiveStateStore, (store) => store.listSessions()), live)
    const durableTier = yield* probe(
      Effect.gen(function*() {
        const sessions = yield* (yield* SnapshotStore).listSessions()
        const leases = yield* (yield* SessionLease).listLive()
        return { sessions, leases }
      }),
      durable
    )
    const now = yield* Clock.currentTimeMillis
    const allowedMs = Duration.toMillis(config.snapshotInterval) * 1.1
    const stale = durableTier.reachable
      ? durableTier.value.sessions
        .filter((s) => s.status === "running" && now - s.recordedAt > allowedMs)
        .map((s) => ({ sessionId: s.sessionId, lastSnapshotAt: new Date(s.recordedAt).toISOString(), ageSeconds: Math.round((now - s.recordedAt) / 1000) }))
      : []
    const leases = durableTier.reachable
      ? durableTier.value.leases.map((l) => ({ sessionId: l.sessionId, holder: l.holder, fencingToken: l.fencingToken, expiresAt: new Date(l.expiresAt).toISOString() }))
      : []
    const report = {
      env: config.env,
      liveTier: liveTier.reachable
        ? { kind: liveKindOf(config), reachable: true, latencyMs: liveTier.latencyMs }
        : { reachable: false, error: liveTier.error },
      durableTier: durableTier.reachable
        ? { kind: Option.isSome(config.databaseUrl) ? "postgres" : "embedded", reachable: true, latencyMs: durableTier.latencyMs }
        : { reachable: false, error: durableTier.error },
      leases,
      staleSessions: stale,
      snapshotIntervalSeconds: Duration.toSeconds(config.snapshotInterval)
    }
    if (json) yield* Console.log(JSON.stringify(report))
    else {
      yield* Console.log([
        `env ${report.env}`,
        `live tier     ${liveTier.reachable ? `ok (${liveKindOf(config)}), ${liveTier.latencyMs} ms` : `UNREACHABLE: ${liveTier.error}`}`,
        `durable tier  ${durableTier.reachable ? `ok (${Option.isSome(config.databaseUrl) ? "postgres" : "embedded, commits fsynced to disk"}), ${durableTier.latencyMs} ms` : `UNREACHABLE: ${durableTier.error}`}`,
        `leases        ${leases.length === 0 ? "none live" : ""}`,
        ...(leases.length === 0 ? [] : [table(["session", "holder", "token", "expires"], leases.map((l) => [l.sessionId, l.holder, String(l.fencingToken), l.expiresAt]))]),
        `stale         ${stale.length === 0 ? "none" : stale.map((s) => `${s.sessionId} (${s.ageSeconds} s)`).join(", ")}`
      ].join("\n"))
    }
    if (!liveTier.reachable || !durableTier.reachable) yield* ExitCode.set(ExitCode.storeUnreachable)
  })
).pipe(Command.withDescription("Reachability and latency of each store, lease holders, sessions overdue for a snapshot"))
