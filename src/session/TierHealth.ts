/**
 * TierHealth: how a session's two tiers are doing, as its writes find them,
 * and when the durable tier is tried again after it stopped answering.
 *
 * - The live tier is `degraded` from a write it did not take until one it
 *   takes (the session snapshots every loop meanwhile).
 * - The durable tier is `degraded` from a write it did not answer until one
 *   it takes. Meanwhile a snapshot is kept pending (at least a periodic one,
 *   so that the tier is tried again even when nothing else asks for a
 *   snapshot), and the next try waits out a backoff: exponential from 100 ms,
 *   at most 5 s apart (a `Schedule`, stepped by the tries themselves).
 * - A snapshot that opened a trade and whose reply was lost is `inDoubt`
 *   until its outcome is known.
 *
 * Each change says whether it was a transition, for the session to log it
 * once.
 */
import { Clock, Duration, Effect, Option, Ref, Schedule } from "effect"
import type { SnapshotType } from "../domain/Snapshot.ts"

/** How the tiers are doing, as the session's last writes found them. */
export interface PersistenceHealth {
  /** `degraded`: the live tier did not take the last write; the session snapshots every loop instead, and re-syncs it when back. */
  readonly liveTier: "ok" | "degraded"
  /** `degraded`: the durable tier did not answer; no trade opens, and a snapshot is pending until it is back. */
  readonly durableTier: "ok" | "degraded"
  /** The snapshot waiting for the durable tier, if any. */
  readonly pendingSnapshot: SnapshotType | null
  /** A snapshot that opened a trade, sent but not acknowledged: the runner waits until its outcome is known. */
  readonly inDoubt: { readonly sequence: number; readonly loopCount: number } | null
}

/** The tiers' health and the durable tier's backoff. */
export interface TierHealth {
  readonly current: Effect.Effect<PersistenceHealth>
  /** The live tier took a write; `true` when it had been degraded (it is re-synced). */
  readonly liveTook: Effect.Effect<boolean>
  /** The live tier did not take a write; `true` when it had been fine until now. */
  readonly liveRefused: Effect.Effect<boolean>
  /** Whether the durable tier is to be tried now: always while it answers, after the backoff when it does not. */
  readonly durableDue: Effect.Effect<boolean>
  /** The durable tier did not answer: `pending` (at least periodic) waits for the next try; `true` when it had been fine. */
  readonly durableAway: (pending: SnapshotType | null) => Effect.Effect<boolean>
  /** The durable tier took a snapshot of the newest state: nothing is pending or in doubt; `true` when it had been away. */
  readonly durableBack: Effect.Effect<boolean>
  /** Keeps `pending` for the next try of the durable tier. */
  readonly keepPending: (pending: SnapshotType | null) => Effect.Effect<void>
  /** A trade snapshot is in doubt (the durable tier counts as away until its outcome is known). */
  readonly inDoubt: (doubt: { readonly sequence: number; readonly loopCount: number }) => Effect.Effect<void>
}

/** The snapshot to take when two are asked for: a trade snapshot wins over any other. */
export const strongest = (a: SnapshotType | null, b: SnapshotType | null): SnapshotType | null =>
  a === "trade" || b === "trade" ? "trade" : a ?? b

/** The wait between tries of a durable tier that does not answer: doubling from 100 ms, at most 5 s. */
export const durableBackoff = Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("5 seconds")])

const maxBackoff = Duration.seconds(5)

/** Fresh health: both tiers fine. */
export const make = Effect.gen(function*() {
  const health = yield* Ref.make<PersistenceHealth>({ liveTier: "ok", durableTier: "ok", pendingSnapshot: null, inDoubt: null })
  /** The backoff of the current outage (stepped at each failed try), and when the next try is due. */
  const outage = yield* Ref.make<Option.Option<{ readonly nextDelay: Effect.Effect<Duration.Duration>; readonly dueAt: number }>>(
    Option.none()
  )

  /** A fresh backoff: each run of the effect it gives is the wait before the next try. */
  const stepper = Effect.map(Schedule.toStep(durableBackoff), (step) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      step(now, undefined).pipe(
        Effect.map(([, delay]) => delay),
        Effect.orElseSucceed(() => maxBackoff)
      )))

  const liveSet = (to: "ok" | "degraded") =>
    Ref.modify(health, (h) => [h.liveTier !== to, { ...h, liveTier: to }] as const)

  const durableAway = (pending: SnapshotType | null) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const known = yield* Ref.get(outage)
      // A new outage starts the backoff over; each failed try steps it.
      const nextDelay = Option.isSome(known) ? known.value.nextDelay : yield* stepper
      const delay = yield* nextDelay
      yield* Ref.set(outage, Option.some({ nextDelay, dueAt: now + Duration.toMillis(delay) }))
      return yield* Ref.modify(health, (h) => [
        h.durableTier === "ok",
        { ...h, durableTier: "degraded" as const, pendingSnapshot: strongest(pending, "periodic") }
      ] as const)
    })

  return {
    current: Ref.get(health),
    liveTook: liveSet("ok"),
    liveRefused: liveSet("degraded"),
    durableDue: Effect.gen(function*() {
      const current = yield* Ref.get(outage)
      return Option.isNone(current) || (yield* Clock.currentTimeMillis) >= current.value.dueAt
    }),
    durableAway,
    durableBack: Effect.gen(function*() {
      yield* Ref.set(outage, Option.none())
      return yield* Ref.modify(health, (h) => [
        h.durableTier === "degraded",
        { ...h, durableTier: "ok" as const, pendingSnapshot: null, inDoubt: null }
      ] as const)
    }),
    keepPending: (pending) => Ref.update(health, (h) => ({ ...h, pendingSnapshot: pending })),
    inDoubt: (doubt) => Ref.update(health, (h) => ({ ...h, durableTier: "degraded" as const, inDoubt: doubt }))
  } satisfies TierHealth
})
