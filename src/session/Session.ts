/**
 * Session: starting, persisting and stopping one trading session.
 *
 * Modes:
 * - `CLEAN_RESET`: a new session (a new id unless one is given that has no
 *   state yet); its live state is cleared and a first snapshot taken.
 * - `RESUME_FROM_STATE`: the restore pipeline picks the freshest valid state;
 *   it is hydrated, marked running and written back to the live tier.
 * - `AUTO`: resume when there is something to resume (the given session, or
 *   else the most recent session left `running` by a crash), clean otherwise.
 *
 * Persistence policy: the live tier on every loop; a durable snapshot on
 * every loop that opened or closed a trade (committed before `persist`
 * returns, so before the runner takes its next step), every
 * `snapshotInterval`, and on shutdown. A session whose scope closes normally
 * or by interruption (SIGINT/SIGTERM) takes the shutdown snapshot with status
 * `stopped` (retried for a few seconds if the database does not answer; the
 * outcome is kept in `shutdown`); one that dies keeps `running`, which is how
 * AUTO finds it.
 *
 * Unknown outcomes: a snapshot whose reply was lost (the connection dropped
 * after it was sent) may have been committed. Its sequence is never used
 * again. If it opened a trade, `persist` does not return until the outcome is
 * known: the same snapshot is written again (the stores' writes are
 * idempotent) until the database answers, so the runner never redoes a step
 * that the database may already hold as taken.
 *
 * One writer: a session is started only under its lease (a second runner
 * gets `SessionHeld`), every write carries the lease's fencing token, and the
 * lease is renewed in the background. When a renewal finds the lease lost,
 * `persist` fails with `Fenced` from then on, so the runner stops trading;
 * the stores refuse the stale token in any case. When the live tier has lost
 * the session's fence (Redis restarted empty), the fence is raised again only
 * after the lease confirms this runner still holds the session.
 *
 * The live tier is a cache of the durable one: any failure to write it
 * (unreachable, out of memory, a damaged key) degrades it, and the session
 * snapshots every loop until a write goes through again.
 */
import { Clock, Duration, Effect, Option, Ref, Result, Schedule, type Scope } from "effect"
import { randomBytes } from "node:crypto"
import { hostname } from "node:os"
import type { EngineState } from "../domain/EngineState.ts"
import { SessionId } from "../domain/Ids.ts"
import type { SnapshotType } from "../domain/Snapshot.ts"
import type { StateCodecError } from "../domain/StateCodecError.ts"
import * as Metrics from "../observability/PersistenceMetrics.ts"
import * as Restore from "../recovery/Restore.ts"
import { describeReport, type RestoreReport } from "../recovery/RestoreReport.ts"
import { HotStateStore } from "../store/HotStateStore.ts"
import { acquireWaiting, type Lease, type LeaseError, type SessionHeld, SessionLease } from "../store/SessionLease.ts"
import { SnapshotStore, type SnapshotSummary, type SnapshotToSave } from "../store/SnapshotStore.ts"
import { StoreError } from "../store/StoreError.ts"
import {
  SessionError,
  SessionExists,
  SessionIdRequired,
  SessionNotFound,
  SessionUnrecoverable
} from "./SessionError.ts"

/** The services a session needs. */
export type SessionStores = HotStateStore | SnapshotStore | SessionLease

/** How a session starts. */
export type SessionMode = "CLEAN_RESET" | "RESUME_FROM_STATE" | "AUTO"

/** When durable snapshots are taken besides trades and shutdown, and how far a restore looks back. */
export interface PersistencePolicy {
  readonly snapshotInterval: Duration.Input
  /** At most this many snapshots are read by a resume (default: as many as the scan budget allows). */
  readonly restoreDepth?: number
  /** At most this many bytes of stored snapshots are read by a resume looking for a valid one (default 1 GiB). */
  readonly scanBudgetBytes?: number
}

/** How the session's lease is held. */
export interface LeasePolicy {
  /** Who this runner is, in lease records and messages (default: host, pid and a random part). */
  readonly holder?: string
  /** How long a lease lasts without renewal; a dead runner's session is free after this (default 15 s). */
  readonly ttl?: Duration.Input
  /** How long to wait for a held lease to expire before failing with `SessionHeld` (default 0). */
  readonly wait?: Duration.Input
  /** Told once when the lease is found held and the session starts waiting for it (with a `wait` above 0). */
  readonly onWait?: (held: SessionHeld) => Effect.Effect<void>
}

/** What to start. */
export interface SessionOptions<E = never> {
  readonly mode: SessionMode
  readonly sessionId?: SessionId
  /** The state of a new session with this id. */
  readonly newState: (sessionId: SessionId) => EngineState
  readonly policy: PersistencePolicy
  readonly lease?: LeasePolicy
  /**
   * Checks the state the session would start from (new or restored), before anything is written:
   * a runner refuses here a session it cannot run (another campaign, a market it does not know, a
   * clock past its bounds), and the session starts nothing.
   */
  readonly admit?: (state: EngineState, origin: SessionOrigin) => Effect.Effect<void, E>
  /** Told how the stop was recorded, once the session's scope closes (a CLI sets its exit code from it). */
  readonly onShutdown?: (outcome: ShutdownOutcome) => Effect.Effect<void>
}

/** How the session came to be. */
export type SessionOrigin =
  | { readonly kind: "clean" }
  | { readonly kind: "resumed"; readonly report: RestoreReport }

/** A running session: its starting state, and how the runner persists each step. */
export interface ActiveSession {
  readonly sessionId: SessionId
  readonly initialState: EngineState
  readonly origin: SessionOrigin
  /** The lease this session runs under (its token is on every write). */
  readonly lease: Lease
  /**
   * Persists the state after a loop; with `tradesChanged`, the durable snapshot is committed before
   * this returns. A step that `opensTrades` is written to the durable tier first, and refused
   * (`false`, nothing written) when that tier cannot take it: the runner then redoes the loop
   * without opening trades. When the tier took it but its reply was lost, this waits until the
   * outcome is known (the trade then stands: `true`). Fails with `Fenced` once the lease is lost.
   */
  readonly persist: (
    state: EngineState,
    change: { readonly tradesChanged: boolean; readonly opensTrades?: boolean }
  ) => Effect.Effect<boolean, StoreError | StateCodecError>
  /** The most recent durable snapshot this session took. */
  readonly lastSnapshot: Effect.Effect<Option.Option<SnapshotSummary>>
  /** Whether the lease has been lost (the session no longer writes). */
  readonly fenced: Effect.Effect<boolean>
  /** The state of each tier as this session last found it. */
  readonly health: Effect.Effect<PersistenceHealth>
  /** Whether a new trade may open: only while the durable tier takes snapshots (and the lease holds). */
  readonly canTrade: Effect.Effect<boolean>
}

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

/**
 * How the session's stop was recorded (known once its scope has closed; see `SessionOptions.onShutdown`),
 * with the state it stopped at: the one the shutdown snapshot holds, or the last one the runner persisted.
 */
export type ShutdownOutcome = (
  /** The shutdown snapshot (status `stopped`) is durable. */
  | { readonly kind: "recorded"; readonly sequence: number }
  /**
   * The shutdown snapshot could not be written (nor, if one was in doubt, the outcome of the last
   * trade learned): the session stays `running` in the durable tier.
   */
  | { readonly kind: "not_recorded"; readonly error: StoreError | StateCodecError }
  /** No stop was written on purpose: the session failed (so that AUTO resumes it), or it was fenced. */
  | { readonly kind: "left_running"; readonly reason: "failed" | "fenced" }
) & { readonly state: EngineState }

/** A new session id: `sess_` + UTC time + random suffix. */
export const newSessionId = (now: number): SessionId => {
  const stamp = new Date(now).toISOString().replace(/[-:T]/g, "").slice(0, 14)
  return SessionId.make(`sess_${stamp}_${randomBytes(3).toString("hex")}`)
}

/** A holder name that tells operators where a runner runs. */
export const defaultHolder = (): string => `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`

const sessionError = (reason: SessionError["reason"]) => new SessionError({ reason })

/** The reason tag of a failed write, for the failure metric. */
const failureReason = (error: StoreError | StateCodecError): string => error.reason._tag

/** A write that may have been committed, its reply lost. */
const isOutcomeUnknown = (error: StoreError | StateCodecError): boolean =>
  error._tag === "StoreError" && error.reason._tag === "OutcomeUnknown"

/** The store did not answer (the write did not happen, or its outcome is unknown): worth trying again later. */
const isStoreAway = (error: StoreError | StateCodecError): boolean =>
  error._tag === "StoreError" && (error.reason._tag === "Unreachable" || error.reason._tag === "OutcomeUnknown")

/**
 * The sessions of the env a crash left `running`, most recent first: those whose latest snapshot
 * says so, then those that only have live state. (A live runner's session is among them too; its
 * lease tells them apart.)
 */
export const interruptedSessions = Effect.gen(function*() {
  const durable = yield* (yield* SnapshotStore).listSessions()
  const running = durable.filter((s) => s.status === "running").map((s) => s.sessionId as SessionId)
  const liveOnly = (yield* (yield* HotStateStore).listSessions()).filter((id) => !durable.some((s) => s.sessionId === id))
  return [...running, ...liveOnly]
})

/** How long a stop may wait for the durable tier to answer before it is given up as not recorded. */
const shutdownBudgetMs = 5_000

/** How many passed-over candidates a resume event records (with their count). */
const recordedSkips = 20

/**
 * Holds a session for a writer: takes its lease (released when the scope closes, waiting up to
 * `wait` for a dead holder's lease to expire) and raises the live tier's fence to the lease's token.
 * A live tier that does not take the fence now (down, out of memory) cannot be written by anyone;
 * the writer's first live write that goes through raises it. A fence found above the lease's token
 * (the lease table was reset or restored from a backup, or the key was forged) would refuse this
 * writer for good: the lease is then taken again above it, so that fences and tokens never go down.
 */
export const hold = (
  sessionId: SessionId,
  lease: {
    readonly holder: string
    readonly ttl: Duration.Input
    readonly wait: Duration.Input
    readonly onWait?: ((held: SessionHeld) => Effect.Effect<void>) | undefined
  }
) =>
  Effect.gen(function*() {
    const hot = yield* HotStateStore
    const leases = yield* SessionLease
    const raise = (token: number) =>
      hot.raiseFence(sessionId, token).pipe(
        Effect.catch((error) =>
          Effect.as(Effect.logWarning(`${sessionId}: the live tier did not take the fence now (${error.message})`), null)
        )
      )
    return yield* Effect.acquireRelease(
      Effect.gen(function*() {
        const granted = yield* acquireWaiting(leases, sessionId, lease.holder, lease.ttl, lease.wait, lease.onWait)
        const fence = yield* raise(granted.fencingToken)
        if (fence === null || fence <= granted.fencingToken) return granted
        yield* Effect.logWarning(`${sessionId}: the live tier's fence ${fence} is above the lease's token ${granted.fencingToken}; the lease is taken above it`)
        const above = yield* leases.acquire(sessionId, lease.holder, lease.ttl, { above: fence })
        yield* raise(above.fencingToken)
        return above
      }),
      (held) => leases.release(held).pipe(Effect.ignore)
    )
  })

/** Starts a session as `options.mode` says, under its lease; the shutdown snapshot is taken when the scope closes. */
export const initialize = Effect.fn("Session.initialize")(function*<E = never>(options: SessionOptions<E>): Effect.fn.Return<
  ActiveSession,
  SessionError | Restore.RestoreError | StoreError | StateCodecError | LeaseError | E,
  HotStateStore | SnapshotStore | SessionLease | Scope.Scope
> {
  const hot = yield* HotStateStore
  const snapshots = yield* SnapshotStore
  const leases = yield* SessionLease
  const restoreOptions: Restore.RestoreOptions = {
    ...(options.policy.restoreDepth === undefined ? {} : { depth: options.policy.restoreDepth }),
    ...(options.policy.scanBudgetBytes === undefined ? {} : { scanBudgetBytes: options.policy.scanBudgetBytes })
  }
  const holder = options.lease?.holder ?? defaultHolder()
  const ttl = options.lease?.ttl ?? "15 seconds"
  const ttlMs = Duration.toMillis(Duration.fromInputUnsafe(ttl))

  const lock = (sessionId: SessionId, wait: Duration.Input) => hold(sessionId, { holder, ttl, wait, onWait: options.lease?.onWait })

  /** Clears a clean session's live state; the first write replaces it whole anyway, so only a stale token stops the start. */
  const clearLive = (sessionId: SessionId, lease: Lease) =>
    hot.delete(sessionId, lease.fencingToken).pipe(
      Effect.catchIf(
        (error) => error.reason._tag !== "Fenced",
        (error) => Effect.logWarning(`${sessionId}: the live state could not be cleared now (${error.message})`)
      )
    )

  const clean = Effect.fnUntraced(function*(requested: SessionId | undefined) {
    const sessionId = requested ?? newSessionId(yield* Clock.currentTimeMillis)
    const lease = yield* lock(sessionId, options.lease?.wait ?? 0)
    if (requested !== undefined && (yield* snapshots.listSnapshots(requested, 1)).length > 0) {
      return yield* sessionError(new SessionExists({
        sessionId: requested,
        message: `${requested} already has snapshots; resume it, or start a clean session with a new id`
      }))
    }
    yield* clearLive(sessionId, lease)
    return { sessionId, lease, state: options.newState(sessionId), origin: { kind: "clean" } as SessionOrigin }
  })

  const resumeHeld = Effect.fnUntraced(function*(sessionId: SessionId, lease: Lease) {
    const report = yield* Restore.run(sessionId, restoreOptions)
    if (report.outcome === "fresh") {
      return yield* sessionError(new SessionNotFound({ sessionId, message: `${sessionId} has no state to resume` }))
    }
    if (report.outcome === "unrecoverable" || report.state === null) {
      return yield* sessionError(new SessionUnrecoverable({ sessionId, message: describeReport(report) }))
    }
    const state: EngineState = { ...report.state, session: { ...report.state.session, status: "running" } }
    return { sessionId, lease, state, origin: { kind: "resumed", report } as SessionOrigin }
  })

  const resume = Effect.fnUntraced(function*(sessionId: SessionId) {
    return yield* resumeHeld(sessionId, yield* lock(sessionId, options.lease?.wait ?? 0))
  })

  /**
   * AUTO without an id: the most recent session a crash left `running` whose lease is free (a held
   * lease means its runner is alive); a clean session when there is none.
   */
  const auto = Effect.fnUntraced(function*(requested: SessionId | undefined) {
    if (requested !== undefined) {
      const lease = yield* lock(requested, options.lease?.wait ?? 0)
      const report = yield* Restore.run(requested, restoreOptions)
      if (report.outcome === "fresh") {
        yield* clearLive(requested, lease)
        return { sessionId: requested, lease, state: options.newState(requested), origin: { kind: "clean" } as SessionOrigin }
      }
      return yield* resumeHeld(requested, lease)
    }
    for (const candidate of yield* interruptedSessions) {
      const attempt = yield* Effect.result(lock(candidate, 0))
      if (attempt._tag === "Success") return yield* resumeHeld(candidate, attempt.success)
    }
    return yield* clean(undefined)
  })

  const started = options.mode === "CLEAN_RESET"
    ? yield* clean(options.sessionId)
    : options.mode === "RESUME_FROM_STATE"
    ? options.sessionId === undefined
      ? yield* sessionError(new SessionIdRequired({ message: "RESUME_FROM_STATE needs the id of the session to resume" }))
      : yield* resume(options.sessionId)
    : yield* auto(options.sessionId)

  const { lease, sessionId, state } = started
  if (options.admit !== undefined) yield* options.admit(state, started.origin)
  const token = lease.fencingToken
  const latest = yield* snapshots.listSnapshots(sessionId, 1)
  /** The highest sequence written, or possibly written (a write that was sent, whatever became of it). */
  const sequence = yield* Ref.make(yield* snapshots.highestSequence(sessionId))
  /** A snapshot that opened a trade, sent and not known to be committed or not: it decides the session's next state. */
  const doubt = yield* Ref.make(Option.none<{ readonly metadata: SnapshotToSave; readonly state: EngineState }>())
  const lastSnapshot = yield* Ref.make<Option.Option<SnapshotSummary>>(Option.fromNullishOr(latest[0]))
  const lastSnapshotAt = yield* Ref.make(yield* Clock.currentTimeMillis)
  const lastState = yield* Ref.make(state)
  const fenced = yield* Ref.make(false)
  const heldLease = yield* Ref.make(lease)
  const interval = Duration.toMillis(Duration.fromInputUnsafe(options.policy.snapshotInterval))

  const fencedError = (why: string) => StoreError.fenced(snapshots.kind, `${sessionId}: ${why}; this runner no longer writes`)

  /**
   * Asks the durable tier to extend the lease: `confirmed` (still ours), `unconfirmed` (no answer),
   * or `lost` (another runner took it: this session is fenced for good).
   */
  const confirmLease = Effect.gen(function*() {
    const renewed = yield* Effect.result(leases.renew(yield* Ref.get(heldLease), ttl))
    if (renewed._tag === "Success") {
      yield* Ref.set(heldLease, renewed.success)
      return "confirmed" as const
    }
    if (renewed.failure._tag === "StoreError") return "unconfirmed" as const
    if (!(yield* Ref.getAndSet(fenced, true))) {
      yield* Effect.logWarning(`${sessionId}: ${renewed.failure.message}; this runner stops writing`)
    }
    return "lost" as const
  })

  // Renewal: a third of the lease's life apart. A lost lease fences the session for good; a store
  // that does not answer is retried, and if the lease runs out meanwhile the stores fence it.
  yield* Effect.forkScoped(
    Effect.gen(function*() {
      if ((yield* confirmLease) === "lost") return yield* Effect.interrupt
    }).pipe(Effect.repeat(Schedule.spaced(Duration.millis(Math.max(10, Math.floor(ttlMs / 3))))))
  )

  const refuseWhenFenced = Effect.flatMap(Ref.get(fenced), (isFenced) =>
    isFenced ? Effect.fail(fencedError("the lease was lost")) : Effect.void)

  /** The metadata of the next snapshot: one above every sequence written or possibly written. */
  const nextSnapshot = (snapshotType: SnapshotType) =>
    Effect.gen(function*() {
      return {
        sessionId,
        snapshotType,
        sequence: (yield* Ref.get(sequence)) + 1,
        fencingToken: token,
        createdAt: yield* Clock.currentTimeMillis
      } satisfies SnapshotToSave
    })

  /**
   * Writes one snapshot (or the same one again: the store's save is idempotent). Its sequence is
   * taken before it is sent: whatever becomes of the write (a lost reply, an interruption while the
   * statement is in flight), nothing else is ever written under that sequence.
   */
  const commit = Effect.fnUntraced(function*(metadata: SnapshotToSave, current: EngineState) {
    yield* Ref.update(sequence, (n) => Math.max(n, metadata.sequence))
    const [took, written] = yield* Effect.timed(Effect.result(snapshots.save(metadata, current)))
    if (written._tag === "Failure") {
      yield* Metrics.recordFailure("durable", failureReason(written.failure))
      return yield* written.failure
    }
    const summary = written.success
    yield* Metrics.recordDuration(Metrics.snapshotDuration, Duration.toMillis(took))
    if (summary.payloadBytes !== undefined) yield* Metrics.count(Metrics.bytesWritten, summary.payloadBytes, { tier: "durable" })
    yield* Ref.set(lastSnapshot, Option.some(summary))
    yield* Ref.set(lastSnapshotAt, metadata.createdAt)
    return summary
  })

  // Outages. The live tier down: go on, snapshot every loop instead, re-sync when it answers again.
  // The durable tier down: go on without opening trades, keep a snapshot pending, retry with
  // backoff, and write it (of the newest state) when the database is back.
  const health = yield* Ref.make<PersistenceHealth>({ liveTier: "ok", durableTier: "ok", pendingSnapshot: null, inDoubt: null })
  const retry = yield* Ref.make({ at: 0, backoffMs: 100 })
  const strongest = (a: SnapshotType | null, b: SnapshotType | null): SnapshotType | null =>
    a === "trade" || b === "trade" ? "trade" : a ?? b

  /** The durable tier did not answer: back off, and keep a snapshot pending so that it is probed again. */
  const durableAway = Effect.fnUntraced(function*(pending: SnapshotType | null, why: string) {
    const now = yield* Clock.currentTimeMillis
    const { backoffMs } = yield* Ref.get(retry)
    yield* Ref.set(retry, { at: now + backoffMs, backoffMs: Math.min(backoffMs * 2, 5_000) })
    const before = yield* Ref.get(health)
    yield* Ref.set(health, { ...before, durableTier: "degraded" as const, pendingSnapshot: strongest(pending, "periodic") })
    if (before.durableTier === "ok") {
      yield* Effect.logWarning(`${sessionId}: the durable tier is unreachable (${why}); no new trades until it is back`)
    }
  })

  /** The durable tier took a snapshot of the newest state: nothing is pending any more. */
  const durableBack = Effect.fnUntraced(function*(current: EngineState, written: SnapshotType) {
    const before = yield* Ref.get(health)
    yield* Ref.set(health, { ...before, durableTier: "ok", pendingSnapshot: null, inDoubt: null })
    yield* Ref.set(retry, { at: 0, backoffMs: 100 })
    if (before.durableTier === "degraded") {
      yield* Effect.logInfo(`${sessionId}: the durable tier answers again; ${written} snapshot written at loop ${current.session.loopCount}`)
    }
  })

  /**
   * Writes one snapshot until the durable tier answers, confirming the lease before each attempt (a
   * lease that ran out while the database was away is extended, unless another runner took it), for
   * at most `budgetMs` (forever when `undefined`). Written again, a snapshot whose reply was lost is
   * found committed, or is committed by the retry: either way its outcome is then known.
   */
  const commitPatiently = Effect.fnUntraced(function*(metadata: SnapshotToSave, current: EngineState, budgetMs?: number) {
    const deadline = budgetMs === undefined ? Number.POSITIVE_INFINITY : (yield* Clock.currentTimeMillis) + budgetMs
    let backoffMs = 100
    while (true) {
      const lease = yield* confirmLease
      if (lease === "lost") return yield* fencedError(`the lease was lost before snapshot #${metadata.sequence} was known to be written`)
      const written = lease === "confirmed"
        ? yield* Effect.result(commit(metadata, current))
        : Result.fail(StoreError.unreachable(snapshots.kind, `the lease of ${sessionId} could not be confirmed`))
      if (Result.isSuccess(written)) return written.success
      if (!isStoreAway(written.failure)) return yield* written.failure
      if ((yield* Clock.currentTimeMillis) + backoffMs > deadline) return yield* written.failure
      yield* Effect.sleep(Duration.millis(backoffMs))
      backoffMs = Math.min(backoffMs * 2, 5_000)
    }
  })

  /**
   * Learns the outcome of a snapshot that opened a trade and whose reply was lost, by writing it
   * again until the database answers. Nothing is decided meanwhile; only a lost lease (another
   * runner took the session) ends the wait.
   */
  const resolveInDoubt = Effect.fnUntraced(function*(metadata: SnapshotToSave, current: EngineState) {
    yield* Ref.update(health, (h) => ({
      ...h,
      durableTier: "degraded" as const,
      inDoubt: { sequence: metadata.sequence, loopCount: current.session.loopCount }
    }))
    yield* Effect.logWarning(
      `${sessionId}: snapshot #${metadata.sequence} (loop ${current.session.loopCount}, opening a trade) was sent but not acknowledged; ` +
        `the runner waits until the database says whether it was committed`
    )
    yield* commitPatiently(metadata, current)
    yield* Effect.logInfo(`${sessionId}: snapshot #${metadata.sequence} is committed; its trade stands`)
  })

  /** Writes the live tier; a lost fence is raised again once the lease confirms it; any other store failure degrades the tier. */
  const writeLive = Effect.fnUntraced(function*(current: EngineState) {
    const bytesBefore = yield* hot.bytesWritten
    let [took, saved] = yield* Effect.timed(Effect.result(hot.save(current, token)))
    if (saved._tag === "Failure" && saved.failure._tag === "StoreError" && saved.failure.reason._tag === "FenceLost") {
      const lease = yield* confirmLease
      if (lease === "lost") return yield* fencedError("the lease was lost (found while raising the live tier's fence again)")
      if (lease === "confirmed") {
        yield* Effect.logWarning(`${sessionId}: the live tier had lost its fence (${saved.failure.message}); raised again to token ${token}`)
        ;[took, saved] = yield* Effect.timed(Effect.result(hot.raiseFence(sessionId, token).pipe(Effect.andThen(hot.save(current, token)))))
      }
    }
    const was = (yield* Ref.get(health)).liveTier
    if (saved._tag === "Success") {
      yield* Metrics.recordDuration(Metrics.liveSaveDuration, Duration.toMillis(took))
      yield* Metrics.count(Metrics.bytesWritten, (yield* hot.bytesWritten) - bytesBefore, { tier: "live" })
      if (was === "degraded") {
        yield* Ref.update(health, (h) => ({ ...h, liveTier: "ok" as const }))
        yield* Effect.logInfo(`${sessionId}: the live tier takes writes again; re-synced at loop ${current.session.loopCount}`)
      }
      return
    }
    const failure = saved.failure
    yield* Metrics.recordFailure("live", failureReason(failure))
    // An invalid state is the runner's bug, and a stale token means another runner holds the session.
    if (failure._tag === "StateCodecError" || failure.reason._tag === "Fenced") {
      if (failure._tag === "StoreError") yield* Ref.set(fenced, true)
      return yield* failure
    }
    if (was === "ok") {
      yield* Ref.update(health, (h) => ({ ...h, liveTier: "degraded" as const }))
      yield* Effect.logWarning(`${sessionId}: the live tier did not take a write (${failure.message}); snapshotting every loop until it does`)
    }
  })

  /** Takes the snapshot the policy (and any pending one) asks for, unless the durable tier is backing off. */
  const writeDurable = Effect.fnUntraced(function*(current: EngineState, wanted: SnapshotType | null) {
    const now = yield* Clock.currentTimeMillis
    const before = yield* Ref.get(health)
    const pending = strongest(before.pendingSnapshot, wanted)
    if (pending === null) return
    if (before.durableTier === "degraded") {
      if (now < (yield* Ref.get(retry)).at) {
        yield* Ref.set(health, { ...before, pendingSnapshot: pending })
        return
      }
      // The lease may have run out while the database was away: extend it first (it fails only if
      // another runner took the session, which fences this one).
      const lease = yield* confirmLease
      if (lease === "lost") return yield* fencedError("the lease was lost while the database was away")
      if (lease === "unconfirmed") return yield* durableAway(pending, "the lease could not be confirmed")
    }
    const written = yield* Effect.result(commit(yield* nextSnapshot(pending), current))
    if (written._tag === "Success") return yield* durableBack(current, pending)
    if (!isStoreAway(written.failure)) return yield* written.failure
    yield* durableAway(pending, written.failure.message)
  })

  /**
   * A step that opens a trade: durable first. Refused (nothing written) when the durable tier is
   * away or does not answer; when its reply is lost, the outcome is learned before anything else.
   */
  const persistOpening = Effect.fnUntraced(function*(current: EngineState) {
    const before = yield* Ref.get(health)
    if (before.durableTier === "degraded") return false
    const metadata = yield* nextSnapshot("trade")
    // In doubt from the moment it is sent until its outcome is known: an interruption meanwhile
    // (SIGTERM) leaves it to the shutdown to settle.
    yield* Ref.set(doubt, Option.some({ metadata, state: current }))
    const written = yield* Effect.result(commit(metadata, current))
    if (written._tag === "Failure") {
      const failure = written.failure
      if (isOutcomeUnknown(failure)) yield* resolveInDoubt(metadata, current)
      else {
        yield* Ref.set(doubt, Option.none())
        if (!isStoreAway(failure)) return yield* failure
        yield* durableAway(before.pendingSnapshot, failure.message)
        return false
      }
    }
    yield* Ref.set(lastState, current)
    yield* Ref.set(doubt, Option.none())
    yield* durableBack(current, "trade")
    yield* writeLive(current)
    yield* recordTierGauges(current)
    return true
  })

  const persist = Effect.fnUntraced(function*(
    current: EngineState,
    change: { readonly tradesChanged: boolean; readonly opensTrades?: boolean }
  ) {
    yield* refuseWhenFenced
    if (change.opensTrades === true) return yield* persistOpening(current)
    yield* Ref.set(lastState, current)
    yield* writeLive(current)
    const now = yield* Clock.currentTimeMillis
    const wanted: SnapshotType | null = change.tradesChanged
      ? "trade"
      : (yield* Ref.get(health)).liveTier === "degraded" || now - (yield* Ref.get(lastSnapshotAt)) >= interval
      ? "periodic"
      : null
    yield* writeDurable(current, wanted)
    yield* recordTierGauges(current)
    return true
  })

  /** The age of the newest durable snapshot, and how far the live state is ahead of it. */
  const recordTierGauges = Effect.fnUntraced(function*(current: EngineState) {
    const now = yield* Clock.currentTimeMillis
    yield* Metrics.setForSession(Metrics.durableSnapshotAge, sessionId, (now - (yield* Ref.get(lastSnapshotAt))) / 1000)
    const last = yield* Ref.get(lastSnapshot)
    const lag = Option.match(last, { onNone: () => current.session.loopCount, onSome: (s) => current.session.loopCount - s.loopCount })
    yield* Metrics.setForSession(Metrics.tierLagLoops, sessionId, lag)
  })

  const canTrade = Effect.gen(function*() {
    return !(yield* Ref.get(fenced)) && (yield* Ref.get(health)).durableTier === "ok"
  })

  // Shutdown: on a normal end or an interruption (SIGINT/SIGTERM), mark the session stopped and
  // make that durable. A trade snapshot still in doubt is settled first (written again: it stands),
  // so that the stop never records a state older than one the database may hold; if it cannot be,
  // nothing is written over it. The stop takes a sequence of its own, and both are retried for a
  // few seconds while the database does not answer. On a failure, or once fenced, the session is
  // left as it is: `running`, so that AUTO resumes it, and never written by a runner that lost it.
  const stop = Effect.gen(function*(): Effect.fn.Return<ShutdownOutcome> {
    if (yield* Ref.get(fenced)) return { kind: "left_running", reason: "fenced", state: yield* Ref.get(lastState) }
    const unsettled = yield* Ref.get(doubt)
    if (Option.isSome(unsettled)) {
      const settled = yield* Effect.result(commitPatiently(unsettled.value.metadata, unsettled.value.state, shutdownBudgetMs))
      if (Result.isFailure(settled)) return { kind: "not_recorded", error: settled.failure, state: yield* Ref.get(lastState) }
      yield* Ref.set(lastState, unsettled.value.state)
    }
    const current = yield* Ref.get(lastState)
    const stopped: EngineState = { ...current, session: { ...current.session, status: "stopped" } }
    yield* hot.save(stopped, token).pipe(
      Effect.catch((error) => Effect.logWarning(`${sessionId}: the live tier missed the shutdown: ${error.message}`))
    )
    const metadata = yield* nextSnapshot("shutdown")
    const written = yield* Effect.result(commitPatiently(metadata, stopped, shutdownBudgetMs))
    return Result.isSuccess(written)
      ? { kind: "recorded", sequence: metadata.sequence, state: stopped }
      : { kind: "not_recorded", error: written.failure, state: current }
  })
  yield* Effect.addFinalizer((exit) =>
    Effect.gen(function*() {
      const outcome: ShutdownOutcome = exit._tag === "Failure" && !exit.cause.reasons.every((reason) => reason._tag === "Interrupt")
        ? { kind: "left_running", reason: "failed", state: yield* Ref.get(lastState) }
        : yield* stop
      if (outcome.kind === "not_recorded") {
        yield* Effect.logError(
          `${sessionId}: the stop could not be recorded (${outcome.error.message}); the session stays running, and AUTO and resume-all will take it for interrupted`
        )
      }
      if (options.onShutdown !== undefined) yield* options.onShutdown(outcome)
    })
  )

  // A clean session is made durable at once; a resumed one is written back to the live tier, and
  // the resume is recorded (where it came from), for the operators' history of the session.
  yield* writeLive(state)
  if (started.origin.kind === "clean") yield* commit(yield* nextSnapshot("periodic"), state)
  else {
    const { report } = started.origin
    const passedOver = report.skipped.filter((s) => s.kind !== "superseded")
    yield* snapshots.recordEvent(sessionId, {
      kind: "resumed",
      fencingToken: token,
      loopCount: state.session.loopCount,
      detail: {
        source: report.source,
        snapshotId: report.snapshotId,
        sequence: report.sequence,
        // What the session had come to: a clean stop (its shutdown recorded) or a crash (it was left running).
        after: report.state?.session.status === "stopped" ? "stop" : "crash",
        // The first few passed-over candidates and how many there were: a deep look-back can pass over
        // thousands, and this is recorded at every resume.
        skipped: passedOver.slice(0, recordedSkips).map((s) => ({ source: s.source, sequence: s.sequence, reason: s.reason })),
        skippedCount: passedOver.length
      }
    }).pipe(Effect.catch((error) => Effect.logWarning(`${sessionId}: the resume could not be recorded: ${error.message}`)))
  }

  return {
    sessionId,
    initialState: state,
    origin: started.origin,
    lease,
    persist,
    lastSnapshot: Ref.get(lastSnapshot),
    fenced: Ref.get(fenced),
    health: Ref.get(health),
    canTrade
  } satisfies ActiveSession
})
