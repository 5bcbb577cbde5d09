/**
 * A runner of your own on the core: your venues, your symbols, a section of
 * your own, no bundled paper runner.
 *
 * It starts from `EngineState.empty`, trades the Korean premium between
 * `upbit` (BTC/KRW) and `binance`, and keeps a cooldown of its own (a custom
 * section) that the session stores with the state. Each step hands its state
 * to `session.persist`; a step that opens a trade says so (`opensTrades`),
 * and if it cannot be made durable (`StepRefused`) the step is not taken; a
 * step that closes one hands it over (`closed`) for the trade ledger.
 * Then the process "dies", and a restore gives back exactly what was
 * persisted, cooldown included; it is resumed and stopped cleanly.
 *
 *   npm run example -- own-runner
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Exit, Option, Result, Schema, Scope } from "effect"
import { isDeepStrictEqual } from "node:util"
import { ClosedTrade, CustomSection, EngineState, Ids, Persistence, Restore, Session, TradeLedger } from "arbitrage-state"

const upbit = Ids.Venue.make("upbit")
const binance = Ids.Venue.make("binance")
const symbol = Ids.MarketSymbol.make("BTC/KRW")
const startTime = Date.UTC(2026, 10, 27)

/** After a trade, no new one for this many loops. */
const cooldown = CustomSection.make({
  name: "cooldown",
  schema: Schema.Struct({ untilLoop: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)) }),
  currentVersion: 1
})

const options = (mode: Session.SessionMode, sessionId?: Ids.SessionId): Session.SessionOptions => ({
  mode,
  ...(sessionId === undefined ? {} : { sessionId }),
  newState: (id) =>
    EngineState.empty({ sessionId: id, startTime, campaignId: Ids.CampaignId.make("kimchi"), initialCapitalUsd: 100_000, symbols: [symbol] }),
  policy: { snapshotInterval: "5 minutes" },
  sections: [cooldown]
})

/** A premium quote that moves with the loop (your feed goes here). */
const premiumBps = (loop: number) => 150 + 60 * Math.sin(loop / 3)

/** What one step did: its state, whether it opened a trade, and the trades it closed (for the ledger). */
interface Step {
  readonly state: EngineState.EngineState
  readonly opensTrades: boolean
  readonly closed: ReadonlyArray<ClosedTrade.ClosedTrade>
}

const feeBps = 2
const notionalUsd = 20_000
const price = 130_000_000

/**
 * One step of this runner: close the open trade once the premium has narrowed (the spread it
 * captured is its PnL), open one when the premium is wide and the cooldown is over.
 */
const step = (state: EngineState.EngineState): Step => {
  const loop = state.session.loopCount + 1
  const now = startTime + loop * 1_000
  const next = { ...state, session: { ...state.session, loopCount: loop } }
  const [open] = Object.values(state.positions.activeTrades)
  if (open !== undefined) {
    if (premiumBps(loop) > 170) return { state: next, opensTrades: false, closed: [] }
    // Unwound: sold back on binance at the price bought, bought back on upbit at today's premium.
    const feesUsd = (feeBps / 10_000) * 2 * open.notionalUsd
    const realizedPnlUsd = (open.notionalUsd * (open.entrySpreadBps - premiumBps(loop))) / 10_000 - feesUsd
    const closed = ClosedTrade.closeOf(open, {
      buyLegExitPrice: open.buyLeg.price,
      sellLegExitPrice: price * (1 + premiumBps(loop) / 10_000),
      feesUsd,
      realizedPnlUsd,
      reason: "premium_narrowed",
      closedAt: now,
      closedLoop: state.session.loopCount
    })
    const totalPnlUsd = next.metrics.totalPnlUsd + realizedPnlUsd
    const risk = next.riskGuard.perSymbol[symbol]!
    return {
      state: {
        ...next,
        positions: { activeTrades: {}, positionOpenTimes: {} },
        metrics: {
          ...next.metrics,
          tradesClosed: next.metrics.tradesClosed + 1,
          winningTrades: next.metrics.winningTrades + (realizedPnlUsd > 0 ? 1 : 0),
          totalPnlUsd,
          portfolioEquityUsd: next.metrics.initialCapitalUsd + totalPnlUsd
        },
        riskGuard: { ...next.riskGuard, perSymbol: { [symbol]: { ...risk, capitalUsedUsd: 0, positionCount: 0 } } }
      },
      opensTrades: false,
      closed: [closed]
    }
  }
  const until = Option.getOrUndefined(Result.getOrThrow(CustomSection.get(state, cooldown)))?.untilLoop ?? 0
  if (premiumBps(loop) < 190 || loop < until) return { state: next, opensTrades: false, closed: [] }
  const tradeId = Ids.TradeId.make(`trd_k${loop}`)
  const leg = (side: "buy" | "sell", venue: Ids.Venue, at: number) => ({
    orderId: Ids.OrderId.make(`ord_k${loop}${side}`),
    venue,
    symbol,
    side,
    price: at,
    quantity: 0.1,
    filledQuantity: 0.1,
    status: "filled" as const,
    createdAt: now,
    updatedAt: now
  })
  const risk = state.riskGuard.perSymbol[symbol]!
  const opened: EngineState.EngineState = {
    ...next,
    positions: {
      activeTrades: { [tradeId]: {
        tradeId,
        symbol,
        buyLeg: leg("buy", binance, price),
        sellLeg: leg("sell", upbit, price * (1 + premiumBps(loop) / 10_000)),
        entrySpreadBps: premiumBps(loop),
        quantity: 0.1,
        notionalUsd,
        openedAt: now,
        takeProfitBps: 40,
        stopLossBps: -60
      } },
      positionOpenTimes: { [tradeId]: now }
    },
    metrics: { ...next.metrics, tradesOpened: next.metrics.tradesOpened + 1 },
    riskGuard: {
      ...next.riskGuard,
      perSymbol: { [symbol]: { ...risk, tradesAllowed: risk.tradesAllowed + 1, capitalUsedUsd: notionalUsd, positionCount: 1 } }
    }
  }
  return { state: Result.getOrThrow(CustomSection.set(opened, cooldown, { untilLoop: loop + 10 })), opensTrades: true, closed: [] }
}

const program = Effect.gen(function*() {
  const scope = yield* Scope.make()
  const session = yield* Session.initialize(options("CLEAN_RESET")).pipe(Scope.provide(scope))
  let state = session.initialState
  for (let i = 0; i < 24; i++) {
    const next = step(state)
    const changed = next.opensTrades || next.closed.length > 0
    state = yield* session.persist(next.state, { tradesChanged: changed, opensTrades: next.opensTrades, closed: next.closed }).pipe(
      Effect.as(next.state),
      // Not durable, so not taken: the loop goes on without the trade.
      Effect.catchTag("StepRefused", () => {
        const skipped = { ...state, session: { ...state.session, loopCount: state.session.loopCount + 1 } }
        return Effect.as(session.persist(skipped, { tradesChanged: false }), skipped)
      })
    )
  }
  const [trade] = Object.values(state.positions.activeTrades)
  yield* Console.log(
    `${session.sessionId}: loop ${state.session.loopCount}, ${state.metrics.tradesOpened} trade(s) opened, ${state.metrics.tradesClosed} closed` +
      (trade === undefined ? "" : `, one open: buy on ${trade.buyLeg.venue}, sell on ${trade.sellLeg.venue}, ${trade.symbol}`)
  )
  // Every close is in the trade ledger, with the PnL the runner gave it.
  const ledger = yield* (yield* TradeLedger.TradeLedger).summary(session.sessionId)
  yield* Console.log(`ledger: ${ledger.entries} close(s), PnL ${ledger.realizedPnlUsd.toFixed(2)} USD; metrics: PnL ${state.metrics.totalPnlUsd.toFixed(2)} USD`)
  // The process dies here: no shutdown snapshot.
  yield* Scope.close(scope, Exit.fail("killed"))

  const report = yield* Restore.run(session.sessionId, { sections: [cooldown] })
  if (report.outcome !== "restored") return yield* Console.log(`nothing restored (${report.outcome})`)
  const restoredCooldown = Option.getOrUndefined(Result.getOrThrow(CustomSection.get(report.state, cooldown)))
  yield* Console.log(`restored loop ${report.loopCount} from the ${report.source} tier, cooldown until loop ${restoredCooldown?.untilLoop ?? "-"}`)
  yield* Console.log(`the same state as persisted: ${isDeepStrictEqual(report.state, state) ? "yes" : "NO"}`)
  // Resumed, and stopped cleanly this time: the session is not left for an automatic resume to find.
  const resumed = yield* Session.initialize(options("RESUME_FROM_STATE", session.sessionId))
  yield* Console.log(`resumed at loop ${resumed.initialState.session.loopCount}, then stopped`)
}).pipe(Effect.scoped, Effect.provide(Persistence.layer))

program.pipe(NodeRuntime.runMain)
