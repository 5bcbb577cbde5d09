/**
 * The live save's plan checks only what changed, so it must refuse exactly
 * what a whole save refuses, with the same message: for random states and a
 * change of each kind a runner (or a bug in one) makes, sharing every part it
 * did not change, the plan after a previous save fails if and only if the
 * plan of the same state from nothing fails. And what a loop that changed
 * nothing writes is its session section alone, one trade changed its two
 * fields alone.
 */
import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Effect, Result } from "effect"
import type { ArbitrageTrade } from "../../src/domain/ArbitrageTrade.ts"
import type { EngineState } from "../../src/domain/EngineState.ts"
import type { TradeId } from "../../src/domain/Ids.ts"
import { type LivePlan, planLiveWrite, tradeField } from "../../src/store/internal/LiveStateDelta.ts"
import { engineStateArbitrary } from "../support/StateArbitrary.ts"

type Change = (state: EngineState) => EngineState | undefined

const firstTrade = (state: EngineState): [TradeId, ArbitrageTrade] | undefined =>
  Object.entries(state.positions.activeTrades)[0] as [TradeId, ArbitrageTrade] | undefined
const nextLoop = (state: EngineState): EngineState => ({ ...state, session: { ...state.session, loopCount: state.session.loopCount + 1 } })
const withTrades = (state: EngineState, activeTrades: EngineState["positions"]["activeTrades"], positionOpenTimes = state.positions.positionOpenTimes): EngineState =>
  ({ ...state, positions: { ...state.positions, activeTrades, positionOpenTimes } })

/** Changes, each as a runner would make it: a new object for what changed, the same objects for the rest. */
const changes: Record<string, Change> = {
  "a quiet loop": nextLoop,
  "one trade replaced by an equal copy": (state) => {
    const [id, trade] = firstTrade(state) ?? []
    return id === undefined ? undefined : withTrades(nextLoop(state), { ...state.positions.activeTrades, [id]: { ...trade! } })
  },
  "a trade stored under another trade's id": (state) => {
    const [id, trade] = firstTrade(state) ?? []
    return id === undefined ? undefined : withTrades(state, { ...state.positions.activeTrades, [id]: { ...trade!, tradeId: `${trade!.tradeId}x` as TradeId } })
  },
  "a trade whose open time differs from its recorded one": (state) => {
    const [id, trade] = firstTrade(state) ?? []
    return id === undefined ? undefined : withTrades(state, { ...state.positions.activeTrades, [id]: { ...trade!, openedAt: trade!.openedAt + 1 } })
  },
  "an open time recorded for a trade that is not open": (state) =>
    withTrades(state, state.positions.activeTrades, { ...state.positions.positionOpenTimes, ["trd_ghost" as TradeId]: state.session.startTime }),
  "a trade gone while the metrics still count it": (state) => {
    const [id] = firstTrade(state) ?? []
    if (id === undefined) return undefined
    const { [id]: _trade, ...rest } = state.positions.activeTrades
    const { [id]: _time, ...times } = state.positions.positionOpenTimes
    return withTrades(state, rest, times)
  },
  "the metrics counting one more open trade (positions unchanged)": (state) => ({ ...state, metrics: { ...state.metrics, tradesOpened: state.metrics.tradesOpened + 1 } }),
  "a symbol's position count off by one (positions unchanged)": (state) => {
    const [symbol, risk] = Object.entries(state.riskGuard.perSymbol)[0] ?? []
    return symbol === undefined
      ? undefined
      : { ...state, riskGuard: { ...state.riskGuard, perSymbol: { ...state.riskGuard.perSymbol, [symbol]: { ...risk!, positionCount: risk!.positionCount + 1 } } } }
  },
  "a symbol's capital off (positions unchanged)": (state) => {
    const [symbol, risk] = Object.entries(state.riskGuard.perSymbol)[0] ?? []
    return symbol === undefined
      ? undefined
      : { ...state, riskGuard: { ...state.riskGuard, perSymbol: { ...state.riskGuard.perSymbol, [symbol]: { ...risk!, capitalUsedUsd: risk!.capitalUsedUsd + 7 } } } }
  },
  "the session's start moved after its trades opened (positions unchanged)": (state) =>
    firstTrade(state) === undefined ? undefined : { ...state, session: { ...state.session, startTime: Math.max(...Object.values(state.positions.activeTrades).map((t) => t.openedAt)) + 1 } }
}

const messageOf = (plan: Result.Result<LivePlan, { readonly message: string }>) => (Result.isFailure(plan) ? plan.failure.message : undefined)

describe("live save plan", () => {
  it.effect("after a save, a changed state is refused exactly when a whole save of it is, with the same message", () =>
    Effect.gen(function*() {
      const states = yield* Arbitrary.sampleEffect(engineStateArbitrary({ maxOpenTrades: 6 }), { count: 60, seed: 11 })
      const refused = new Map<string, number>()
      const tried = new Map<string, number>()
      for (const state of states) {
        const first = planLiveWrite(state, [], undefined)
        assert.isTrue(Result.isSuccess(first), messageOf(first))
        const cache = Result.getOrThrow(first).cache
        for (const [name, change] of Object.entries(changes)) {
          const next = change(state)
          if (next === undefined) continue
          tried.set(name, (tried.get(name) ?? 0) + 1)
          const incremental = planLiveWrite(next, [], cache)
          const whole = planLiveWrite(next, [], undefined)
          assert.strictEqual(messageOf(incremental), messageOf(whole), `${name}: the plan after a save and the whole plan disagree`)
          if (Result.isFailure(whole)) refused.set(name, (refused.get(name) ?? 0) + 1)
        }
      }
      // Every harmful change was tried and refused each time; the harmless ones never.
      for (const name of Object.keys(changes)) assert.isAbove(tried.get(name) ?? 0, 0, `${name} was tried`)
      for (const name of ["a quiet loop", "one trade replaced by an equal copy"]) assert.isUndefined(refused.get(name), name)
      for (const name of Object.keys(changes).slice(2)) assert.strictEqual(refused.get(name), tried.get(name), `${name} is always refused`)
    }))

  it.effect("a quiet loop writes its session section alone; one trade changed, its two fields and the session", () =>
    Effect.gen(function*() {
      const [state] = yield* Arbitrary.sampleEffect(engineStateArbitrary({ minOpenTrades: 5, maxOpenTrades: 5 }), { count: 1, seed: 3 })
      const cache = Result.getOrThrow(planLiveWrite(state!, [], undefined)).cache
      const quiet = Result.getOrThrow(planLiveWrite(nextLoop(state!), [], cache))
      assert.deepStrictEqual(quiet.writes.map((w) => (w.op === "set" ? `set ${w.section}` : w.op)), ["set session"])
      const one = Result.getOrThrow(planLiveWrite(changes["one trade replaced by an equal copy"]!(state!)!, [], cache))
      const [id] = firstTrade(state!)!
      assert.deepStrictEqual(
        one.writes.map((w) => (w.op === "set" ? `set ${w.section}` : w.op === "hset" ? `hset ${w.field}` : w.op)),
        ["set session", `hset ${tradeField(id)}`, `hset o:${id}`]
      )
      assert.strictEqual(one.positionsBytes, quiet.positionsBytes, "an equal trade: the hash holds as many bytes")
    }))
})
