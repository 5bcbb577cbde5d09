/**
 * The session lifecycle on the memory stores: modes, the persistence policy
 * and the shutdown snapshot.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, Layer, Option, Scope } from "effect"
import { TestClock } from "effect/testing"
import { Env, SessionId } from "../../src/domain/Ids.ts"
import { newSessionState, runLoop } from "../../src/runner/ArbitrageStrategy.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import * as Session from "../../src/session/Session.ts"
import { LiveStateStore } from "../../src/store/LiveStateStore.ts"
import * as Persistence from "../../src/store/Persistence.ts"
import * as LiveStateStoreModule from "../../src/store/LiveStateStore.ts"
import { SessionLease } from "../../src/store/SessionLease.ts"
import type { SnapshotRow } from "../../src/store/internal/SnapshotRows.ts"
import { SessionEvents } from "../../src/store/SessionEvents.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import { memoryDurableOver } from "../support/Backings.ts"

const env = Env.make("unit")
const campaign = campaigns.balanced!
const newState = (sessionId: SessionId) => newSessionState({ sessionId, campaign, startTime: Date.UTC(2026, 0, 1) })
const options = (mode: Session.SessionMode, sessionId?: SessionId): Session.SessionOptions => ({
  mode,
  ...(sessionId === undefined ? {} : { sessionId }),
  newState,
  policy: { snapshotInterval: "5 minutes" }
})
const memory = () => Persistence.layerMemory(env)

/** Runs `body` inside a session's scope and closes it with `exit`. */
const withSession = <A, E>(
  sessionOptions: Session.SessionOptions,
  body: (session: Session.ActiveSession) => Effect.Effect<A, E, Persistence.Stores>,
  exit: Exit.Exit<unknown, unknown> = Exit.void
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const session = yield* Session.initialize(sessionOptions).pipe(Scope.provide(scope))
    const result = yield* body(session)
    yield* Scope.close(scope, exit)
    return { session, result }
  })

const snapshotTypes = (sessionId: SessionId) =>
  Effect.gen(function*() {
    const list = yield* (yield* SnapshotStore).listSnapshots(sessionId)
    return list.map((s) => `${s.sequence}:${s.snapshotType}:${s.status}`)
  })

describe("Session.initialize", () => {
  it.effect("CLEAN_RESET makes a new session id, writes the live state and a first snapshot", () =>
    Effect.gen(function*() {
      const { session } = yield* withSession(options("CLEAN_RESET"), () => Effect.void)
      assert.match(session.sessionId, /^sess_\d{14}_[0-9a-f]{6}$/)
      assert.strictEqual(session.origin.kind, "clean")
      assert.deepStrictEqual(yield* snapshotTypes(session.sessionId), ["2:shutdown:stopped", "1:periodic:running"])
      const live = Option.getOrThrow(yield* (yield* LiveStateStore).load(session.sessionId)).state
      assert.strictEqual(live.session.status, "stopped")
    }).pipe(Effect.provide(memory())))

  it.effect("two CLEAN_RESETs give two different sessions", () =>
    Effect.gen(function*() {
      const first = yield* withSession(options("CLEAN_RESET"), () => Effect.void)
      const second = yield* withSession(options("CLEAN_RESET"), () => Effect.void)
      assert.notStrictEqual(first.session.sessionId, second.session.sessionId)
    }).pipe(Effect.provide(memory())))

  it.effect("CLEAN_RESET with the id of a session that has snapshots is refused", () =>
    Effect.gen(function*() {
      const id = SessionId.make("sess_taken0001")
      yield* withSession(options("CLEAN_RESET", id), () => Effect.void)
      const error = yield* Effect.flip(withSession(options("CLEAN_RESET", id), () => Effect.void))
      assert.strictEqual(error._tag === "SessionError" ? error.reason._tag : error._tag, "SessionExists")
    }).pipe(Effect.provide(memory())))

  it.effect("RESUME_FROM_STATE needs an id, and a session that has state", () =>
    Effect.gen(function*() {
      const missingId = yield* Effect.flip(withSession(options("RESUME_FROM_STATE"), () => Effect.void))
      assert.strictEqual(missingId._tag === "SessionError" ? missingId.reason._tag : missingId._tag, "SessionIdRequired")
      const unknown = yield* Effect.flip(withSession(options("RESUME_FROM_STATE", SessionId.make("sess_unknown01")), () => Effect.void))
      assert.strictEqual(unknown._tag === "SessionError" ? unknown.reason._tag : unknown._tag, "SessionNotFound")
    }).pipe(Effect.provide(memory())))

  it.effect("RESUME_FROM_STATE gives back the state persisted last, marked running, and continues the sequence", () =>
    Effect.gen(function*() {
      const id = SessionId.make("sess_resume001")
      let state = newState(id)
      yield* withSession(options("CLEAN_RESET", id), (session) =>
        Effect.gen(function*() {
          for (let i = 0; i < 50; i++) {
            const step = runLoop(state, campaign, { seed: 7, tickMs: 1000 })
            state = step.state
            yield* session.persist(state, { tradesChanged: step.events.opened.length + step.events.closed.length > 0 })
          }
        }))
      const { session } = yield* withSession(options("RESUME_FROM_STATE", id), () => Effect.void)
      assert.strictEqual(session.origin.kind, "resumed")
      assert.deepStrictEqual(session.initialState, { ...state, session: { ...state.session, status: "running" } })
      const sequences = (yield* (yield* SnapshotStore).listSnapshots(id)).map((s) => s.sequence)
      assert.deepStrictEqual(sequences, [...sequences].sort((a, b) => b - a))
      assert.strictEqual(new Set(sequences).size, sequences.length)
    }).pipe(Effect.provide(memory())))

  it.effect("a trade is durable when persist returns; a quiet loop only writes the live tier", () =>
    Effect.gen(function*() {
      const id = SessionId.make("sess_policy001")
      yield* withSession(options("CLEAN_RESET", id), (session) =>
        Effect.gen(function*() {
          const state = newState(id)
          yield* session.persist({ ...state, session: { ...state.session, loopCount: 1 } }, { tradesChanged: false })
          assert.deepStrictEqual(yield* snapshotTypes(id), ["1:periodic:running"])
          yield* session.persist({ ...state, session: { ...state.session, loopCount: 2 } }, { tradesChanged: true })
          assert.deepStrictEqual(yield* snapshotTypes(id), ["2:trade:running", "1:periodic:running"])
          const live = Option.getOrThrow(yield* (yield* LiveStateStore).load(id)).state
          assert.strictEqual(live.session.loopCount, 2)
        }))
    }).pipe(Effect.provide(memory())))

  it.effect("a periodic snapshot is taken once the interval has passed", () =>
    Effect.gen(function*() {
      const id = SessionId.make("sess_periodic1")
      yield* withSession(options("CLEAN_RESET", id), (session) =>
        Effect.gen(function*() {
          const state = newState(id)
          yield* TestClock.adjust("4 minutes")
          yield* session.persist(state, { tradesChanged: false })
          assert.lengthOf(yield* snapshotTypes(id), 1)
          yield* TestClock.adjust("1 minute")
          yield* session.persist(state, { tradesChanged: false })
          assert.deepStrictEqual(yield* snapshotTypes(id), ["2:periodic:running", "1:periodic:running"])
        }))
    }).pipe(Effect.provide(memory())))

  it.effect("an interrupted session (SIGINT/SIGTERM) takes the shutdown snapshot; a failed one stays running for AUTO", () =>
    Effect.gen(function*() {
      const interrupted = SessionId.make("sess_interrupt")
      const fiber = yield* Effect.forkChild(
        Effect.scoped(Effect.flatMap(Session.initialize(options("CLEAN_RESET", interrupted)), () => Effect.never))
      )
      yield* Effect.yieldNow
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual((yield* snapshotTypes(interrupted))[0], "2:shutdown:stopped")

      const failed = SessionId.make("sess_failed001")
      yield* withSession(options("CLEAN_RESET", failed), () => Effect.void, Exit.fail("boom"))
      assert.deepStrictEqual(yield* snapshotTypes(failed), ["1:periodic:running"])

      // AUTO without an id finds the session a failure left running, and resumes it, recording the crash.
      const { session } = yield* withSession(options("AUTO"), () => Effect.void)
      assert.strictEqual(session.sessionId, failed)
      assert.strictEqual(session.origin.kind, "resumed")
      assert.strictEqual((yield* (yield* SessionEvents).list(failed))[0]?.detail["after"], "crash")
    }).pipe(Effect.provide(memory())))

  it.effect("AUTO starts clean when nothing is left running, and with a fresh id given, uses that id", () =>
    Effect.gen(function*() {
      // A cleanly stopped session still has live state; it is not "interrupted".
      const stopped = yield* withSession(options("CLEAN_RESET"), () => Effect.void)
      assert.isTrue(Option.isSome(yield* (yield* LiveStateStore).load(stopped.session.sessionId)))
      const { session } = yield* withSession(options("AUTO"), () => Effect.void)
      assert.notStrictEqual(session.sessionId, stopped.session.sessionId)
      assert.strictEqual(session.origin.kind, "clean")
      const given = SessionId.make("sess_givenauto")
      const second = yield* withSession(options("AUTO", given), () => Effect.void)
      assert.strictEqual(second.session.sessionId, given)
      assert.strictEqual(second.session.origin.kind, "clean")
    }).pipe(Effect.provide(memory())))

  it.effect("admit refuses a session before anything is written: no snapshot, no live state, the lease given back", () =>
    Effect.gen(function*() {
      const id = SessionId.make("sess_admit0001")
      const refused = yield* Effect.flip(Effect.scoped(Session.initialize({ ...options("CLEAN_RESET", id), admit: () => Effect.fail("cannot run it") })))
      assert.strictEqual(refused, "cannot run it")
      assert.deepStrictEqual(yield* snapshotTypes(id), [])
      assert.isTrue(Option.isNone(yield* (yield* LiveStateStore).load(id)))
      const lease = Option.getOrThrow(yield* (yield* SessionLease).current(id))
      assert.isAtMost(lease.expiresAt, yield* Clock.currentTimeMillis)
    }).pipe(Effect.provide(memory())))

  it.effect("a damaged row with a sequence past the safe integers does not stop the session: it writes on below it", () => {
    const rows: Array<SnapshotRow> = []
    const stores = Layer.merge(LiveStateStoreModule.layerMemory(env), memoryDurableOver(env, rows))
    return Effect.gen(function*() {
      const id = SessionId.make("sess_bigseq001")
      yield* withSession(options("CLEAN_RESET", id), () => Effect.void)
      rows.push({ ...rows[1]!, snapshotId: 99, sequence: 2 ** 53, checksum: "sha256:0" })
      const { session } = yield* withSession(options("RESUME_FROM_STATE", id), (session) =>
        session.persist({ ...session.initialState, session: { ...session.initialState.session, loopCount: 1 } }, { tradesChanged: true }))
      assert.strictEqual(session.origin.kind, "resumed")
      assert.deepStrictEqual((yield* snapshotTypes(id)).slice(1), ["4:shutdown:stopped", "3:trade:running", "2:shutdown:stopped", "1:periodic:running"])
    }).pipe(Effect.provide(stores))
  })

  it.effect("a resume records where it came from, naming the first 20 candidates it passed over and counting them all", () => {
    const rows: Array<SnapshotRow> = []
    const stores = Layer.merge(LiveStateStoreModule.layerMemory(env), memoryDurableOver(env, rows))
    return Effect.gen(function*() {
      const id = SessionId.make("sess_events001")
      let state = newState(id)
      yield* withSession(options("CLEAN_RESET", id), (session) =>
        Effect.gen(function*() {
          for (let loop = 1; loop <= 30; loop++) {
            state = { ...state, session: { ...state.session, loopCount: loop } }
            yield* session.persist(state, { tradesChanged: true })
          }
        }))
      // Every snapshot but the first is damaged, and the live tier is gone.
      for (let i = 1; i < rows.length; i++) rows[i] = { ...rows[i]!, checksum: "sha256:0" }
      yield* (yield* LiveStateStore).delete(id, Option.getOrThrow(yield* (yield* SessionLease).current(id)).fencingToken)
      yield* withSession(options("RESUME_FROM_STATE", id), () => Effect.void)
      const [event] = yield* (yield* SessionEvents).list(id)
      assert.strictEqual(event?.detail["skippedCount"], 31)
      // Its shutdown snapshot is among the damaged: the state it resumed from was left running.
      assert.strictEqual(event?.detail["after"], "crash")
      assert.lengthOf(event?.detail["skipped"] as ReadonlyArray<unknown>, 20)
    }).pipe(Effect.provide(stores))
  })
})
