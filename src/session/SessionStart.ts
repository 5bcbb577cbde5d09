/**
 * SessionStart: how a session starts, under its lease.
 *
 * - `CLEAN_RESET`: a new session (a new id, or a given id that has no
 *   snapshot yet); its live state is cleared.
 * - `RESUME_FROM_STATE`: the restore pipeline picks the freshest valid state,
 *   marked running.
 * - `AUTO`: the given session resumed if it has state (started clean if not),
 *   or else the most recent session a crash left `running` whose lease is
 *   free; a clean session when there is none.
 *
 * Nothing but the lease and the live tier's fence is written here: the
 * session writes its first state once its runner has admitted it.
 */
import { Clock, type Duration, Effect } from "effect"
import { randomBytes } from "node:crypto"
import { hostname } from "node:os"
import type { EngineState } from "../domain/EngineState.ts"
import { SessionId } from "../domain/Ids.ts"
import * as Restore from "../recovery/Restore.ts"
import { describeReport, type Restored } from "../recovery/RestoreReport.ts"
import { LiveStateStore } from "../store/LiveStateStore.ts"
import { acquireWaiting, type Lease, type SessionHeld, SessionLease } from "../store/SessionLease.ts"
import { SnapshotStore } from "../store/SnapshotStore.ts"
import { SessionError, SessionExists, SessionIdRequired, SessionNotFound, SessionUnrecoverable } from "./SessionError.ts"

/** How a session starts. */
export type SessionMode = "CLEAN_RESET" | "RESUME_FROM_STATE" | "AUTO"

/** How the session came to be. */
export type SessionOrigin =
  | { readonly kind: "clean" }
  | { readonly kind: "resumed"; readonly report: Restored }

/** A session held and its starting state, nothing of it written yet. */
export interface Started {
  readonly sessionId: SessionId
  readonly lease: Lease
  readonly state: EngineState
  readonly origin: SessionOrigin
}

/** What a start needs to know. */
export interface StartOptions {
  readonly mode: SessionMode
  readonly sessionId?: SessionId | undefined
  readonly newState: (sessionId: SessionId) => EngineState
  readonly restore: Restore.RestoreOptions
  readonly holder: string
  readonly ttl: Duration.Input
  readonly wait: Duration.Input
  readonly onWait?: ((held: SessionHeld) => Effect.Effect<void>) | undefined
}

/** A new session id: `sess_` + UTC time + random suffix. */
export const newSessionId = (now: number): SessionId => {
  const stamp = new Date(now).toISOString().replace(/[-:T]/g, "").slice(0, 14)
  return SessionId.make(`sess_${stamp}_${randomBytes(3).toString("hex")}`)
}

/** A holder name that tells operators where a runner runs. */
export const defaultHolder = (): string => `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`

/**
 * The sessions of the env a crash left `running`, most recent first: those whose latest snapshot
 * says so, then those that only have live state. (A live runner's session is among them too; its
 * lease tells them apart.)
 */
export const interruptedSessions = Effect.gen(function*() {
  const durable = yield* (yield* SnapshotStore).listSessions()
  const running = durable.filter((s) => s.status === "running").map((s) => s.sessionId)
  const liveOnly = (yield* (yield* LiveStateStore).listSessions()).filter((id) => !durable.some((s) => s.sessionId === id))
  return [...running, ...liveOnly]
})

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
    /** Told once when the lease is found held and there is time to wait for it. */
    readonly onWait?: ((held: SessionHeld) => Effect.Effect<void>) | undefined
  }
) =>
  Effect.gen(function*() {
    const liveStore = yield* LiveStateStore
    const leases = yield* SessionLease
    const raise = (token: number) =>
      liveStore.raiseFence(sessionId, token).pipe(
        Effect.catch((error) =>
          Effect.as(Effect.logWarning(`${sessionId}: the live tier did not take the fence now (${error.message})`), null)
        )
      )
    return yield* Effect.acquireRelease(
      Effect.gen(function*() {
        const granted = yield* acquireWaiting(leases, sessionId, lease.holder, lease.ttl, lease.wait, lease.onWait)
        const fence = yield* raise(granted.fencingToken)
        if (fence === null || fence <= granted.fencingToken) return granted
        yield* Effect.logWarning(
          `${sessionId}: the live tier's fence ${fence} is above the lease's token ${granted.fencingToken}; the lease is taken above it`
        )
        const above = yield* leases.acquire(sessionId, lease.holder, lease.ttl, { above: fence })
        yield* raise(above.fencingToken)
        return above
      }),
      (held) => leases.release(held).pipe(Effect.ignore)
    )
  })

const sessionError = (reason: SessionError["reason"]) => new SessionError({ reason })

/** Starts as `options.mode` says: the session held, and the state it starts from. */
export const start = Effect.fnUntraced(function*(options: StartOptions) {
  const liveStore = yield* LiveStateStore
  const snapshots = yield* SnapshotStore
  const lock = (sessionId: SessionId, wait: Duration.Input) => hold(sessionId, { holder: options.holder, ttl: options.ttl, wait, onWait: options.onWait })

  /** Clears a clean session's live state; the first write replaces it whole anyway, so only a stale token stops the start. */
  const clearLive = (sessionId: SessionId, lease: Lease) =>
    liveStore.delete(sessionId, lease.fencingToken).pipe(
      Effect.catchIf(
        (error) => error.reason._tag !== "Fenced",
        (error) => Effect.logWarning(`${sessionId}: the live state could not be cleared now (${error.message})`)
      )
    )

  const fresh = (sessionId: SessionId, lease: Lease): Started => ({
    sessionId,
    lease,
    state: options.newState(sessionId),
    origin: { kind: "clean" }
  })

  const clean = Effect.fnUntraced(function*(requested: SessionId | undefined) {
    const sessionId = requested ?? newSessionId(yield* Clock.currentTimeMillis)
    const lease = yield* lock(sessionId, options.wait)
    if (requested !== undefined && (yield* snapshots.listSnapshots(requested, 1)).length > 0) {
      return yield* sessionError(new SessionExists({
        sessionId: requested,
        message: `${requested} already has snapshots; resume it, or start a clean session with a new id`
      }))
    }
    yield* clearLive(sessionId, lease)
    return fresh(sessionId, lease)
  })

  const resumeHeld = Effect.fnUntraced(function*(sessionId: SessionId, lease: Lease) {
    const report = yield* Restore.run(sessionId, options.restore)
    if (report.outcome === "fresh") {
      return yield* sessionError(new SessionNotFound({ sessionId, message: `${sessionId} has no state to resume` }))
    }
    if (report.outcome === "unrecoverable") {
      return yield* sessionError(new SessionUnrecoverable({ sessionId, message: describeReport(report) }))
    }
    const state: EngineState = { ...report.state, session: { ...report.state.session, status: "running" } }
    return { sessionId, lease, state, origin: { kind: "resumed", report } } satisfies Started
  })

  const auto = Effect.fnUntraced(function*(requested: SessionId | undefined) {
    if (requested !== undefined) {
      const lease = yield* lock(requested, options.wait)
      const report = yield* Restore.run(requested, options.restore)
      if (report.outcome === "fresh") {
        yield* clearLive(requested, lease)
        return fresh(requested, lease)
      }
      return yield* resumeHeld(requested, lease)
    }
    for (const candidate of yield* interruptedSessions) {
      const attempt = yield* Effect.result(lock(candidate, 0))
      if (attempt._tag === "Success") return yield* resumeHeld(candidate, attempt.success)
    }
    return yield* clean(undefined)
  })

  switch (options.mode) {
    case "CLEAN_RESET":
      return yield* clean(options.sessionId)
    case "RESUME_FROM_STATE":
      return options.sessionId === undefined
        ? yield* sessionError(new SessionIdRequired({ message: "RESUME_FROM_STATE needs the id of the session to resume" }))
        : yield* resumeHeld(options.sessionId, yield* lock(options.sessionId, options.wait))
    case "AUTO":
      return yield* auto(options.sessionId)
  }
})
