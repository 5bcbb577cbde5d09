/**
 * CrashPoint: for tests, a live run that kills itself with SIGKILL at a
 * chosen stage of an order's life (`ARBITRAGE_STATE_CRASH_AT=STAGE` or
 * `STAGE:N`, the Nth time it reaches STAGE), so that a test can prove what
 * survives a crash at exactly that moment: before a send, after a send
 * before its answer is recorded, after a fill is seen before it is
 * recorded, during a cancel, during reconciliation. Without the setting it
 * does nothing.
 *
 * @module
 */
import { Effect } from "effect"

/** What `LiveRunner`'s `onStage` is told, killing the process at the stage `spec` names. */
export const crashAt = (spec: string | undefined) => {
  if (spec === undefined) return () => Effect.void
  const [stage, nth] = spec.split(":")
  const at = Math.max(1, Number(nth ?? "1") || 1)
  let reached = 0
  return (name: string): Effect.Effect<void> =>
    Effect.sync(() => {
      if (name !== stage || ++reached !== at) return
      process.kill(process.pid, "SIGKILL")
    })
}
