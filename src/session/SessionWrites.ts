/**
 * SessionWrites: what a running session writes, step by step, and at its
 * stop (see `Session` for the policy): the live tier on every step, a lost
 * fence raised again once the lease confirms it, any other failure degrading
 * it; the durable snapshots the policy asks for, each with the ledger tail it
 * appends; a step that opens trades durable first (refused, or waited on
 * until its outcome is known); and the shutdown snapshot, after settling a
 * trade snapshot still in doubt.
 */
import { Clock, Duration, Effect, Option, Ref, Result } from "effect"
import { type LedgerEntry, numberCloses } from "../domain/ClosedTrade.ts"
import type { EngineState } from "../domain/EngineState.ts"
import type { SessionId } from "../domain/Ids.ts"
import type { SnapshotType } from "../domain/Snapshot.ts"
import * as Metrics from "../observability/PersistenceMetrics.ts"
import { LiveStateStore } from "../store/LiveStateStore.ts"
import type { LeaseKeeper } from "./LeaseKeeper.ts"
import type { ShutdownOutcome, StepChange } from "./Session.ts"
import * as SnapshotWriter from "./SnapshotWriter.ts"
import { StepRefused } from "./StepRefused.ts"
import * as TierHealth from "./TierHealth.ts"

/** How long a stop may wait for the durable tier to answer before it is given up as not recorded. */
const shutdownBudgetMs = 5_000

/** What a session's writes start from. */
export interface WritesOptions {
  readonly sessionId: SessionId
  readonly token: number
  readonly keeper: LeaseKeeper
  readonly health: TierHealth.TierHealth
  readonly writer: SnapshotWriter.SnapshotWriter
  /** The state the session starts from. */
  readonly state: EngineState
  /** Its closes not yet in the durable ledger (a resume from the live tier may bring some). */
  readonly ledgerTail: ReadonlyArray<LedgerEntry>
  readonly snapshotIntervalMs: number
}

/** The writes of a running session. */
export const make = Effect.fnUntraced(function*(options: WritesOptions) {
  const { health, keeper, sessionId, token, writer } = options
  const liveStore = yield* LiveStateStore
  const interval = options.snapshotIntervalMs
  const state = options.state
  const lastState = yield* Ref.make(state)
  /** The closes the state counts that the durable ledger does not hold yet (see `Session`'s header). */
  const ledgerTail = yield* Ref.make<ReadonlyArray<LedgerEntry>>(options.ledgerTail)
  /** The tail once `written` (what a snapshot appended) is durable. */
  const appended = (written: ReadonlyArray<LedgerEntry>) => {
    const upTo = written.reduce((max, entry) => Math.max(max, entry.closeNumber), 0)
    // The same array when nothing left it: the live tier rewrites the tail only when it changed.
    return Ref.update(ledgerTail, (tail) => (tail.some((entry) => entry.closeNumber <= upTo) ? tail.filter((entry) => entry.closeNumber > upTo) : tail))
  }
  /** Commits a snapshot with the ledger tail it carries; what it appended leaves the tail. */
  const commitWithLedger = (metadata: SnapshotWriter.Unsettled["metadata"], current: EngineState, ledger: ReadonlyArray<LedgerEntry>) =>
    Effect.tap(writer.commit(metadata, current, ledger), () => appended(ledger))

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
    const standing = yield* Ref.get(ledgerTail)
    const ledger = closes.length === 0 ? standing : [...standing, ...closes]
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
  return {
    persist,
    stop,
    writeLive,
    commitWithLedger,
    canTrade,
    /** The state the runner last persisted. */
    lastState: Ref.get(lastState)
  }
})
