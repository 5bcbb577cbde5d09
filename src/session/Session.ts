/**
 * Session: starting, persisting and stopping one trading session, composed
 * of its parts: the start (`SessionStart`: modes and locking), the lease
 * (`LeaseKeeper`), the tiers' health and backoff (`TierHealth`) and the
 * durable snapshots in sequence (`SnapshotWriter`).
 *
 * Persistence policy: the live tier on every loop; a durable snapshot on
 * every loop that opened or closed a trade (committed before `persist`
 * returns, so before the runner takes its next step), every
 * `snapshotInterval`, every loop while the live tier is degraded, and on
 * shutdown. A step that opens trades is written to the durable tier first:
 * when that tier does not take it, the step fails with `StepRefused` and the
 * runner redoes the loop without opening trades; when the tier took it but
 * its reply was lost, `persist` waits, writing the same snapshot again, until
 * the outcome is known (the trade then stands).
 *
 * The trade ledger: a step reports the trades it closed (`closed`), which
 * must be exactly what its state counts (`ClosedTrade.numberCloses`). They
 * are numbered and kept in the ledger tail, written to the live tier with
 * the state on every loop, until a snapshot appends them to the durable
 * ledger in the same write; so a close the state counts is never lost,
 * whichever tier a crash leaves ahead.
 *
 * A session whose scope closes normally or by interruption (SIGINT/SIGTERM)
 * takes the shutdown snapshot with status `stopped`: a trade snapshot still
 * in doubt is settled first, the lease confirmed, the write retried for a few
 * seconds; `onShutdown` is told how it went. One that fails keeps `running`,
 * which is how AUTO finds it.
 *
 * One writer: every write carries the lease's fencing token, which both
 * stores check; a lost lease fails every later step with `LeaseLost`. When
 * the live tier has lost the session's fence (Redis restarted empty), it is
 * raised again only after the lease confirms this runner still holds the
 * session. The live tier is a cache of the durable one: any other failure to
 * write it degrades it, and never ends the session.
 *
 * @module
 */
import { Clock, Duration, Effect, Option, Ref, Result, type Scope } from "effect"
import { type ClosedTrade, type LedgerEntry, numberCloses } from "../domain/ClosedTrade.ts"
import * as CustomSection from "../domain/CustomSection.ts"
import type { EngineState } from "../domain/EngineState.ts"
import type { SessionId } from "../domain/Ids.ts"
import type { SnapshotType } from "../domain/Snapshot.ts"
import type { StateCodecError } from "../domain/StateCodecError.ts"
import * as Metrics from "../observability/PersistenceMetrics.ts"
import type * as Restore from "../recovery/Restore.ts"
import { LiveStateStore } from "../store/LiveStateStore.ts"
import type { Lease, LeaseError, SessionHeld } from "../store/SessionLease.ts"
import { SessionEvents } from "../store/SessionEvents.ts"
import type { SnapshotSummary } from "../store/SnapshotStore.ts"
import type { Stores } from "../store/Persistence.ts"
import type { StoreError } from "../store/StoreError.ts"
import * as LeaseKeeper from "./LeaseKeeper.ts"
import type { SessionError } from "./SessionError.ts"
import { defaultHolder, type SessionMode, type SessionOrigin, start } from "./SessionStart.ts"
import * as SnapshotWriter from "./SnapshotWriter.ts"
import { StepRefused } from "./StepRefused.ts"
import * as TierHealth from "./TierHealth.ts"

export { defaultHolder, hold, interruptedSessions, newSessionId, type SessionMode, type SessionOrigin } from "./SessionStart.ts"
export { StepRefused } from "./StepRefused.ts"
export type { PersistenceHealth } from "./TierHealth.ts"

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
   * The runner's own sections (`CustomSection.make`): a resume verifies each one it finds by its
   * Schema and upgrades it, passing over a state whose section is refused. Declared once each.
   */
  readonly sections?: ReadonlyArray<CustomSection.DeclaredSection>
  /**
   * Checks the state the session would start from (new or restored), before anything is written:
   * a runner refuses here a session it cannot run (another campaign, a market it does not know, a
   * clock past its bounds), and the session starts nothing.
   */
  readonly admit?: (state: EngineState, origin: SessionOrigin) => Effect.Effect<void, E>
  /** Told how the stop was recorded, once the session's scope closes (a CLI sets its exit code from it). */
  readonly onShutdown?: (outcome: ShutdownOutcome) => Effect.Effect<void>
}

/**
 * What a step changed: trades opened or closed (a durable snapshot before the next step), trades
 * opened (durable first), and the trades it closed, in the order it closed them, for the trade
 * ledger: exactly as many as its metrics count closed, their PnL what its metrics' PnL grew by
 * (else `persist` refuses the step with a `StateCodecError` of part `ledger`).
 */
export interface StepChange {
  readonly tradesChanged: boolean
  readonly opensTrades?: boolean
  readonly closed?: ReadonlyArray<ClosedTrade>
}

/** A running session: its starting state, and how the runner persists each step. */
export interface ActiveSession {
  readonly sessionId: SessionId
  readonly initialState: EngineState
  readonly origin: SessionOrigin
  /** The lease this session started under (its token is on every write). */
  readonly lease: Lease
  /**
   * Persists the state after a loop; with `tradesChanged`, the durable snapshot is committed before
   * this returns. A step that `opensTrades` is refused with `StepRefused` (nothing written) when the
   * durable tier cannot take it. Fails with `LeaseLost` once another runner holds the session.
   */
  readonly persist: (state: EngineState, change: StepChange) => Effect.Effect<void, StepRefused | StoreError | StateCodecError | LeaseError>
  /** The most recent durable snapshot this session took. */
  readonly lastSnapshot: Effect.Effect<Option.Option<SnapshotSummary>>
  /** Whether the lease has been lost (the session no longer writes). */
  readonly fenced: Effect.Effect<boolean>
  /** The state of each tier as this session last found it. */
  readonly health: Effect.Effect<TierHealth.PersistenceHealth>
  /** Whether a new trade may open: only while the durable tier takes snapshots (and the lease holds). */
  readonly canTrade: Effect.Effect<boolean>
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
  | { readonly kind: "not_recorded"; readonly error: StoreError | StateCodecError | LeaseError }
  /** No stop was written on purpose: the session failed (so that AUTO resumes it), or it was fenced. */
  | { readonly kind: "left_running"; readonly reason: "failed" | "fenced" }
) & { readonly state: EngineState }

/** How long a stop may wait for the durable tier to answer before it is given up as not recorded. */
const shutdownBudgetMs = 5_000

/** How many passed-over candidates a resume event records (with their count). */
const recordedSkips = 20

/** Starts a session as `options.mode` says, under its lease; the shutdown snapshot is taken when the scope closes. */
export const initialize = Effect.fn("Session.initialize")(function*<E = never>(options: SessionOptions<E>): Effect.fn.Return<
  ActiveSession,
  SessionError | Restore.RestoreError | StoreError | StateCodecError | LeaseError | E,
  Stores | Scope.Scope
> {
  yield* Effect.fromResult(CustomSection.checkDeclarations(options.sections ?? []))
  const liveStore = yield* LiveStateStore
  const events = yield* SessionEvents
  const ttl = options.lease?.ttl ?? "15 seconds"
  const started = yield* start({
    mode: options.mode,
    sessionId: options.sessionId,
    newState: options.newState,
    restore: {
      ...(options.sections === undefined ? {} : { sections: options.sections }),
      ...(options.policy.restoreDepth === undefined ? {} : { depth: options.policy.restoreDepth }),
      ...(options.policy.scanBudgetBytes === undefined ? {} : { scanBudgetBytes: options.policy.scanBudgetBytes })
    },
    holder: options.lease?.holder ?? defaultHolder(),
    ttl,
    wait: options.lease?.wait ?? 0,
    onWait: options.lease?.onWait
  })
  const { lease, sessionId, state } = started
  if (options.admit !== undefined) yield* options.admit(state, started.origin)

  const token = lease.fencingToken
  const keeper = yield* LeaseKeeper.keep(lease, ttl)
  const health = yield* TierHealth.make
  const writer = yield* SnapshotWriter.make(sessionId, token, keeper)
  const lastState = yield* Ref.make(state)
  /** The closes the state counts that the durable ledger does not hold yet (see the module header). */
  const ledgerTail = yield* Ref.make<ReadonlyArray<LedgerEntry>>(started.origin.kind === "resumed" ? started.origin.report.ledgerTail : [])
  /** The tail once `written` (what a snapshot appended) is durable. */
  const appended = (written: ReadonlyArray<LedgerEntry>) => {
    const upTo = written.reduce((max, entry) => Math.max(max, entry.closeNumber), 0)
    return Ref.update(ledgerTail, (tail) => tail.filter((entry) => entry.closeNumber > upTo))
  }
  /** Commits a snapshot with the ledger tail it carries; what it appended leaves the tail. */
  const commitWithLedger = (metadata: SnapshotWriter.Unsettled["metadata"], current: EngineState, ledger: ReadonlyArray<LedgerEntry>) =>
    Effect.tap(writer.commit(metadata, current, ledger), () => appended(ledger))
  const interval = Duration.toMillis(Duration.fromInputUnsafe(options.policy.snapshotInterval))

  /** Writes the live tier; a lost fence is raised again once the lease confirms it; any other store failure degrades the tier. */
  const writeLive = Effect.fnUntraced(function*(current: EngineState) {
    const bytesBefore = yield* liveStore.bytesWritten
    const tail = yield* Ref.get(ledgerTail)
    let [took, saved] = yield* Effect.timed(Effect.result(liveStore.save(current, token, tail)))
    if (saved._tag === "Failure" && saved.failure._tag === "StoreError" && saved.failure.reason._tag === "FenceLost") {
      const standing = yield* keeper.confirm
      if (standing === "lost") return yield* keeper.lose("found while raising the live tier's fence again")
      if (standing === "confirmed") {
        yield* Effect.logWarning(`${sessionId}: the live tier had lost its fence (${saved.failure.message}); raised again to token ${token}`)
        ;[took, saved] = yield* Effect.timed(Effect.result(liveStore.raiseFence(sessionId, token).pipe(Effect.andThen(liveStore.save(current, token, tail)))))
      }
    }
    if (saved._tag === "Success") {
      yield* Metrics.recordDuration(Metrics.liveSaveDuration, Duration.toMillis(took))
      yield* Metrics.count(Metrics.bytesWritten, (yield* liveStore.bytesWritten) - bytesBefore, { tier: "live" })
      if (yield* health.liveTook) {
        yield* Effect.logInfo(`${sessionId}: the live tier takes writes again; re-synced at loop ${current.session.loopCount}`)
      }
      return
    }
    const failure = saved.failure
    yield* Metrics.recordFailure("live", SnapshotWriter.failureReason(failure))
    // An invalid state is the runner's bug; a stale token means another runner holds the session.
    if (failure._tag === "StateCodecError") return yield* failure
    if (failure.reason._tag === "Fenced") {
      yield* keeper.lose(failure.message).pipe(Effect.ignore)
      return yield* failure
    }
    if (yield* health.liveRefused) {
      yield* Effect.logWarning(`${sessionId}: the live tier did not take a write (${failure.message}); snapshotting every loop until it does`)
    }
  })

  /** The durable tier took the newest state: nothing pending, said once when it had been away. */
  const durableBack = (current: EngineState, written: SnapshotType) =>
    Effect.flatMap(health.durableBack, (wasAway) =>
      wasAway
        ? Effect.logInfo(`${sessionId}: the durable tier answers again; ${written} snapshot written at loop ${current.session.loopCount}`)
        : Effect.void)

  /** The durable tier did not answer: `pending` waits for the next try, said once when it had been fine. */
  const durableAway = (pending: SnapshotType | null, why: string) =>
    Effect.flatMap(health.durableAway(pending), (wasFine) =>
      wasFine ? Effect.logWarning(`${sessionId}: the durable tier is unreachable (${why}); no new trades until it is back`) : Effect.void)

  /** Takes the snapshot the policy (and any pending one) asks for, unless the durable tier is backing off. */
  const writeDurable = Effect.fnUntraced(function*(current: EngineState, wanted: SnapshotType | null) {
    const before = yield* health.current
    const pending = TierHealth.strongest(before.pendingSnapshot, wanted)
    if (pending === null) return
    if (before.durableTier === "degraded") {
      if (!(yield* health.durableDue)) return yield* health.keepPending(pending)
      // The lease may have run out while the database was away: extend it first (it fails only if
      // another runner took the session, which fences this one).
      const standing = yield* keeper.confirm
      if (standing === "lost") return yield* keeper.lose("lost while the database was away")
      if (standing === "unconfirmed") return yield* durableAway(pending, "the lease could not be confirmed")
    }
    const written = yield* Effect.result(commitWithLedger(yield* writer.next(pending), current, yield* Ref.get(ledgerTail)))
    if (written._tag === "Success") return yield* durableBack(current, pending)
    if (!SnapshotWriter.isStoreAway(written.failure)) return yield* written.failure
    yield* durableAway(pending, written.failure.message)
  })

  /**
   * A step that opens trades: durable first. Refused (nothing written) when the durable tier is
   * away or does not answer; when its reply is lost, the outcome is learned before anything else.
   */
  const persistOpening = Effect.fnUntraced(function*(current: EngineState, closes: ReadonlyArray<LedgerEntry>) {
    const before = yield* health.current
    const refused = (why: string) => new StepRefused({ sessionId, loopCount: current.session.loopCount, message: `${sessionId}: ${why}` })
    if (before.durableTier === "degraded") return yield* refused("the durable tier is away: no trade opens until it is back")
    const metadata = yield* writer.next("trade")
    // The step's closes count only once it is taken: a refused step is redone, and closes them again.
    const ledger = [...(yield* Ref.get(ledgerTail)), ...closes]
    // In doubt from the moment it is sent until its outcome is known: an interruption meanwhile
    // (SIGTERM) leaves it to the shutdown to settle.
    yield* Ref.set(writer.unsettled, Option.some({ metadata, state: current, ledger }))
    const written = yield* Effect.result(writer.commit(metadata, current, ledger))
    if (written._tag === "Failure") {
      const failure = written.failure
      if (SnapshotWriter.isOutcomeUnknown(failure)) {
        yield* health.inDoubt({ sequence: metadata.sequence, loopCount: current.session.loopCount })
        yield* Effect.logWarning(
          `${sessionId}: snapshot #${metadata.sequence} (loop ${current.session.loopCount}, opening a trade) was sent but not acknowledged; ` +
            `the runner waits until the database says whether it was committed`
        )
        yield* writer.commitPatiently(metadata, current, ledger)
        yield* Effect.logInfo(`${sessionId}: snapshot #${metadata.sequence} is committed; its trade stands`)
      } else {
        yield* Ref.set(writer.unsettled, Option.none())
        if (!SnapshotWriter.isStoreAway(failure)) return yield* failure
        yield* durableAway(before.pendingSnapshot, failure.message)
        return yield* refused(`the durable tier did not take the step (${failure.message}); it is redone without opening trades`)
      }
    }
    yield* Ref.set(lastState, current)
    yield* Ref.set(ledgerTail, ledger)
    yield* appended(ledger)
    yield* Ref.set(writer.unsettled, Option.none())
    yield* durableBack(current, "trade")
    yield* writeLive(current)
    yield* recordTierGauges(current)
  })

  const persist = Effect.fnUntraced(function*(current: EngineState, change: StepChange) {
    yield* keeper.held
    const closes = yield* Effect.fromResult(numberCloses(yield* Ref.get(lastState), current, change.closed ?? []))
    if (change.opensTrades === true) return yield* persistOpening(current, closes)
    yield* Ref.set(lastState, current)
    if (closes.length > 0) yield* Ref.update(ledgerTail, (tail) => [...tail, ...closes])
    yield* writeLive(current)
    const now = yield* Clock.currentTimeMillis
    const wanted: SnapshotType | null = change.tradesChanged
      ? "trade"
      : (yield* health.current).liveTier === "degraded" || now - (yield* writer.lastAt) >= interval
      ? "periodic"
      : null
    yield* writeDurable(current, wanted)
    yield* recordTierGauges(current)
  })

  /** The age of the newest durable snapshot, and how far the live state is ahead of it. */
  const recordTierGauges = Effect.fnUntraced(function*(current: EngineState) {
    const now = yield* Clock.currentTimeMillis
    yield* Metrics.setForSession(Metrics.durableSnapshotAge, sessionId, (now - (yield* writer.lastAt)) / 1000)
    const last = yield* writer.last
    const lag = Option.match(last, { onNone: () => current.session.loopCount, onSome: (s) => current.session.loopCount - s.loopCount })
    yield* Metrics.setForSession(Metrics.tierLagLoops, sessionId, lag)
  })

  const canTrade = Effect.gen(function*() {
    return !(yield* keeper.lost) && (yield* health.current).durableTier === "ok"
  })

  // Shutdown: on a normal end or an interruption (SIGINT/SIGTERM), mark the session stopped and
  // make that durable. A trade snapshot still in doubt is settled first (written again: it stands),
  // so that the stop never records a state older than one the database may hold; if it cannot be,
  // nothing is written over it. The stop takes a sequence of its own, and both are retried for a
  // few seconds while the database does not answer. On a failure, or once fenced, the session is
  // left as it is: `running`, so that AUTO resumes it, and never written by a runner that lost it.
  const stop = Effect.gen(function*(): Effect.fn.Return<ShutdownOutcome> {
    if (yield* keeper.lost) return { kind: "left_running", reason: "fenced", state: yield* Ref.get(lastState) }
    const unsettled = yield* Ref.get(writer.unsettled)
    if (Option.isSome(unsettled)) {
      const { ledger, metadata, state: inDoubt } = unsettled.value
      const settled = yield* Effect.result(writer.commitPatiently(metadata, inDoubt, ledger, shutdownBudgetMs))
      if (Result.isFailure(settled)) return { kind: "not_recorded", error: settled.failure, state: yield* Ref.get(lastState) }
      yield* Ref.set(lastState, inDoubt)
      yield* Ref.set(ledgerTail, ledger)
      yield* appended(ledger)
    }
    const current = yield* Ref.get(lastState)
    const stopped: EngineState = { ...current, session: { ...current.session, status: "stopped" } }
    const tail = yield* Ref.get(ledgerTail)
    yield* liveStore.save(stopped, token, tail).pipe(
      Effect.catch((error) => Effect.logWarning(`${sessionId}: the live tier missed the shutdown: ${error.message}`))
    )
    const metadata = yield* writer.next("shutdown")
    const written = yield* Effect.result(writer.commitPatiently(metadata, stopped, tail, shutdownBudgetMs))
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
  if (started.origin.kind === "clean") yield* commitWithLedger(yield* writer.next("periodic"), state, [])
  else {
    const { report } = started.origin
    const passedOver = report.skipped.filter((s) => s.kind !== "superseded")
    yield* events.record(sessionId, {
      kind: "resumed",
      fencingToken: token,
      loopCount: state.session.loopCount,
      detail: {
        source: report.source,
        snapshotId: report.snapshotId,
        sequence: report.sequence,
        // What the session had come to: a clean stop (its shutdown recorded) or a crash (it was left running).
        after: report.state.session.status === "stopped" ? "stop" : "crash",
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
    lastSnapshot: writer.last,
    fenced: keeper.lost,
    health: health.current,
    canTrade
  } satisfies ActiveSession
})
