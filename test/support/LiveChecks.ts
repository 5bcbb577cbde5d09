/**
 * What must hold between a live session's state and the venues, after any
 * crash and at the end (the headline of the live runner):
 * - at most one venue order per client order id, ever;
 * - no venue order the state does not know, unless it never filled and can
 *   change no more (an entry given up before anything filled);
 * - the positions the state says each venue holds are what it holds;
 * - the realized PnL of the venues' fills of every closed trade is the PnL
 *   the ledger and the metrics count;
 * - no trade counted twice in the ledger.
 */
import { assert } from "@effect/vitest"
import { Effect, Result } from "effect"
import type { LedgerEntry } from "../../src/domain/ClosedTrade.ts"
import type { EngineState } from "../../src/domain/EngineState.ts"
import type { MarketSymbol, Venue as VenueName } from "../../src/domain/Ids.ts"
import { clientOrderPrefixOf } from "../../src/domain/OrderIntent.ts"
import { intentsOf } from "../../src/orders/LiveTrades.ts"
import * as Reconcile from "../../src/orders/Reconcile.ts"
import { readLedger } from "../../src/recovery/LedgerAudit.ts"
import { isTerminal, Venue, type VenueFill, type VenueOrder } from "../../src/venue/Venue.ts"

/** Every fill of `venue`, oldest first. */
export const allFills = (venue: VenueName) =>
  Effect.gen(function*() {
    const service = yield* Venue
    const fills: Array<VenueFill> = []
    let cursor = 0
    while (true) {
      const page = yield* service.fillsSince(venue, cursor, 1_000)
      fills.push(...page.fills)
      if (page.fills.length === 0 || page.cursor === cursor) return fills
      cursor = page.cursor
    }
  })

/** The trade id an order of the session is for (its client order id names it). */
const tradeOf = (clientOrderId: string, prefix: string): string | undefined => {
  // (a string id: compared with ids of every kind below)
  const found = new RegExp(`^${prefix}-(.+)-(eb|es|xs|xb|uw)\\d+$`).exec(clientOrderId)
  return found === null ? undefined : `trd_${found[1]}`
}

/** Checks everything the module header names; `orders` is every order the venues ever took (the simulator's admin list). */
export const assertStateMatchesVenues = (
  state: EngineState,
  orders: ReadonlyArray<VenueOrder>,
  venues: readonly [VenueName, VenueName],
  symbols: ReadonlyArray<MarketSymbol>,
  where: string
) =>
  Effect.gen(function*() {
    const prefix = clientOrderPrefixOf(state.session.sessionId)
    const ours = orders.filter((order) => order.clientOrderId.startsWith(`${prefix}-`))
    const perId = new Map<string, number>()
    for (const order of ours) perId.set(order.clientOrderId, (perId.get(order.clientOrderId) ?? 0) + 1)
    assert.deepStrictEqual([...perId].filter(([, n]) => n > 1), [], `${where}: a client order id made more than one venue order`)

    const ledger = (yield* readLedger(state.session.sessionId)).map((read) => Result.getOrThrow(read.result))
    const closedIds: Array<string> = ledger.map((entry: LedgerEntry) => entry.trade.tradeId)
    assert.strictEqual(new Set(closedIds).size, closedIds.length, `${where}: a trade is in the ledger twice`)
    const known = new Set([...Object.keys(state.positions.activeTrades), ...Object.keys(state.positions.pendingTrades ?? {}), ...closedIds])
    const knownOrders = new Set(intentsOf(state).map(({ intent }) => intent.clientOrderId))
    const strangers = ours.filter((order) => {
      const trade = tradeOf(order.clientOrderId, prefix)
      if (knownOrders.has(order.clientOrderId) || (trade !== undefined && known.has(trade))) return false
      return !(order.filledQuantity === 0 && isTerminal(order.status))
    })
    assert.deepStrictEqual(strangers.map((o) => `${o.clientOrderId} ${o.status} ${o.filledQuantity}`), [], `${where}: venue orders the state does not know`)

    const found = yield* Reconcile.plan(state, venues, symbols, Date.now())
    assert.deepStrictEqual(found.differences, [], `${where}: the venues hold other positions than the state says`)
    assert.deepStrictEqual(found.orphans.map((o) => o.order.clientOrderId), [], `${where}: orphans`)

    const fills = [...(yield* allFills(venues[0])), ...(yield* allFills(venues[1]))].filter((fill) => fill.clientOrderId.startsWith(`${prefix}-`))
    const closed = new Set(closedIds)
    const cash = fills
      .filter((fill) => closed.has(tradeOf(fill.clientOrderId, prefix) ?? ""))
      .reduce((sum, fill) => sum + (fill.side === "sell" ? 1 : -1) * fill.quantity * fill.price - fill.feeUsd, 0)
    const ledgerPnl = ledger.reduce((sum, entry) => sum + entry.trade.realizedPnlUsd, 0)
    assert.closeTo(cash, ledgerPnl, 1e-6 * Math.max(1, Math.abs(ledgerPnl)), `${where}: the venues' fills of closed trades made ${cash}, the ledger says ${ledgerPnl}`)
    assert.closeTo(ledgerPnl, state.metrics.totalPnlUsd, 1e-6 * Math.max(1, Math.abs(ledgerPnl)), `${where}: the ledger and the metrics`)
    return {
      orders: ours.length,
      closed: ledger.length,
      open: Object.keys(state.positions.activeTrades).length,
      reasons: ledger.map((entry) => entry.trade.reason)
    }
  })
