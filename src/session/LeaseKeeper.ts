/**
 * LeaseKeeper: holds a running session's lease.
 *
 * The lease lives in a `Ref` (each renewal replaces it). A fiber renews it a
 * third of its life apart, for as long as the session's scope is open; a
 * write that must not be made by a runner that lost the session asks first
 * (`confirm`). Once another runner has taken the session, the keeper says so
 * for good: `held` fails with `LeaseLost`, and the session stops writing. A
 * store that does not answer is not a loss: the renewal is tried again, and
 * the stores themselves refuse a token whose lease ran out meanwhile.
 */
import { Duration, Effect, Ref, Schedule, type Scope } from "effect"
import { type Lease, type LeaseError, leaseLost, leaseTtlMillis, SessionLease } from "../store/SessionLease.ts"

/** What the durable tier said of the lease: still ours (extended), no answer, or taken by another runner. */
export type LeaseStanding = "confirmed" | "unconfirmed" | "lost"

/** A session's lease, kept. */
export interface LeaseKeeper {
  /** The lease as last granted or renewed. */
  readonly lease: Effect.Effect<Lease>
  /** Whether another runner took the session (this one no longer writes). */
  readonly lost: Effect.Effect<boolean>
  /** Asks the durable tier to extend the lease now (a lease that ran out but that nobody took is extended). */
  readonly confirm: Effect.Effect<LeaseStanding>
  /** Fails with `LeaseLost` once the lease is lost. */
  readonly held: Effect.Effect<void, LeaseError>
  /** Records a loss found otherwise (the stores refused this runner's token), and fails with it. */
  readonly lose: (why: string) => Effect.Effect<never, LeaseError>
}

/** Keeps `lease` for the life of the scope, renewing it for `ttl` a third of `ttl` apart. */
export const keep = Effect.fnUntraced(function*(lease: Lease, ttl: Duration.Input): Effect.fn.Return<
  LeaseKeeper,
  never,
  SessionLease | Scope.Scope
> {
  const leases = yield* SessionLease
  const current = yield* Ref.make(lease)
  const loss = yield* Ref.make<LeaseError | undefined>(undefined)

  /** Records the first loss (later ones say nothing new), logged once. */
  const record = (error: LeaseError) =>
    Effect.gen(function*() {
      const known = yield* Ref.get(loss)
      if (known !== undefined) return known
      yield* Ref.set(loss, error)
      yield* Effect.logWarning(`${error.message}; this runner stops writing`)
      return error
    })

  const lose = (why: string) => Effect.flatMap(record(leaseLost(lease, why)), Effect.fail)

  const confirm = Effect.gen(function*() {
    if ((yield* Ref.get(loss)) !== undefined) return "lost" as const
    const renewed = yield* Effect.result(leases.renew(yield* Ref.get(current), ttl))
    if (renewed._tag === "Success") {
      yield* Ref.set(current, renewed.success)
      return "confirmed" as const
    }
    if (renewed.failure._tag === "StoreError") return "unconfirmed" as const
    yield* record(renewed.failure)
    return "lost" as const
  })

  const ttlMs = leaseTtlMillis(ttl)
  yield* Effect.forkScoped(
    Effect.gen(function*() {
      if ((yield* confirm) === "lost") return yield* Effect.interrupt
    }).pipe(Effect.repeat(Schedule.spaced(Duration.millis(Math.max(10, Math.floor(ttlMs / 3))))))
  )

  return {
    lease: Ref.get(current),
    lost: Effect.map(Ref.get(loss), (error) => error !== undefined),
    confirm,
    held: Effect.flatMap(Ref.get(loss), (error) => (error === undefined ? Effect.void : Effect.fail(error))),
    lose
  } satisfies LeaseKeeper
})
