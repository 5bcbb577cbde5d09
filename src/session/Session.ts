/**
 * Session: starting, persisting and stopping one trading session, composed
 * of its parts: the start (`SessionStart`: modes and locking), the lease
 * (`LeaseKeeper`), the tiers' health and backoff (`TierHealth`), the durable
 * snapshots in sequence (`SnapshotWriter`) and what each step and the stop
 * write (`SessionWrites`).
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
import { Duration, Effect, type Option, type Scope } from "effect"
import type { ClosedTrade, LedgerEntry } from "../domain/ClosedTrade.ts"
import * as CustomSection from "../domain/CustomSection.ts"
import type { EngineState } from "../domain/EngineState.ts"
import type { SessionId } from "../domain/Ids.ts"
import type { StateCodecError } from "../domain/StateCodecError.ts"
import type * as Restore from "../recovery/Restore.ts"
import type { Lease, LeaseError, SessionHeld } from "../store/SessionLease.ts"
import { SessionEvents } from "../store/SessionEvents.ts"
import type { SnapshotSummary } from "../store/SnapshotStore.ts"
import { TradeLedger } from "../store/TradeLedger.ts"
import type { Stores } from "../store/Persistence.ts"
import type { StoreError } from "../store/StoreError.ts"
import * as LeaseKeeper from "./LeaseKeeper.ts"
import type { SessionError } from "./SessionError.ts"
import { defaultHolder, type SessionMode, type SessionOrigin, start } from "./SessionStart.ts"
import * as SessionWrites from "./SessionWrites.ts"
import * as SnapshotWriter from "./SnapshotWriter.ts"
import type { StepRefused } from "./StepRefused.ts"
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

/** How many passed-over candidates a resume event records (with their count). */
const recordedSkips = 20

/**
 * A session older than the trade ledger, resumed: it counts closes the ledger never held, and says
 * so once (a `ledger_began` event with how many), so that an audit tells them from lost ones.
 */
const recordLedgerStart = (sessionId: SessionId, token: number, state: EngineState, tail: ReadonlyArray<LedgerEntry>) =>
  Effect.gen(function*() {
    const before = state.metrics.tradesClosed - tail.length
    if (before <= 0) return
    const events = yield* SessionEvents
    const recorded = yield* events.list(sessionId)
    if (recorded.some((event) => event.kind === "ledger_began" || event.kind === "ledger_cut")) return
    if ((yield* (yield* TradeLedger).list(sessionId, { limit: 1 })).length > 0) return
    const pnlBeforeUsd = state.metrics.totalPnlUsd - tail.reduce((sum, entry) => sum + entry.trade.realizedPnlUsd, 0)
    yield* events.record(sessionId, { kind: "ledger_began", fencingToken: token, loopCount: state.session.loopCount, detail: { afterClose: before, pnlBeforeUsd } })
  }).pipe(Effect.catch((error) => Effect.logWarning(`${sessionId}: the start of its trade ledger could not be recorded: ${error.message}`)))

/** Starts a session as `options.mode` says, under its lease; the shutdown snapshot is taken when the scope closes. */
export const initialize = Effect.fn("Session.initialize")(function*<E = never>(options: SessionOptions<E>): Effect.fn.Return<
  ActiveSession,
  SessionError | Restore.RestoreError | StoreError | StateCodecError | LeaseError | E,
  Stores | Scope.Scope
> {
  yield* Effect.fromResult(CustomSection.checkDeclarations(options.sections ?? []))
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
  const writes = yield* SessionWrites.make({
    sessionId,
    token,
    keeper,
    health,
    writer,
    state,
    ledgerTail: started.origin.kind === "resumed" ? started.origin.report.ledgerTail : [],
    snapshotIntervalMs: Duration.toMillis(Duration.fromInputUnsafe(options.policy.snapshotInterval))
  })

  yield* Effect.addFinalizer((exit) =>
    Effect.gen(function*() {
      const outcome: ShutdownOutcome = exit._tag === "Failure" && !exit.cause.reasons.every((reason) => reason._tag === "Interrupt")
        ? { kind: "left_running", reason: "failed", state: yield* writes.lastState }
        : yield* writes.stop
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
  yield* writes.writeLive(state)
  if (started.origin.kind === "clean") yield* writes.commitWithLedger(yield* writer.next("periodic"), state, [])
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
    yield* recordLedgerStart(sessionId, token, state, report.ledgerTail)
  }

  return {
    sessionId,
    initialState: state,
    origin: started.origin,
    lease,
    persist: writes.persist,
    lastSnapshot: writer.last,
    fenced: keeper.lost,
    health: health.current,
    canTrade: writes.canTrade
  } satisfies ActiveSession
})
