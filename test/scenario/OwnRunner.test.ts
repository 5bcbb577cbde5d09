/**
 * A runner of its own, written here and not the bundled paper runner: it
 * starts from `EngineState.empty` (no paper market), trades between venues
 * named as an exchange names them (`upbit`, `binance`) in symbols as they
 * write them (`BTC/KRW`, `KRW-BTC`), and uses nothing but the public API
 * (`Session.initialize`, `persist`, `Restore.run`), against the real Redis
 * and PostgreSQL. What it persisted is what a resume gives back.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import { EngineState, Ids, Restore, Session } from "../../src/index.ts"
import { postgresSnapshots, redisLive } from "../support/Backings.ts"
import { expectRestored } from "../support/Results.ts"
import { uniqueEnv } from "../support/Services.ts"

const env = uniqueEnv("ownrunner")
const venues = [Ids.Venue.make("upbit"), Ids.Venue.make("binance"), Ids.Venue.make("okx-spot")] as const
const symbols = [Ids.MarketSymbol.make("BTC/KRW"), Ids.MarketSymbol.make("KRW-ETH")] as const
const startTime = Date.UTC(2026, 10, 27)

const options = (mode: Session.SessionMode, sessionId?: Ids.SessionId): Session.SessionOptions => ({
  mode,
  ...(sessionId === undefined ? {} : { sessionId }),
  newState: (id) =>
    EngineState.empty({ sessionId: id, startTime, campaignId: Ids.CampaignId.make("kimchi-premium"), initialCapitalUsd: 50_000, symbols: [...symbols] }),
  policy: { snapshotInterval: "5 minutes" }
})

/** This runner's step: on loop 2 it opens a trade buying on one venue and selling on another. */
const step = (state: EngineState.EngineState): { readonly state: EngineState.EngineState; readonly opensTrades: boolean } => {
  const loop = state.session.loopCount + 1
  const now = startTime + loop * 500
  const next = { ...state, session: { ...state.session, loopCount: loop } }
  if (loop !== 2) return { state: next, opensTrades: false }
  const symbol = symbols[0]
  const tradeId = Ids.TradeId.make(`trd_own${loop}`)
  const leg = (side: "buy" | "sell", venue: Ids.Venue, price: number) => ({
    orderId: Ids.OrderId.make(`ord_own${loop}${side}`),
    venue,
    symbol,
    side,
    price,
    quantity: 0.05,
    filledQuantity: 0.05,
    status: "filled" as const,
    createdAt: now,
    updatedAt: now
  })
  const trade = {
    tradeId,
    symbol,
    buyLeg: leg("buy", venues[1], 131_000_000),
    sellLeg: leg("sell", venues[0], 133_500_000),
    entrySpreadBps: 190,
    quantity: 0.05,
    notionalUsd: 9_900,
    openedAt: now,
    takeProfitBps: 60,
    stopLossBps: -80
  }
  const risk = state.riskGuard.perSymbol[symbol]!
  return {
    opensTrades: true,
    state: {
      ...next,
      positions: { activeTrades: { [tradeId]: trade }, positionOpenTimes: { [tradeId]: now } },
      metrics: { ...next.metrics, tradesOpened: next.metrics.tradesOpened + 1 },
      riskGuard: {
        ...next.riskGuard,
        perSymbol: { ...next.riskGuard.perSymbol, [symbol]: { ...risk, tradesAllowed: risk.tradesAllowed + 1, capitalUsedUsd: 9_900, positionCount: 1 } }
      }
    }
  }
}

layer(Layer.mergeAll(redisLive.layer(env), postgresSnapshots.layer(env)), { timeout: "60 seconds" })("a runner of its own", (it) => {
  it.effect("starts from EngineState.empty, persists its own venues and symbols, and a resume gives back exactly what it persisted", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const session = yield* Session.initialize(options("CLEAN_RESET")).pipe(Scope.provide(scope))
      assert.isUndefined(session.initialState.session.market)
      let state = session.initialState
      for (let i = 0; i < 4; i++) {
        const result = step(state)
        yield* session.persist(result.state, { tradesChanged: result.opensTrades, opensTrades: result.opensTrades })
        state = result.state
      }
      // Killed: no shutdown snapshot.
      yield* Scope.close(scope, Exit.fail("killed"))

      const report = expectRestored(yield* Restore.run(session.sessionId))
      assert.deepStrictEqual(report.state, state)
      const [trade] = Object.values(report.state.positions.activeTrades)
      assert.deepStrictEqual([trade!.buyLeg.venue, trade!.sellLeg.venue, trade!.symbol], ["binance", "upbit", "BTC/KRW"])

      // The durable tier alone holds it too (the trade snapshot was committed before the next step).
      const resumed = yield* Effect.scoped(Session.initialize(options("RESUME_FROM_STATE", session.sessionId)))
      assert.strictEqual(resumed.origin.kind, "resumed")
      assert.deepStrictEqual(resumed.initialState.positions, state.positions)
      assert.strictEqual(resumed.initialState.session.loopCount, 4)
    }))

  it.effect("EngineState.empty is a valid state for any runner: no market, the given capital, running at loop 0", () =>
    Effect.gen(function*() {
      const id = Ids.SessionId.make("sess_ownempty1")
      const state = options("CLEAN_RESET").newState(id)
      assert.deepStrictEqual(state.metrics, {
        tradesOpened: 0,
        tradesClosed: 0,
        winningTrades: 0,
        totalPnlUsd: 0,
        portfolioEquityUsd: 50_000,
        initialCapitalUsd: 50_000
      })
      assert.deepStrictEqual(Object.keys(state.riskGuard.perSymbol), [...symbols])
      const session = yield* Effect.scoped(Session.initialize(options("CLEAN_RESET", id)))
      assert.deepStrictEqual(session.initialState, state)
    }))
})
