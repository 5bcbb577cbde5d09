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
 * `stopped`; one that dies keeps `running`, which is how AUTO finds it.
 */
import { Clock, Duration, Effect, Option, Ref, type Scope } from "effect"
import { randomBytes } from "node:crypto"
import type { EngineState } from "../domain/EngineState.ts"
import { SessionId } from "../domain/Ids.ts"
import type { SnapshotType } from "../domain/Snapshot.ts"
import type { StateCodecError } from "../domain/StateCodecError.ts"
import * as Restore from "../recovery/Restore.ts"
import { describeReport, type RestoreReport } from "../recovery/RestoreReport.ts"
import { HotStateStore } from "../store/HotStateStore.ts"
import { SnapshotStore, type SnapshotSummary } from "../store/SnapshotStore.ts"
import type { StoreError } from "../store/StoreError.ts"
import {
  SessionError,
  SessionExists,
  SessionIdRequired,
  SessionNotFound,
  SessionUnrecoverable
} from "./SessionError.ts"

/** How a session starts. */
export type SessionMode = "CLEAN_RESET" | "RESUME_FROM_STATE" | "AUTO"

/** When durable snapshots are taken besides trades and shutdown, and how far a restore looks back. */
export interface PersistencePolicy {
  readonly snapshotInterval: Duration.Input
  readonly restoreDepth?: number
}

/** What to start. */
export interface SessionOptions {
  readonly mode: SessionMode
  readonly sessionId?: SessionId
  /** The state of a new session with this id. */
  readonly newState: (sessionId: SessionId) => EngineState
  readonly policy: PersistencePolicy
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
  /** Persists the state after a loop; with `tradesChanged`, the durable snapshot is committed before this returns. */
  readonly persist: (
    state: EngineState,
    change: { readonly tradesChanged: boolean }
  ) => Effect.Effect<void, StoreError | StateCodecError>
  /** The most recent durable snapshot this session took. */
  readonly lastSnapshot: Effect.Effect<Option.Option<SnapshotSummary>>
}

/** A new session id: `sess_` + UTC time + random suffix. */
export const newSessionId = (now: number): SessionId => {
  const stamp = new Date(now).toISOString().replace(/[-:T]/g, "").slice(0, 14)
  return SessionId.make(`sess_${stamp}_${randomBytes(3).toString("hex")}`)
}

const sessionError = (reason: SessionError["reason"]) => new SessionError({ reason })

/** Starts a session as `options.mode` says; the shutdown snapshot is taken when the scope closes. */
export const initialize = Effect.fn("Session.initialize")(function*(options: SessionOptions): Effect.fn.Return<
  ActiveSession,
  SessionError | Restore.RestoreError | StoreError | StateCodecError,
  HotStateStore | SnapshotStore | Scope.Scope
> {
  const hot = yield* HotStateStore
  const snapshots = yield* SnapshotStore
  const restoreOptions = options.policy.restoreDepth === undefined ? {} : { depth: options.policy.restoreDepth }

  const clean = Effect.fnUntraced(function*(requested: SessionId | undefined) {
    const sessionId = requested ?? newSessionId(yield* Clock.currentTimeMillis)
    if (requested !== undefined && (yield* snapshots.listSnapshots(requested, 1)).length > 0) {
      return yield* sessionError(new SessionExists({
        sessionId: requested,
        message: `${requested} already has snapshots; resume it, or start a clean session with a new id`
      }))
    }
    yield* hot.delete(sessionId)
    return { sessionId, state: options.newState(sessionId), origin: { kind: "clean" } as SessionOrigin }
  })

  const resume = Effect.fnUntraced(function*(sessionId: SessionId) {
    const report = yield* Restore.run(sessionId, restoreOptions)
    if (report.outcome === "fresh") {
      return yield* sessionError(new SessionNotFound({ sessionId, message: `${sessionId} has no state to resume` }))
    }
    if (report.outcome === "unrecoverable" || report.state === null) {
      return yield* sessionError(new SessionUnrecoverable({ sessionId, message: describeReport(report) }))
    }
    const state: EngineState = { ...report.state, session: { ...report.state.session, status: "running" } }
    return { sessionId, state, origin: { kind: "resumed", report } as SessionOrigin }
  })

  /** The session AUTO resumes when no id is given: the most recent one a crash left `running`. */
  const crashedSession = Effect.gen(function*() {
    const durable = (yield* snapshots.listSessions()).filter((s) => s.status === "running")
    if (durable.length > 0) return Option.some(durable[0]!.sessionId as SessionId)
    const live = yield* hot.listSessions()
    return Option.fromNullishOr(live[0])
  })

  const auto = Effect.fnUntraced(function*(requested: SessionId | undefined) {
    const target = requested === undefined ? yield* crashedSession : Option.some(requested)
    if (Option.isNone(target)) return yield* clean(undefined)
    const report = yield* Restore.run(target.value, restoreOptions)
    if (report.outcome === "fresh") return yield* clean(requested)
    return yield* resume(target.value)
  })

  const started = options.mode === "CLEAN_RESET"
    ? yield* clean(options.sessionId)
    : options.mode === "RESUME_FROM_STATE"
    ? options.sessionId === undefined
      ? yield* sessionError(new SessionIdRequired({ message: "RESUME_FROM_STATE needs the id of the session to resume" }))
      : yield* resume(options.sessionId)
    : yield* auto(options.sessionId)

  const { sessionId, state } = started
  const latest = yield* snapshots.listSnapshots(sessionId, 1)
  const sequence = yield* Ref.make(latest[0]?.sequence ?? 0)
  const lastSnapshot = yield* Ref.make<Option.Option<SnapshotSummary>>(Option.fromNullishOr(latest[0]))
  const lastSnapshotAt = yield* Ref.make(yield* Clock.currentTimeMillis)
  const lastState = yield* Ref.make(state)
  const interval = Duration.toMillis(Duration.fromInputUnsafe(options.policy.snapshotInterval))

  const snapshot = Effect.fnUntraced(function*(current: EngineState, snapshotType: SnapshotType) {
    const now = yield* Clock.currentTimeMillis
    const next = (yield* Ref.get(sequence)) + 1
    const summary = yield* snapshots.save({ sessionId, snapshotType, sequence: next, fencingToken: 1, createdAt: now }, current)
    yield* Ref.set(sequence, next)
    yield* Ref.set(lastSnapshot, Option.some(summary))
    yield* Ref.set(lastSnapshotAt, now)
  })

  const persist = Effect.fnUntraced(function*(current: EngineState, change: { readonly tradesChanged: boolean }) {
    yield* Ref.set(lastState, current)
    yield* hot.save(current)
    const now = yield* Clock.currentTimeMillis
    if (change.tradesChanged) yield* snapshot(current, "trade")
    else if (now - (yield* Ref.get(lastSnapshotAt)) >= interval) yield* snapshot(current, "periodic")
  })

  // Shutdown: on a normal end or an interruption (SIGINT/SIGTERM), mark the session stopped and
  // make that durable. On a failure the session stays `running`, so that AUTO resumes it.
  yield* Effect.addFinalizer((exit) =>
    exit._tag === "Failure" && !exit.cause.reasons.every((reason) => reason._tag === "Interrupt")
      ? Effect.void
      : Effect.gen(function*() {
        const current = yield* Ref.get(lastState)
        const stopped: EngineState = { ...current, session: { ...current.session, status: "stopped" } }
        yield* hot.save(stopped)
        yield* snapshot(stopped, "shutdown")
      }).pipe(
        Effect.catch((error) => Effect.logError(`shutdown snapshot of ${sessionId} failed: ${error.message}`))
      )
  )

  // A clean session is made durable at once; a resumed one is written back to the live tier.
  yield* hot.save(state)
  if (started.origin.kind === "clean") yield* snapshot(state, "periodic")

  return {
    sessionId,
    initialState: state,
    origin: started.origin,
    persist,
    lastSnapshot: Ref.get(lastSnapshot)
  } satisfies ActiveSession
})
