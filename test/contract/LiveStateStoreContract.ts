/**
 * The contract of the live tier, run against every backing.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Result, Schema } from "effect"
import { isDeepStrictEqual } from "node:util"
import { sectionNames } from "../../src/domain/EngineState.ts"
import * as CustomSection from "../../src/domain/CustomSection.ts"
import { SessionId } from "../../src/domain/Ids.ts"
import { sectionCodecs } from "../../src/domain/StateCodec.ts"
import { encodeEngineState } from "../../src/domain/StateCodec.ts"
import { newSessionState, runLoop, simulatedStart } from "../../src/runner/ArbitrageStrategy.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import { LiveStateStore } from "../../src/store/LiveStateStore.ts"
import { sectionKey, writeMarkKey } from "../../src/store/StateKeys.ts"
import { type LiveBacking, RawLive } from "../support/Backings.ts"
import { withoutNegativeZero } from "../support/Results.ts"
import { uniqueEnv } from "../support/Services.ts"
import { engineStateArbitrary } from "../support/StateArbitrary.ts"
import { cooldown, stateWithSectionsArbitrary } from "../support/CustomSections.ts"
import { ofSession, sampleStates } from "../support/States.ts"
import { closingRun, entriesOfRun } from "../support/Ledger.ts"
import { encodeLedgerTail, type LedgerEntry, numberCloses } from "../../src/domain/ClosedTrade.ts"

const session = (suffix: string) => SessionId.make(`sess_${suffix}`)
const sessionVersion = sectionCodecs.session.currentVersion

/** Registers the live-tier contract for `backing`. */
export const liveStateStoreContract = (backing: LiveBacking, options: { readonly propertyRuns: number }) => {
  const env = uniqueEnv(`live${backing.name.replace(/\W/g, "")}`)
  /**
   * What a damaged state is refused for: what is damaged, or (sealed under STATE_KEYS) that it is not
   * authentic, which a read finds before it decodes anything.
   */
  const damaged = (what: string) => (backing.sealed === true ? "not authentic" : what)
  layer(backing.layer(env), { timeout: "60 seconds" })(`LiveStateStore contract on ${backing.name}`, (it) => {
    it.effect("a session without live state loads as None", () =>
      Effect.gen(function*() {
        const store = yield* LiveStateStore
        assert.isTrue(Option.isNone(yield* store.load(session("none0001"))))
      }))

    it.effect.prop("save then load gives back the same state", { state: engineStateArbitrary() }, ({ state }) =>
      Effect.gen(function*() {
        const store = yield* LiveStateStore
        yield* store.save(state)
        const loaded = Option.getOrThrow(yield* store.load(state.session.sessionId))
        assert.deepStrictEqual(loaded.state, withoutNegativeZero(state))
        assert.strictEqual(loaded.fencingToken, 0, "written without a lease")
      }), { arbitrary: { runs: options.propertyRuns } })

    it.effect.prop(
      "any sequence of incremental saves loads back as the last state saved, also when another writer interleaves",
      {
        seed: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThanOrEqualTo(1_000_000)),
        campaign: Schema.Literals(["balanced", "aggressive", "cautious"]),
        loops: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1), Schema.isLessThanOrEqualTo(120)),
        foreignAt: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThanOrEqualTo(120))
      },
      ({ campaign, foreignAt, loops, seed }) =>
        Effect.gen(function*() {
          const store = yield* LiveStateStore
          const c = campaigns[campaign]!
          const sessionId = SessionId.make(`sess_seq${seed.toString(36)}`)
          let state = newSessionState({ sessionId, campaign: c, startTime: simulatedStart })
          yield* store.delete(sessionId)
          for (let loop = 0; loop < loops; loop++) {
            state = runLoop(state, c, { seed, tickMs: 1000 }).state
            if (loop === foreignAt) {
              // Another writer (a second store, as after a takeover) writes an older state in between.
              const [other] = yield* sampleStates(sessionId, { count: 1, seed })
              yield* LiveStateStore.pipe(Effect.flatMap((foreign) => foreign.save(other!)), Effect.provide(backing.layer(env)))
            }
            yield* store.save(state)
            if (loop % 7 === 0 || loop === loops - 1 || loop === foreignAt) {
              assert.deepStrictEqual(Option.getOrThrow(yield* store.load(sessionId)).state, withoutNegativeZero(state), `after loop ${loop}`)
            }
          }
        }),
      { arbitrary: { runs: options.propertyRuns } }
    )

    it.effect.prop(
      "a runner's own sections: saved with the state and loaded back; each later save leaves exactly its own (none when it has none)",
      { first: stateWithSectionsArbitrary({ maxOpenTrades: 2 }), second: stateWithSectionsArbitrary({ maxOpenTrades: 2 }) },
      ({ first, second }) =>
        Effect.gen(function*() {
          const store = yield* LiveStateStore
          const sessionId = first.state.session.sessionId
          const later = ofSession(second.state, sessionId)
          const load = () => Effect.map(store.load(sessionId), (found) => Option.getOrThrow(found).state)
          yield* store.save(first.state)
          assert.deepStrictEqual(yield* load(), withoutNegativeZero(first.state))
          // The same store again: an incremental save where it can make one.
          yield* store.save(later)
          assert.deepStrictEqual(yield* load(), withoutNegativeZero(later))
          const { custom: _, ...without } = later
          yield* store.save(without)
          assert.deepStrictEqual(yield* load(), withoutNegativeZero(without))
        }),
      { arbitrary: { runs: options.propertyRuns } }
    )

    it.effect("a runner's own sections that are not valid JSON, or not versioned, are Unreadable, naming the key", () =>
      Effect.gen(function*() {
        const store = yield* LiveStateStore
        const raw = yield* RawLive
        const [state] = yield* sampleStates(session("custombad"), { count: 1, seed: 9 })
        yield* store.save(Result.getOrThrow(CustomSection.set(state!, cooldown, { until: 1, symbols: ["ETH-USDT"] })))
        for (const text of ["{\"cooldown\":", "{\"cooldown\":{\"until\":1}}"]) {
          yield* raw.set(sectionKey(env, session("custombad"), "custom"), text)
          const error = yield* Effect.flip(store.load(session("custombad")))
          assert.strictEqual(error.reason._tag, "Unreadable")
          assert.include(error.message, "custom")
        }
      }))

    it.effect("the ledger tail is saved and loaded with its state, incrementally, and goes when it is empty", () =>
      Effect.gen(function*() {
        const store = yield* LiveStateStore
        const id = session("tail0001")
        const { initial, steps } = closingRun(id, 3)
        let previous = initial
        let tail: Array<LedgerEntry> = []
        for (const step of steps) {
          tail = [...tail, ...Result.getOrThrow(numberCloses(previous, step.state, step.closed))]
          previous = step.state
          yield* store.save(step.state, 0, tail)
          const loaded = Option.getOrThrow(yield* store.load(id))
          assert.deepStrictEqual(loaded.ledgerTail, tail)
          assert.deepStrictEqual(loaded.state, step.state)
        }
        assert.isAtLeast(tail.length, 3)
        // Appended by a snapshot: the tail is empty again.
        yield* store.save(previous, 0, [])
        assert.deepStrictEqual(Option.getOrThrow(yield* store.load(id)).ledgerTail, [])
        yield* store.delete(id)
        assert.isTrue(Option.isNone(yield* store.load(id)))
      }))

    it.effect("a ledger tail that is not the state's newest closes is refused before anything is written", () =>
      Effect.gen(function*() {
        const store = yield* LiveStateStore
        const id = session("tail0002")
        const { initial, steps } = closingRun(id, 2)
        const last = steps.at(-1)!.state
        const tail = entriesOfRun(initial, steps)
        yield* store.save(last, 0, tail)
        for (const wrong of [tail.map((e) => ({ ...e, closeNumber: e.closeNumber + 1 })), [...tail, { ...tail[0]!, closeNumber: tail.length + 1 }]]) {
          const refused = yield* Effect.flip(store.save(last, 0, wrong))
          assert.strictEqual(refused._tag, "StateCodecError")
        }
        assert.deepStrictEqual(Option.getOrThrow(yield* store.load(id)).ledgerTail, tail)
      }))

    it.effect("a damaged ledger tail (not JSON, a changed entry, more closes than counted, cut short, emptied, removed) is Unreadable, naming the session", () =>
      Effect.gen(function*() {
        const store = yield* LiveStateStore
        const raw = yield* RawLive
        const id = session("tail0003")
        const { initial, steps } = closingRun(id, 2)
        const last = steps.at(-1)!.state
        const tail = entriesOfRun(initial, steps)
        const stored = Result.getOrThrow(encodeLedgerTail(tail, last.metrics.tradesClosed))
        const key = sectionKey(env, id, "ledger")
        const damages = [
          "{not json",
          JSON.stringify({ ...stored, entries: stored.entries.map((e, i) => (i === 0 ? { ...e, trade: { ...e.trade, realizedPnlUsd: 1 } } : e)) }),
          // Sealed entry by entry, but one close more than the state counts.
          JSON.stringify(Result.getOrThrow(encodeLedgerTail([...tail, { ...tail.at(-1)!, closeNumber: tail.at(-1)!.closeNumber + 1 }], last.metrics.tradesClosed))),
          JSON.stringify({ ...stored, version: 2 }),
          // Cut short: the oldest entry gone, or all of them, or the whole key (evicted).
          JSON.stringify({ ...stored, entries: stored.entries.slice(1) }),
          JSON.stringify({ ...stored, entries: [] }),
          null
        ]
        for (const damage of damages) {
          yield* store.save(last, 0, tail)
          yield* (damage === null ? raw.remove(key) : raw.set(key, damage))
          const failure = yield* Effect.flip(store.load(id))
          assert.strictEqual(failure.reason._tag, "Unreadable", damage ?? "the key removed")
          assert.include(failure.message, id)
        }
      }))

    it.effect("a live state an older version wrote (no ledger tail, a mark without it) still loads, with an empty tail", () =>
      Effect.gen(function*() {
        const store = yield* LiveStateStore
        const raw = yield* RawLive
        const id = session("tail0004")
        const { steps } = closingRun(id, 2)
        const last = steps.at(-1)!.state
        yield* store.save(last, 0, [])
        yield* raw.remove(sectionKey(env, id, "ledger"))
        yield* raw.set(writeMarkKey(env, id), "t0/older-version-write")
        if (backing.sealed === true) {
          // An older version never sealed: under STATE_KEYS, a part taken away is refused, whatever the mark says.
          assert.include((yield* Effect.flip(store.load(id))).message, "not authentic")
          return
        }
        const loaded = Option.getOrThrow(yield* store.load(id))
        assert.deepStrictEqual(loaded.state, last)
        assert.deepStrictEqual(loaded.ledgerTail, [])
      }))

    it.effect("a state with 200 open trades round-trips", () =>
      Effect.gen(function*() {
        const store = yield* LiveStateStore
        const [state] = yield* sampleStates(session("many0001"), { count: 1, seed: 3, minOpenTrades: 200, maxOpenTrades: 200 })
        assert.isAtLeast(Object.keys(state!.positions.activeTrades).length, 150)
        yield* store.save(state!)
        assert.deepStrictEqual(Option.getOrThrow(yield* store.load(state!.session.sessionId)).state, withoutNegativeZero(state!))
      }))

    it.effect("a save replaces every section of the previous one", () =>
      Effect.gen(function*() {
        const store = yield* LiveStateStore
        const [first, second] = yield* sampleStates(session("replace01"), { count: 2, seed: 5 })
        yield* store.save(first!)
        yield* store.save(second!)
        assert.deepStrictEqual(Option.getOrThrow(yield* store.load(session("replace01"))).state, withoutNegativeZero(second!))
      }))

    it.effect("an invalid state is refused before anything is written: the previous state stays whole", () =>
      Effect.gen(function*() {
        const store = yield* LiveStateStore
        const [state] = yield* sampleStates(session("refuse01"), { count: 1, seed: 6 })
        yield* store.save(state!)
        const broken = { ...state!, metrics: { ...state!.metrics, tradesOpened: state!.metrics.tradesOpened + 5 } }
        const exit = yield* Effect.exit(store.save(broken))
        assert.isTrue(Exit.isFailure(exit))
        assert.isTrue(Result.isFailure(encodeEngineState(broken)))
        assert.deepStrictEqual(Option.getOrThrow(yield* store.load(session("refuse01"))).state, withoutNegativeZero(state!))
      }))

    it.effect("a save interrupted at any point leaves either the old or the new state, never a mix", () =>
      Effect.gen(function*() {
        const store = yield* LiveStateStore
        const [older, newer] = yield* sampleStates(session("interrupt1"), { count: 2, seed: 8 })
        const expected = [withoutNegativeZero(older!), withoutNegativeZero(newer!)]
        for (let round = 0; round < 30; round++) {
          yield* store.save(older!)
          const fiber = yield* Effect.forkChild(store.save(newer!))
          for (let i = 0; i < round % 6; i++) yield* Effect.yieldNow
          yield* Fiber.interrupt(fiber)
          const loaded = Option.getOrThrow(yield* store.load(session("interrupt1"))).state
          // Key order is not part of a state (a Redis hash gives fields back in any order).
          assert.isTrue(expected.some((state) => isDeepStrictEqual(state, loaded)), `round ${round}: a mixed state`)
        }
      }))

    it.effect("delete removes every section", () =>
      Effect.gen(function*() {
        const store = yield* LiveStateStore
        const [state] = yield* sampleStates(session("delete01"), { count: 1, seed: 9 })
        yield* store.save(state!)
        yield* store.delete(session("delete01"))
        assert.isTrue(Option.isNone(yield* store.load(session("delete01"))))
        assert.notInclude(yield* store.listSessions(), session("delete01"))
      }))

    it.effect("listSessions lists the sessions with live state in this env, and no other env's", () =>
      Effect.gen(function*() {
        const store = yield* LiveStateStore
        const [state] = yield* sampleStates(session("listed01"), { count: 1, seed: 10 })
        yield* store.save(state!)
        yield* store.save(ofSession(state!, session("listed02")))
        const listed = yield* store.listSessions()
        assert.includeMembers([...listed], [session("listed01"), session("listed02")])
        const otherEnvSees = yield* LiveStateStore.pipe(
          Effect.flatMap((other) => other.listSessions()),
          Effect.provide(backing.layer(uniqueEnv(`other${backing.name}`)))
        )
        assert.notInclude(otherEnvSees, session("listed01"))
      }))

    it.effect.prop("read places a state by its loop count and writer's token, and opens to what load gives", { state: engineStateArbitrary() }, ({ state }) =>
      Effect.gen(function*() {
        const store = yield* LiveStateStore
        yield* store.raiseFence(state.session.sessionId, 3)
        yield* store.save(state, 3)
        const read = Option.getOrThrow(yield* store.read(state.session.sessionId))
        assert.strictEqual(read.loopCount, state.session.loopCount)
        assert.strictEqual(read.fencingToken, 3)
        const loaded = Option.getOrThrow(yield* store.load(state.session.sessionId))
        assert.deepStrictEqual(Result.getOrThrow(read.open()), { state: loaded.state, ledgerTail: loaded.ledgerTail })
        yield* store.delete(state.session.sessionId, 3)
        assert.isTrue(Option.isNone(yield* store.read(state.session.sessionId)))
      }), { arbitrary: { runs: options.propertyRuns } })

    it.effect("a damaged section other than the session's is found when the read is opened, not before; a damaged session section leaves no loop count", () =>
      Effect.gen(function*() {
        const store = yield* LiveStateStore
        const raw = yield* RawLive
        const id = session("lazyread1")
        const [state] = yield* sampleStates(id, { count: 1, seed: 14 })
        yield* store.save(state!)
        yield* raw.set(sectionKey(env, id, "metrics"), "{\"version\":2,\"tradesOpe")
        const read = Option.getOrThrow(yield* store.read(id))
        // Sealed, a damaged state is not authentic: nothing of it is trusted, its loop count neither.
        assert.strictEqual(read.loopCount, backing.sealed === true ? undefined : state!.session.loopCount)
        const opened = read.open()
        assert.isTrue(Result.isFailure(opened) && opened.failure.message.includes(damaged("metrics is not valid JSON")))
        yield* raw.set(sectionKey(env, id, "session"), "{")
        assert.isUndefined(Option.getOrThrow(yield* store.read(id)).loopCount)
      }))

    it.effect("a section that is not valid JSON is Unreadable, naming the key and the problem", () =>
      Effect.gen(function*() {
        const store = yield* LiveStateStore
        const raw = yield* RawLive
        const [state] = yield* sampleStates(session("corrupt01"), { count: 1, seed: 11 })
        yield* store.save(state!)
        yield* raw.set(sectionKey(env, session("corrupt01"), "metrics"), "{\"version\":2,\"tradesOpe")
        const error = yield* Effect.flip(store.load(session("corrupt01")))
        assert.strictEqual(error.reason._tag, "Unreadable")
        assert.include(error.message, damaged("metrics is not valid JSON"))
        assert.include(error.reason._tag === "Unreadable" ? error.reason.location : "", "corrupt01")
      }))

    it.effect("a section that breaks its Schema is Unreadable, naming the path", () =>
      Effect.gen(function*() {
        const store = yield* LiveStateStore
        const raw = yield* RawLive
        const [state] = yield* sampleStates(session("corrupt02"), { count: 1, seed: 12 })
        yield* store.save(state!)
        yield* raw.set(sectionKey(env, session("corrupt02"), "session"), JSON.stringify({ version: sessionVersion, ...state!.session, loopCount: -3 }))
        const error = yield* Effect.flip(store.load(session("corrupt02")))
        assert.strictEqual(error.reason._tag, "Unreadable")
        assert.include(error.message, damaged("session.loopCount"))
      }))

    it.effect("a missing section is Unreadable, not a partial state", () =>
      Effect.gen(function*() {
        const store = yield* LiveStateStore
        const raw = yield* RawLive
        const [state] = yield* sampleStates(session("partial01"), { count: 1, seed: 13 })
        for (const name of sectionNames) {
          yield* store.delete(session("partial01"))
          yield* store.save(state!)
          yield* raw.remove(sectionKey(env, session("partial01"), name))
          const error = yield* Effect.flip(store.load(session("partial01")))
          assert.include(error.message, damaged(`lacks section ${name}`))
        }
      }))

    it.effect("another session's section under this session's key is Unreadable", () =>
      Effect.gen(function*() {
        const store = yield* LiveStateStore
        const raw = yield* RawLive
        const [state] = yield* sampleStates(session("mixed001"), { count: 1, seed: 14 })
        yield* store.save(state!)
        yield* raw.set(sectionKey(env, session("mixed001"), "session"), JSON.stringify({ version: sessionVersion, ...state!.session, sessionId: "sess_intruder1" }))
        const error = yield* Effect.flip(store.load(session("mixed001")))
        assert.strictEqual(error.reason._tag, "Unreadable")
      }))
  })
}


