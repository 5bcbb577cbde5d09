/**
 * SessionLease: at most one runner writes a session.
 *
 * A runner acquires the lease of its session before touching it and renews
 * it while it runs. Every acquisition increases the session's fencing token,
 * which never decreases; both stores refuse writes that carry an older token
 * than the one they know (checked by the storage itself: inside the SQL
 * transaction, and by a Redis script), so a runner that lost its lease
 * (paused past expiry, partitioned) cannot write even before it notices.
 * A dead runner's lease expires, and the session can then be resumed.
 *
 * @module
 */
import { Clock, Context, Duration, Effect, Layer, Option, Schedule, Schema } from "effect"
import type { Env } from "../domain/Ids.ts"
import { SessionId } from "../domain/Ids.ts"
import type { StoreError, StoreKind } from "./StoreError.ts"

/** A held lease: who holds which session, with which token, until when. */
export interface Lease {
  readonly sessionId: SessionId
  readonly holder: string
  readonly fencingToken: number
  /** Epoch ms of the store's clock. */
  readonly expiresAt: number
}

/** Another runner holds the session's lease. */
export class SessionHeld extends Schema.TaggedError<SessionHeld>()("SessionHeld", {
  sessionId: Schema.String,
  holder: Schema.String,
  expiresAt: Schema.Number,
  message: Schema.String
}) {}

/** The lease expired or was taken over: the holder must stop writing. */
export class LeaseLost extends Schema.TaggedError<LeaseLost>()("LeaseLost", {
  sessionId: Schema.String,
  message: Schema.String
}) {}

/** A lease could not be had or kept. */
export class LeaseError extends Schema.TaggedError<LeaseError>()("LeaseError", {
  reason: Schema.Union([SessionHeld, LeaseLost])
}) {
  override get message(): string {
    return this.reason.message
  }
}

/** The lease service of one env. */
export class SessionLease extends Context.Service<SessionLease, {
  readonly env: Env
  readonly kind: StoreKind
  /**
   * Takes the lease if it is free or expired (or already ours); the token is one above the last
   * one, and above `options.above` when given (a fence the live tier holds beyond the lease's tokens).
   */
  readonly acquire: (
    sessionId: SessionId,
    holder: string,
    ttl: Duration.Input,
    options?: AcquireOptions
  ) => Effect.Effect<Lease, LeaseError | StoreError>
  /**
   * Extends the lease; `LeaseLost` when another holder took it. A lease past its expiry that nobody
   * took is extended (its token is still the newest, so no one else has written).
   */
  readonly renew: (lease: Lease, ttl: Duration.Input) => Effect.Effect<Lease, LeaseError | StoreError>
  /** Gives the lease up (it expires now; the token stays, so the next one is higher). */
  readonly release: (lease: Lease) => Effect.Effect<void, StoreError>
  /** The session's lease as the store sees it, live or expired. */
  readonly current: (sessionId: SessionId) => Effect.Effect<Option.Option<Lease>, StoreError>
  /** The leases of the env that are live now (who runs what). */
  readonly listLive: () => Effect.Effect<ReadonlyArray<Lease>, StoreError>
}>()("arbitrage-state/store/SessionLease") {}

/** How a lease is taken. */
export interface AcquireOptions {
  /** The new token must be above this one. */
  readonly above?: number
}

/** The failure of an acquisition the lease `held` refused. */
export const sessionHeld = (sessionId: SessionId, held: { readonly holder: string; readonly expiresAt: number }) =>
  new LeaseError({
    reason: new SessionHeld({
      sessionId,
      holder: held.holder,
      expiresAt: held.expiresAt,
      message: `${sessionId} is held by runner ${held.holder} until ${new Date(held.expiresAt).toISOString()}`
    })
  })

/** The failure of a renewal of a lease that is no longer ours. */
export const leaseLost = (lease: Lease, why: string) =>
  new LeaseError({ reason: new LeaseLost({ sessionId: lease.sessionId, message: `lease of ${lease.sessionId} lost: ${why}` }) })

/**
 * Tries `acquire` until the lease is free, for at most `wait` (a dead runner's lease expiring).
 * `onWait` is told once, when the first attempt finds the lease held and there is time to wait:
 * who holds it and until when, for the operator watching a runner that seems to do nothing.
 */
export const acquireWaiting = (
  leases: SessionLease["Service"],
  sessionId: SessionId,
  holder: string,
  ttl: Duration.Input,
  wait: Duration.Input,
  onWait?: (held: SessionHeld) => Effect.Effect<void>
) => {
  const held = (error: LeaseError | StoreError): error is LeaseError & { readonly reason: SessionHeld } =>
    error._tag === "LeaseError" && error.reason._tag === "SessionHeld"
  const acquire = leases.acquire(sessionId, holder, ttl)
  const retried = acquire.pipe(
    Effect.retry({ while: held, schedule: Schedule.spaced("100 millis").pipe(Schedule.upTo({ duration: wait })) })
  )
  if (onWait === undefined || Duration.isZero(Duration.fromInputUnsafe(wait))) return retried
  return acquire.pipe(
    Effect.catchIf(held, (error) => onWait(error.reason).pipe(Effect.andThen(retried)))
  )
}

/** A lease's time to live in whole milliseconds (at least 1), as every backing and the renewal schedule count it. */
export const leaseTtlMillis = (ttl: Duration.Input): number => Math.max(1, Math.round(Duration.toMillis(Duration.fromInputUnsafe(ttl))))

/** What the memory backing keeps per session: shared with the memory snapshot store, which checks it. */
export type MemoryLeases = Map<string, { holder: string; fencingToken: number; expiresAt: number }>

const isSessionId = Schema.is(SessionId)

/** Leases kept in this process's memory. */
export const makeMemory = (env: Env, leases: MemoryLeases = new Map()): SessionLease["Service"] => {
  return SessionLease.of({
    env,
    kind: "memory",
    acquire: Effect.fnUntraced(function*(sessionId, holder, ttl, options = {}) {
      const now = yield* Clock.currentTimeMillis
      const held = leases.get(sessionId)
      if (held !== undefined && held.expiresAt > now && held.holder !== holder) return yield* sessionHeld(sessionId, held)
      const fencingToken = Math.max((held?.fencingToken ?? 0), options.above ?? 0) + 1
      const lease = { holder, fencingToken, expiresAt: now + leaseTtlMillis(ttl) }
      leases.set(sessionId, lease)
      return { sessionId, ...lease }
    }),
    renew: Effect.fnUntraced(function*(lease, ttl) {
      const now = yield* Clock.currentTimeMillis
      const held = leases.get(lease.sessionId)
      if (held === undefined || held.fencingToken !== lease.fencingToken || held.holder !== lease.holder) {
        return yield* leaseLost(
          lease,
          held === undefined ? "it is gone" : `runner ${held.holder} took the session (token ${held.fencingToken})`
        )
      }
      const renewed = { ...held, expiresAt: now + leaseTtlMillis(ttl) }
      leases.set(lease.sessionId, renewed)
      return { ...lease, expiresAt: renewed.expiresAt }
    }),
    release: (lease) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          const held = leases.get(lease.sessionId)
          if (held !== undefined && held.fencingToken === lease.fencingToken) leases.set(lease.sessionId, { ...held, expiresAt: now })
        })),
    current: (sessionId) =>
      Effect.sync(() => Option.map(Option.fromNullishOr(leases.get(sessionId)), (held) => ({ sessionId, ...held }))),
    listLive: () =>
      Effect.map(Clock.currentTimeMillis, (now) =>
        [...leases.entries()].flatMap(([sessionId, held]) =>
          held.expiresAt > now && isSessionId(sessionId) ? [{ sessionId, ...held }] : []
        ))
  })
}

/** The memory backing for `env`. */
export const layerMemory = (env: Env, leases?: MemoryLeases): Layer.Layer<SessionLease> =>
  Layer.sync(SessionLease, () => makeMemory(env, leases))
