/**
 * The D70 form as version 0 of each section: the report's own example and a
 * session with open positions read through the same upgrades as every
 * stored version; what D70 leaves out is derived and said; malformed D70
 * data is a typed error naming the field; D70's session ids are session ids.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { readFileSync } from "node:fs"
import { decodeD70Session } from "../../src/adoption/D70Import.ts"
import { SessionId } from "../../src/domain/Ids.ts"
import { sectionCodecs } from "../../src/domain/StateCodec.ts"

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`../fixtures/d70/${name}.json`, import.meta.url), "utf8"))
const parts = ["session", "positions", "metrics", "risk_guard"] as const
const sectionsOf = (name: string, sessionId: string) => {
  const keys = fixture(name)
  return parts.map((part) => structuredClone(keys[`arbitrage:state:test:${sessionId}:${part}`]) as Record<string, any>)
}
const textsOf = (sections: ReadonlyArray<unknown>) => sections.map((section) => JSON.stringify(section))

describe("D70 sections as version 0", () => {
  it("the report's example: each section without a version is read as D70's and upgraded to the current one", () => {
    const [session, positions, metrics] = sectionsOf("report-example", "session_20251120_090301")
    const decodedSession: unknown = Result.getOrThrow(sectionCodecs.session.decode(session))
    assert.deepStrictEqual(decodedSession, {
      sessionId: "session_20251120_090301", startTime: 1763629181208, mode: "paper", campaignId: "S4", loopCount: 20, status: "running"
    })
    assert.deepStrictEqual(Result.getOrThrow(sectionCodecs.positions.decode(positions)), { activeTrades: {}, positionOpenTimes: {} })
    const decodedMetrics = Result.getOrThrow(sectionCodecs.metrics.decode(metrics))
    assert.strictEqual(decodedMetrics.initialCapitalUsd, metrics!.portfolio_equity - metrics!.total_pnl_usd, "initial capital = equity - PnL")
  })

  it("the report's risk guard lacks what D70's get_state() holds: alone it is refused, naming the field; in a session it is derived and said", () => {
    const sections = sectionsOf("report-example", "session_20251120_090301")
    const alone = sectionCodecs.riskGuard.decode(sections[3])
    assert.isTrue(Result.isFailure(alone))
    assert.include(Result.isFailure(alone) ? alone.failure.message : "", "session_start_time")
    const decoded = Result.getOrThrow(decodeD70Session("session_20251120_090301", textsOf(sections), { campaign: "balanced", acceptLostTrades: true }))
    assert.strictEqual(decoded.state.riskGuard.sessionStartTime, decoded.state.session.startTime)
    assert.deepStrictEqual(decoded.state.riskGuard.perSymbol, {})
    assert.isTrue(decoded.derived.some((line) => line.startsWith("risk guard session_start_time: the session's start_time")))
  })

  it("open positions and every risk map: legs by direction, ids kept under a prefix, counters per symbol, nothing derived for the risk guard", () => {
    const sections = sectionsOf("open-positions", "session_20251121_143015")
    const decoded = Result.getOrThrow(decodeD70Session("session_20251121_143015", textsOf(sections), { acceptLostTrades: false }))
    const d70Trades = sections[1]!.active_orders
    assert.deepStrictEqual(Object.keys(decoded.state.positions.activeTrades).sort(), Object.keys(d70Trades).map((id) => `trd_d70_${id.toLowerCase()}`).sort())
    for (const [id, d70] of Object.entries<any>(d70Trades)) {
      const trade = decoded.state.positions.activeTrades[`trd_d70_${id.toLowerCase()}` as never]!
      const [bought, sold] = d70.direction === "buy_a_sell_b" ? [d70.order_a, d70.order_b] : [d70.order_b, d70.order_a]
      assert.deepStrictEqual([trade.buyLeg.venue, trade.buyLeg.price, trade.sellLeg.venue, trade.sellLeg.price], [bought.venue, bought.price, sold.venue, sold.price])
      assert.strictEqual(trade.buyLeg.orderId, `ord_d70_${bought.order_id.toLowerCase()}`)
      assert.strictEqual(trade.openedAt, Math.round(d70.open_time * 1000))
    }
    const guard = sections[3]!
    for (const symbol of Object.keys(guard.per_symbol_loss)) {
      assert.deepStrictEqual(decoded.state.riskGuard.perSymbol[symbol as never], {
        lossUsd: guard.per_symbol_loss[symbol],
        tradesRejected: guard.per_symbol_trades_rejected[symbol],
        tradesAllowed: guard.per_symbol_trades_allowed[symbol],
        capitalUsedUsd: guard.per_symbol_capital_used[symbol],
        positionCount: guard.per_symbol_position_count[symbol]
      })
    }
    assert.isFalse(decoded.derived.some((line) => line.startsWith("risk guard")))
  })

  it("malformed D70 data is a typed error naming the field, never a default", () => {
    const cases: Array<readonly [number, (section: Record<string, any>) => void, string]> = [
      [0, (s) => (s.loop_count = -1), "session.loop_count"],
      [0, (s) => (s.start_time = "yesterday"), "session.start_time"],
      [0, (s) => (s.extra = 1), "session.extra"],
      [2, (s) => delete s.portfolio_equity, "metrics.portfolio_equity"],
      [2, (s) => (s.total_trades_closed = 3), "3 trades closed but only 2 opened"],
      [3, (s) => (s.per_symbol_loss = { "BTC-USDT": -5 }), "riskGuard.per_symbol_loss"]
    ]
    for (const [index, damage, named] of cases) {
      const sections = sectionsOf("report-example", "session_20251120_090301")
      damage(sections[index]!)
      const decoded = decodeD70Session("session_20251120_090301", textsOf(sections), { campaign: "balanced", acceptLostTrades: true })
      assert.isTrue(Result.isFailure(decoded), named)
      assert.include(Result.isFailure(decoded) ? decoded.failure : "", named)
    }
    const versionless = sectionCodecs.metrics.decode({ tradesOpened: 1 })
    assert.isTrue(Result.isFailure(versionless) && versionless.failure.reason._tag === "UnsupportedVersion")
    assert.include(Result.isFailure(versionless) ? versionless.failure.message : "", "has version missing, and does not read as version 0 (the D70 form)")
  })

  it("trade ids that become one id here refuse the session, naming them, rather than lose a trade", () => {
    const sections = sectionsOf("open-positions", "session_20251121_143015")
    const trades = sections[1]!.active_orders
    trades["t-20251121-0007"] = { ...trades["T-20251121-0007"], trade_id: "t-20251121-0007" }
    const decoded = decodeD70Session("session_20251121_143015", textsOf(sections), { acceptLostTrades: false })
    assert.isTrue(Result.isFailure(decoded))
    assert.include(Result.isFailure(decoded) ? decoded.failure : "", "T-20251121-0007 and t-20251121-0007 (all trd_d70_t-20251121-0007)")
  })

  it("order ids that become one id here refuse the session too (one leg would be taken for another)", () => {
    const sections = sectionsOf("open-positions", "session_20251121_143015")
    const trades = sections[1]!.active_orders
    const [first, second] = Object.values(trades) as Array<Record<string, any>>
    second!.order_a.order_id = first!.order_a.order_id.toLowerCase()
    const failure = Result.match(decodeD70Session("session_20251121_143015", textsOf(sections), { acceptLostTrades: false }), {
      onFailure: (reason) => reason,
      onSuccess: () => "imported"
    })
    assert.include(failure, `its order ids ${first!.order_a.order_id} and ${second!.order_a.order_id} (all ord_d70_${second!.order_a.order_id})`)
  })

  it("every option a session needs is said in one refusal: lost trades, and a campaign that does not trade its open symbols (naming one that does)", () => {
    const sections = sectionsOf("open-positions", "session_20251121_143015")
    const [, positions, metrics, guard] = sections
    // One open trade moved to SOL-USDT, which only the aggressive preset trades; and more opened than are kept.
    const [, moved] = Object.values(positions!.active_orders) as Array<Record<string, any>>
    const from = moved!.symbol
    moved!.symbol = moved!.order_a.symbol = moved!.order_b.symbol = "SOL-USDT"
    for (const map of Object.values(guard!).filter((v): v is Record<string, unknown> => typeof v === "object" && v !== null && from in v)) {
      map["SOL-USDT"] = map[from]
      delete map[from]
    }
    metrics!.total_trades_opened += 3
    const refusal = (options: Parameters<typeof decodeD70Session>[2]) =>
      Result.match(decodeD70Session("session_20251121_143015", textsOf(sections), options), { onFailure: (reason) => reason, onSuccess: () => "imported" })
    const first = refusal({ acceptLostTrades: false })
    assert.include(first, "--accept-lost-trades imports the session without them")
    assert.include(first, "it has open trades on SOL-USDT, which campaign balanced does not trade (BTC-USDT, ETH-USDT): give --campaign aggressive")
    const unknown = refusal({ acceptLostTrades: true, campaign: "S9" })
    assert.include(unknown, `the campaign given "S9" is not a preset here`)
    assert.strictEqual(refusal({ acceptLostTrades: true, campaign: "aggressive" }), "imported")
  })

  it("counts that are not counts are the Schema's to refuse, not a reason to accept lost trades", () => {
    for (const [field, value] of [["total_trades_closed", -5], ["total_trades_opened", 1e300]] as const) {
      const sections = sectionsOf("open-positions", "session_20251121_143015")
      sections[2]![field] = value
      const decoded = decodeD70Session("session_20251121_143015", textsOf(sections), { acceptLostTrades: false })
      assert.isTrue(Result.isFailure(decoded), field)
      assert.notInclude(Result.isFailure(decoded) ? decoded.failure : "", "--accept-lost-trades", field)
    }
  })

  it("D70's session ids are session ids, beside this project's; near misses are not", () => {
    const is = Schema.is(SessionId)
    for (const id of ["session_20251120_090301", "session_19991231_235959", "sess_a1", "sess_20251120_090301_abc123"]) assert.isTrue(is(id), id)
    for (const id of ["session_20251320_090301", "session_20251120_250301", "session_2025112_090301", "session_20251120_090301x", "Session_20251120_090301", "session_20251120:090301"]) {
      assert.isFalse(is(id), id)
    }
  })
})
