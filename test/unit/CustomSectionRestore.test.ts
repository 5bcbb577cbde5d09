/**
 * A restore given the runner's own sections verifies them: an older version
 * comes back upgraded, and a state whose section its Schema refuses is passed
 * over like any invalid state (on the memory stores).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option, Result, Scope } from "effect"
import * as CustomSection from "../../src/domain/CustomSection.ts"
import type { EngineState } from "../../src/domain/EngineState.ts"
import { Env, SessionId } from "../../src/domain/Ids.ts"
import * as Restore from "../../src/recovery/Restore.ts"
import { newSessionState, simulatedStart } from "../../src/runner/ArbitrageStrategy.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import * as Session from "../../src/session/Session.ts"
import * as Persistence from "../../src/store/Persistence.ts"
import { SessionLease } from "../../src/store/SessionLease.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import { cooldown, declared, indicators } from "../support/CustomSections.ts"
import { expectRestored } from "../support/Results.ts"

const env = Env.make("customrestore")
const options = (mode: Session.SessionMode, sessionId: SessionId, sections?: ReadonlyArray<CustomSection.DeclaredSection>): Session.SessionOptions => ({
  mode,
  sessionId,
  newState: (id) => newSessionState({ sessionId: id, campaign: campaigns.balanced!, startTime: simulatedStart }),
  policy: { snapshotInterval: "5 minutes" },
  ...(sections === undefined ? {} : { sections })
})

/** Runs a session through `states` (each persisted as a step that changed trades), then kills it. */
const runThrough = (sessionOptions: Session.SessionOptions, states: (initial: EngineState) => ReadonlyArray<EngineState>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const session = yield* Session.initialize(sessionOptions).pipe(Scope.provide(scope))
    for (const state of states(session.initialState)) yield* session.persist(state, { tradesChanged: true })
    yield* Scope.close(scope, Exit.fail("killed"))
    return session
  })

const at = (state: EngineState, loop: number, custom: EngineState["custom"]): EngineState => ({
  ...state,
  session: { ...state.session, loopCount: loop },
  ...(custom === undefined ? {} : { custom })
})

describe("a restore that knows the runner's sections", () => {
  it.effect("gives back a section stored at an older version upgraded, and a resumed session holds it so", () =>
    Effect.gen(function*() {
      const id = SessionId.make("sess_custup01")
      // An older build of the runner wrote its indicators at version 1.
      yield* runThrough(options("CLEAN_RESET", id), (initial) => [at(initial, 1, { indicators: { version: 1, ema: 42.5 } })])
      const report = expectRestored(yield* Restore.run(id, { sections: declared }))
      assert.deepStrictEqual(report.state.custom, { indicators: { version: 2, emaFast: 42.5, emaSlow: 42.5, window: [] } })
      const resumed = yield* Effect.scoped(Session.initialize(options("RESUME_FROM_STATE", id, declared)))
      const value = Option.getOrThrow(Result.getOrThrow(CustomSection.get(resumed.initialState, indicators)))
      assert.deepStrictEqual(value, { emaFast: 42.5, emaSlow: 42.5, window: [] })
    }).pipe(Effect.provide(Persistence.layerMemory(env))))

  it.effect("passes over a state whose section its Schema refuses (live and snapshot), falling back to the last good one", () =>
    Effect.gen(function*() {
      const id = SessionId.make("sess_custbad01")
      const good = Result.getOrThrow(CustomSection.set(newSessionState({ sessionId: id, campaign: campaigns.balanced!, startTime: simulatedStart }), cooldown, { until: 9, symbols: [] }))
      yield* runThrough(options("CLEAN_RESET", id), (initial) => [
        at(initial, 1, good.custom),
        // A bug wrote a cooldown its Schema refuses: versioned JSON, so the stores take it.
        at(initial, 2, { cooldown: { version: 1, until: -5, symbols: "BTC" } })
      ])
      // Without the declarations the core cannot tell: it restores loop 2.
      assert.strictEqual(expectRestored(yield* Restore.run(id)).state.session.loopCount, 2)
      const report = expectRestored(yield* Restore.run(id, { sections: declared }))
      assert.strictEqual(report.state.session.loopCount, 1)
      assert.deepStrictEqual(report.state.custom, good.custom)
      const invalid = report.skipped.filter((s) => s.kind === "invalid")
      assert.deepStrictEqual(invalid.map((s) => s.source).sort(), ["live", "snapshot"])
      for (const skipped of invalid) assert.include(skipped.reason, "custom.cooldown")
    }).pipe(Effect.provide(Persistence.layerMemory(env))))

  it.effect("a session refuses two declarations of one name before it starts anything", () =>
    Effect.gen(function*() {
      const id = SessionId.make("sess_custdup01")
      const error = yield* Effect.flip(Effect.scoped(Session.initialize(options("CLEAN_RESET", id, [indicators, indicators]))))
      assert.strictEqual(error._tag, "StateCodecError")
      assert.include(error.message, "indicators is declared more than once")
      // Nothing was started: no snapshot, no lease.
      assert.deepStrictEqual(yield* (yield* SnapshotStore).listSnapshots(id), [])
      assert.isTrue(Option.isNone(yield* (yield* SessionLease).current(id)))
    }).pipe(Effect.provide(Persistence.layerMemory(env))))
})
