/**
 * PersistenceMetrics: what operators watch, as Effect metrics.
 *
 * Recorded by the session (live saves, snapshots, failures, snapshot age, lag
 * between the tiers) and by the restore pipeline (outcomes, skipped
 * candidates). Exported by `MetricsExporter` when configured; readable with
 * `Metric.value` in tests and programs.
 *
 * @module
 */
import { Duration, Metric } from "effect"

/** Time of a live-tier save, in milliseconds. */
export const liveSaveDuration = Metric.timer("arbitrage_state_live_save_duration", {
  description: "Time of a live-tier (Redis) save"
})

/** Time of a durable snapshot, in milliseconds. */
export const snapshotDuration = Metric.timer("arbitrage_state_snapshot_duration", {
  description: "Time of a durable snapshot (one PostgreSQL transaction)"
})

/** Payload bytes written, by tier. */
export const bytesWritten = Metric.counter("arbitrage_state_bytes_written_total", {
  description: "Payload bytes written, by tier",
  incremental: true
})

/** Writes that failed, by tier and reason (Unreachable, Fenced, ...). */
export const failedWrites = Metric.counter("arbitrage_state_failed_writes_total", {
  description: "Writes that failed, by tier and reason",
  incremental: true
})

/** Age of the newest durable snapshot of a session, in seconds, as of its last loop. */
export const durableSnapshotAge = Metric.gauge("arbitrage_state_durable_snapshot_age_seconds", {
  description: "Age of the newest durable snapshot of the session"
})

/** Loops the live tier is ahead of the durable tier. */
export const tierLagLoops = Metric.gauge("arbitrage_state_tier_lag_loops", {
  description: "Loops the live state is ahead of the newest durable snapshot"
})

/** Restores, by outcome (restored, fresh, unrecoverable) and source. */
export const restores = Metric.counter("arbitrage_state_restores_total", {
  description: "Restores by outcome and source",
  incremental: true
})

/** Candidates a restore passed over, by source and kind (invalid, superseded, unreachable). */
export const skippedCandidates = Metric.counter("arbitrage_state_restore_skipped_total", {
  description: "Restore candidates passed over, by source and kind",
  incremental: true
})

/** Records `duration` in `timer`. */
export const recordDuration = (timer: typeof liveSaveDuration, millis: number) =>
  Metric.update(timer, Duration.millis(millis))

/** Adds `count` to `counter` under `attributes`. */
export const count = (counter: typeof bytesWritten, count: number, attributes: Record<string, string>) =>
  Metric.update(Metric.withAttributes(counter, attributes), count)

/** Sets `gauge` for one session. */
export const setForSession = (gauge: typeof durableSnapshotAge, sessionId: string, value: number) =>
  Metric.update(Metric.withAttributes(gauge, { session: sessionId }), value)

/** Records a failed write of `tier`. */
export const recordFailure = (tier: "live" | "durable", reason: string) =>
  count(failedWrites, 1, { tier, reason })

