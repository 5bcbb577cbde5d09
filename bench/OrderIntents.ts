/**
 * The two costs of live trading through venues, each next to a raw
 * counterpart doing the same I/O in the same timed region:
 *
 * - an order intent made durable before its legs are sent (the step that
 *   decides a trade is committed to PostgreSQL, then written to Redis, before
 *   the first submit);
 * - a reconciliation of 100 pending intents with the venue simulator run as a
 *   process of its own (each intent looked up by client order id, the orders
 *   of the session's prefix and the balances of both venues read).
 */
import { Effect } from "effect"
import type { Redis } from "ioredis"
import type pg from "pg"
import type { EngineState } from "../src/domain/EngineState.ts"
import { type Env, SessionId, TradeId } from "../src/domain/Ids.ts"
import { clientOrderPrefixOf } from "../src/domain/OrderIntent.ts"
import * as Reconcile from "../src/orders/Reconcile.ts"
import { campaigns } from "../src/runner/Campaign.ts"
import * as Session from "../src/session/Session.ts"
import { pendingField } from "../src/store/internal/LiveStateDelta.ts"
import { sectionKey, writeMarkKey } from "../src/store/StateKeys.ts"
import * as HttpVenue from "../src/venue/HttpVenue.ts"
import { binance, entriesAtVenues, openingTrade, upbit } from "../test/support/PendingTrades.ts"
import { startSimulator } from "../test/support/VenueSimulator.ts"
import { alternate } from "./Harness.ts"
import { rawSnapshot } from "./RawDrivers.ts"

/**
 * 6. A step that opens a trade through venues, durable before its legs are sent: ours is the
 * session's `persist` of the step (checks, encode, checksum, the snapshot with its lease check in
 * one statement, then the live save's script); the raw side serialises the same sections and sends
 * them as the same one statement (`RawDrivers.rawSnapshot`), then a MULTI of the same live writes (the session
 * section, the new trade's field, the former one's removal, the mark). Each run decides a new trade
 * (the one before leaves the state), so every run writes one trade in flight.
 */
export const intentBench = (options: { readonly env: Env; readonly base: EngineState; readonly sql: pg.Client; readonly redis: Redis; readonly runs: number }) =>
  Effect.scoped(Effect.gen(function*() {
    const { base, env, redis, sql } = options
    const sessionId = base.session.sessionId
    const rawId = SessionId.make(`${sessionId}r`)
    const start: EngineState = { ...base, positions: { activeTrades: base.positions.activeTrades, positionOpenTimes: base.positions.positionOpenTimes } }
    const session = yield* Session.initialize({
      mode: "CLEAN_RESET",
      sessionId,
      newState: () => start,
      policy: { snapshotInterval: "1 hour" }
    })
    const symbol = Object.values(start.positions.activeTrades)[0]?.symbol ?? campaigns.aggressive!.symbols[0]!
    const stateAt = (i: number): EngineState => {
      const tradeId = TradeId.make(`trd_bench${i}`)
      const decidedAt = start.session.startTime + i
      return {
        ...start,
        session: { ...start.session, loopCount: start.session.loopCount + i + 1 },
        positions: { ...start.positions, pendingTrades: { [tradeId]: openingTrade(sessionId, tradeId, symbol, decidedAt) } }
      }
    }
    const positionsKey = sectionKey(env, rawId, "positions")
    let rawSequence = 1
    const raw = async (i: number) => {
      const state = stateAt(i)
      await rawSnapshot(sql, env, rawId, rawSequence++, state)
      const [tradeId, trade] = Object.entries(state.positions.pendingTrades!)[0]!
      await redis.multi()
        .set(sectionKey(env, rawId, "session"), JSON.stringify(state.session))
        .hset(positionsKey, pendingField(tradeId), JSON.stringify(trade))
        .hdel(positionsKey, pendingField(`trd_bench${i - 1}`))
        .set(writeMarkKey(env, rawId), "raw")
        .exec()
    }
    return yield* alternate("6. order intent durable before a send (10 trades)", options.runs, 100, raw, (i) =>
      session.persist(stateAt(i), { tradesChanged: true, opensTrades: true }))
  }))

/**
 * 7. Reconciling 100 pending intents (50 trades opening, both legs working at the venues): ours is
 * `Reconcile.plan` through `HttpVenue` (each intent fetched by client order id, decoded and compared
 * with the state; the orders of the session's prefix and the balances of both venues); the raw side
 * sends the same 104 requests one after the other with `fetch` and parses each answer.
 */
export const reconcileBench = (options: { readonly base: EngineState; readonly runs: number }) =>
  Effect.scoped(Effect.gen(function*() {
    const sim = yield* startSimulator()
    // The orders stay working while they are looked up: the plan finds nothing to change each time.
    yield* sim.faults({ matching: false })
    const venueLayer = HttpVenue.layer({ url: sim.url })
    const symbols = campaigns.aggressive!.symbols
    const state = yield* entriesAtVenues(options.base, 50, symbols).pipe(Effect.provide(venueLayer))
    const sessionId = options.base.session.sessionId
    const venues = [upbit, binance] as const
    const prefix = `${clientOrderPrefixOf(sessionId)}-`
    const get = async (path: string) => {
      const response = await fetch(`${sim.url}${path}`)
      if (!response.ok) throw new Error(`${path}: ${response.status}`)
      return response.json()
    }
    const raw = async () => {
      for (const trade of Object.values(state.positions.pendingTrades!)) {
        for (const intent of trade.intents) await get(`/order?venue=${intent.venue}&clientOrderId=${intent.clientOrderId}`)
      }
      for (const venue of venues) await get(`/orders?venue=${venue}&prefix=${encodeURIComponent(prefix)}&all=false`)
      for (const venue of venues) await get(`/balances?venue=${venue}`)
    }
    const ours = Effect.flatMap(Reconcile.plan(state, venues, symbols, Date.now()), (found) =>
      found.agrees && found.orphans.length === 0 && found.intents.length === 100 && found.intents.every((i) => i.action === "none")
        ? Effect.void
        : Effect.die(new Error(`the reconciliation found something to do: ${Reconcile.describePlan(found).join("; ") || `${found.intents.length} intents`}`)))
    return yield* alternate("7. reconcile 100 pending intents", options.runs, 5, raw, () => ours).pipe(Effect.provide(venueLayer))
  }))
