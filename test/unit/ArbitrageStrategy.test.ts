import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Schema } from "effect"
import type { EngineState } from "../../src/domain/EngineState.ts"
import { SessionId, Venue } from "../../src/domain/Ids.ts"
import { decodeEngineStateJson, encodeEngineState, encodeEngineStateJson } from "../../src/domain/StateCodec.ts"
import { maxEpochMillis } from "../../src/domain/Units.ts"
import { maxLoopsWithin, newSessionState, runLoop } from "../../src/runner/ArbitrageStrategy.ts"
import { type Campaign, campaigns } from "../../src/runner/Campaign.ts"
import { quoteAt } from "../../src/runner/MarketFeed.ts"
import { evaluateEntry } from "../../src/runner/RiskGuard.ts"
import * as Runner from "../../src/runner/Runner.ts"

const sessionId = SessionId.make("sess_strategy1")
const start = Date.UTC(2026, 0, 1)
const fresh = (campaign: Campaign) => newSessionState({ sessionId, campaign, startTime: start })

/** Runs `loops` loops from `state` with no persistence, collecting every intermediate state. */
const runPlain = (state: EngineState, campaign: Campaign, seed: number, loops: number) => {
  const states: Array<EngineState> = []
  let current = state
  for (let i = 0; i < loops; i++) {
    current = runLoop(current, campaign, { seed, tickMs: 1000 }).state
    states.push(current)
  }
  return states
}

const Seed = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThanOrEqualTo(1_000_000))
const CampaignName = Schema.Literals(["balanced", "aggressive", "cautious"])

describe("simulated clock", () => {
  const Tick = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1), Schema.isLessThanOrEqualTo(Number.MAX_SAFE_INTEGER))
  it.prop("maxLoopsWithin is the last loop count whose clock is within the latest time a state may hold", { tickMs: Tick }, ({ tickMs }) => {
    const most = maxLoopsWithin(start, tickMs)
    assert.isAtLeast(most, 0)
    assert.isAtMost(start + most * tickMs, maxEpochMillis)
    assert.isAbove(start + (most + 1) * tickMs, maxEpochMillis)
  })

  it("a tick that ends exactly on the bound allows exactly that many loops", () => {
    const room = maxEpochMillis - start
    assert.strictEqual(maxLoopsWithin(start, room), 1)
    assert.strictEqual(maxLoopsWithin(start, room + 1), 0)
  })
})

describe("market feed", () => {
  it.prop("a quote is a pure function of seed, symbol and loop", { seed: Seed, loop: Seed }, ({ loop, seed }) => {
    for (const symbol of campaigns.aggressive!.symbols) {
      assert.deepStrictEqual(quoteAt(seed, symbol, loop), quoteAt(seed, symbol, loop))
      const q = quoteAt(seed, symbol, loop)
      assert.isBelow(q.a.bid, q.a.ask)
      assert.isBelow(q.b.bid, q.b.ask)
    }
  })

  it("different seeds give different markets", () => {
    const symbol = campaigns.balanced!.symbols[0]!
    assert.notDeepEqual(quoteAt(1, symbol, 10), quoteAt(2, symbol, 10))
  })
})

describe("arbitrage strategy", () => {
  it.prop("every state of a run is valid: it encodes, so it can always be persisted", { seed: Seed, campaign: CampaignName }, ({ campaign, seed }) => {
    const c = campaigns[campaign]!
    for (const state of runPlain(fresh(c), c, seed, 600)) {
      const encoded = encodeEngineState(state)
      assert.isTrue(Result.isSuccess(encoded), Result.isFailure(encoded) ? encoded.failure.message : "")
    }
  }, { arbitrary: { runs: 12 } })

  it.prop(
    "resuming from the persisted form of any loop ends in the same state as the uninterrupted run",
    { seed: Seed, campaign: CampaignName, cut: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThanOrEqualTo(399)) },
    ({ campaign, cut, seed }) => {
      const c = campaigns[campaign]!
      const uninterrupted = runPlain(fresh(c), c, seed, 400).at(-1)!
      const before = cut === 0 ? fresh(c) : runPlain(fresh(c), c, seed, cut).at(-1)!
      // What a store gives back: the JSON text, decoded (key order and all).
      const persisted = Result.getOrThrow(decodeEngineStateJson(Result.getOrThrow(encodeEngineStateJson(before))))
      const resumed = runPlain(persisted, c, seed, 400 - cut).at(-1)!
      assert.deepStrictEqual(JSON.parse(JSON.stringify(resumed)), JSON.parse(JSON.stringify(uninterrupted)))
    },
    { arbitrary: { runs: 25 } }
  )

  it("a run trades: trades open and close, some win, some lose, and the guard refuses some", () => {
    const c = campaigns.balanced!
    const states = runPlain(fresh(c), c, 7, 3000)
    const last = states.at(-1)!
    assert.isAbove(last.metrics.tradesClosed, 20)
    assert.isAbove(last.metrics.winningTrades, 0)
    assert.isBelow(last.metrics.winningTrades, last.metrics.tradesClosed)
    assert.isTrue(states.some((s) => Object.keys(s.positions.activeTrades).length > 0))
    const rejected = Object.values(last.riskGuard.perSymbol).reduce((n, s) => n + s.tradesRejected, 0)
    assert.isAbove(rejected, 0)
  })

  it("venues named by the session trade exactly as A and B do: the same trades, PnL and guard, only the names differ", () => {
    const c = campaigns.aggressive!
    const named = { seed: 11, tickMs: 1000, venues: [Venue.make("upbit"), Venue.make("okx.spot")] as const }
    let plain = fresh(c)
    let renamed = newSessionState({ sessionId, campaign: c, startTime: start, market: named })
    const venuesSeen = new Set<string>()
    for (let i = 0; i < 1500; i++) {
      plain = runLoop(plain, c, { seed: 11, tickMs: 1000 }).state
      renamed = runLoop(renamed, c, named).state
      for (const trade of Object.values(renamed.positions.activeTrades)) venuesSeen.add(trade.buyLeg.venue).add(trade.sellLeg.venue)
    }
    assert.deepStrictEqual(renamed.metrics, plain.metrics)
    assert.deepStrictEqual(renamed.riskGuard, plain.riskGuard)
    assert.isAbove(renamed.metrics.tradesClosed, 10)
    assert.deepStrictEqual([...venuesSeen].sort(), ["okx.spot", "upbit"])
    assert.deepStrictEqual(renamed.session.market, named)
    // The state with its own venue names is a valid stored state (the order ids spell the venue as ids may).
    assert.deepStrictEqual(Result.getOrThrow(decodeEngineStateJson(Result.getOrThrow(encodeEngineStateJson(renamed)))), JSON.parse(JSON.stringify(renamed)))
  })

  it("equity is always initial capital plus realized PnL", () => {
    const c = campaigns.aggressive!
    for (const state of runPlain(fresh(c), c, 3, 1500)) {
      assert.closeTo(state.metrics.portfolioEquityUsd, c.initialCapitalUsd + state.metrics.totalPnlUsd, 1e-6)
    }
  })

  it("the daily loss resets when the simulated day changes, and only then", () => {
    const c = campaigns.balanced!
    let state = fresh(c)
    const tickMs = 60_000 // a day is 1,440 loops
    let resets = 0
    for (let i = 0; i < 3000; i++) {
      const before = state
      state = runLoop(state, c, { seed: 7, tickMs }).state
      const now = start + before.session.loopCount * tickMs
      const newDay = before.session.loopCount > 0 && now % 86_400_000 === 0
      if (!newDay) assert.isAtLeast(state.riskGuard.dailyLossUsd, before.riskGuard.dailyLossUsd)
      if (newDay && before.riskGuard.dailyLossUsd > 0) {
        assert.isBelow(state.riskGuard.dailyLossUsd, before.riskGuard.dailyLossUsd)
        resets++
      }
    }
    assert.strictEqual(resets, 2)
  })
})

describe("risk guard", () => {
  const c = campaigns.balanced!
  const symbol = c.symbols[0]!
  const base = fresh(c)
  const withSymbol = (patch: Partial<EngineState["riskGuard"]["perSymbol"][typeof symbol]>) => ({
    ...base,
    riskGuard: { ...base.riskGuard, perSymbol: { ...base.riskGuard.perSymbol, [symbol]: { ...base.riskGuard.perSymbol[symbol]!, ...patch } } }
  })

  it("allows a trade within every limit", () => {
    assert.deepStrictEqual(evaluateEntry(base, c, symbol, c.tradeNotionalUsd, true), { allowed: true })
  })

  it("refuses at each limit, naming it", () => {
    const cases: ReadonlyArray<readonly [EngineState, string]> = [
      [{ ...base, riskGuard: { ...base.riskGuard, dailyLossUsd: c.dailyLossLimitUsd } }, "daily_loss_limit"],
      [withSymbol({ lossUsd: c.symbolLossLimitUsd }), "symbol_loss_limit"],
      [withSymbol({ positionCount: c.maxPositionsPerSymbol }), "position_limit"],
      [withSymbol({ capitalUsedUsd: c.maxCapitalPerSymbolUsd }), "capital_limit"]
    ]
    for (const [state, reason] of cases) {
      assert.deepStrictEqual(evaluateEntry(state, c, symbol, c.tradeNotionalUsd, true), { allowed: false, reason } as never)
    }
  })

  it("refuses every trade while the session cannot make one durable", () => {
    assert.deepStrictEqual(evaluateEntry(base, c, symbol, c.tradeNotionalUsd, false), {
      allowed: false,
      reason: "persistence_unhealthy"
    })
  })
})

describe("runner", () => {
  it.effect("without persistence gives the same final state as the plain loop", () =>
    Effect.gen(function*() {
      const c = campaigns.cautious!
      const final = yield* Runner.run(Runner.withoutPersistence, fresh(c), { campaign: c, market: { seed: 5, tickMs: 1000 }, targetLoops: 500 })
      assert.deepStrictEqual(final, runPlain(fresh(c), c, 5, 500).at(-1))
      assert.strictEqual(final.session.loopCount, 500)
    }))

  it.effect("persists every loop, and says which loops changed the open trades", () =>
    Effect.gen(function*() {
      const c = campaigns.balanced!
      const calls: Array<boolean> = []
      const final = yield* Runner.run(
        {
          persist: (_state, change) =>
            Effect.sync(() => {
              calls.push(change.tradesChanged)
              return true
            })
        },
        fresh(c),
        { campaign: c, market: { seed: 7, tickMs: 1000 }, targetLoops: 300 }
      )
      assert.lengthOf(calls, 300)
      assert.strictEqual(calls.filter(Boolean).length > 0, final.metrics.tradesOpened > 0)
    }))
})
