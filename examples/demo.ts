/**
 * The demo behind `npm start`: what the typed state model already guarantees.
 *
 * It seals an engine state with an open arbitrage trade (both leg orders)
 * into a snapshot, opens it again, then shows that a corrupted copy (the
 * original report's S5: the campaign emptied) and a bit-flipped copy are
 * refused with a typed reason instead of being restored.
 *
 * The paper runner, the stores and the restore pipeline come next; this demo
 * will grow into "trade, get killed, resume, compare" once they exist.
 */
import { Result } from "effect"
import type { EngineState } from "../src/domain/EngineState.ts"
import { CampaignId, MarketSymbol, OrderId, SessionId, TradeId } from "../src/domain/Ids.ts"
import { decodeSnapshotJson, encodeSnapshotJson } from "../src/domain/Snapshot.ts"

const sessionId = SessionId.make("sess_demo0001")
const symbol = MarketSymbol.make("BTC-USDT")
const tradeId = TradeId.make("trd_000001")
const start = Date.UTC(2026, 10, 26, 9, 0, 0)
const openedAt = start + 60_000
const quantity = 0.02
const [priceA, priceB] = [91_250.5, 91_412.25]
const notionalUsd = quantity * (priceA + priceB)

const state: EngineState = {
  session: { sessionId, startTime: start, mode: "paper", campaignId: CampaignId.make("balanced"), loopCount: 42, status: "running" },
  positions: {
    activeTrades: {
      [tradeId]: {
        tradeId,
        symbol,
        direction: "buy_a_sell_b",
        orderA: {
          orderId: OrderId.make("ord_000001"), venue: "A", symbol, side: "buy", price: priceA, quantity,
          filledQuantity: quantity, status: "filled", createdAt: openedAt, updatedAt: openedAt
        },
        orderB: {
          orderId: OrderId.make("ord_000002"), venue: "B", symbol, side: "sell", price: priceB, quantity,
          filledQuantity: quantity, status: "filled", createdAt: openedAt, updatedAt: openedAt
        },
        entrySpreadBps: ((priceB - priceA) / priceA) * 10_000,
        quantity,
        notionalUsd,
        openedAt,
        takeProfitBps: 10,
        stopLossBps: -25
      }
    },
    positionOpenTimes: { [tradeId]: openedAt }
  },
  metrics: { tradesOpened: 3, tradesClosed: 2, winningTrades: 1, totalPnlUsd: 12.38, portfolioEquityUsd: 10_012.38, initialCapitalUsd: 10_000 },
  riskGuard: {
    sessionStartTime: start,
    dailyLossUsd: 3.5,
    perSymbol: { [symbol]: { lossUsd: 3.5, tradesRejected: 4, tradesAllowed: 3, capitalUsedUsd: notionalUsd, positionCount: 1 } }
  }
}

const line = (text: string) => process.stdout.write(`${text}\n`)
let ok = true

const sealed = encodeSnapshotJson({ sessionId, snapshotType: "trade", sequence: 1, fencingToken: 1, createdAt: openedAt }, state)
if (Result.isFailure(sealed)) {
  line(`could not seal the snapshot: ${sealed.failure.message}`)
  process.exit(1)
}
line(`sealed a snapshot of ${sessionId}: ${sealed.success.length} bytes, one open trade with both legs`)

const opened = decodeSnapshotJson(sealed.success)
const same = Result.isSuccess(opened) && JSON.stringify(opened.success.state) === JSON.stringify(state)
line(`opened it again: ${same ? "the same state, open trade and both leg orders included" : "NOT the same state"}`)
ok &&= same

const corruptions: ReadonlyArray<readonly [string, string]> = [
  ["campaign emptied (the original report's S5)", sealed.success.replace("\"campaignId\":\"balanced\"", "\"campaignId\":\"\"")],
  ["one byte changed", sealed.success.replace("\"loopCount\":42", "\"loopCount\":43")],
  ["cut in half", sealed.success.slice(0, sealed.success.length / 2)]
]
for (const [what, text] of corruptions) {
  const result = decodeSnapshotJson(text)
  const refused = Result.isFailure(result)
  ok &&= refused
  line(`${what}: ${refused ? `refused (${result.failure.reason._tag}: ${result.failure.message.slice(0, 100)})` : "ACCEPTED"}`)
}

line("not built yet: the Redis and PostgreSQL stores, the restore pipeline and the paper runner (see the README)")
line(ok ? "verdict: PASS: state round-trips exactly and every corruption was refused" : "verdict: FAIL")
process.exit(ok ? 0 : 1)
