/**
 * LiveRunner: the arbitrage runner against venues (`Venue`), the second mode
 * of the runner beside the paper loop.
 *
 * Each loop, in this order:
 * 1. what the venues say of every order in flight is read (by client order id);
 * 2. the trades in flight move on (`LiveTrades.resolve`: opened, unwound,
 *    closed, a leg sent again), and new exits and entries are decided on the
 *    venues' quotes (`LiveTrades.decide`);
 * 3. the new state is persisted, durable first when it holds an intent to
 *    send: an order is never sent before its intent is durable (when the
 *    durable tier does not take it, the loop sends nothing and decides
 *    nothing: the venues' facts are read again at the next);
 * 4. the intents are sent, the cancels asked for, and what the venues
 *    answered is persisted before the next loop acts on it.
 *
 * Before the first loop, and every `reconcileEvery` loops, the state is
 * reconciled with the venues (`Reconcile`): what happened while the runner
 * was down is applied, orphans are cancelled, and while the positions differ
 * from the venues' no trade opens (fail closed). A reconciliation the venues
 * do not let finish (unreachable, rate limits beyond its patience) is tried
 * again every loop, and no trade opens until one finishes; the orders in
 * flight are still followed meanwhile. A new session first records what the
 * venues held (its baseline): a new session whose venues do not answer
 * fails with the `VenueError`.
 *
 * `onStage` is told each stage of an order's life as it is reached (for the
 * CLI's JSON lines, and the tests that kill the runner at each of them).
 *
 * @module
 */
import { Clock, Duration, Effect, Option } from "effect"
import type { ClosedTrade } from "../domain/ClosedTrade.ts"
import type { EngineState } from "../domain/EngineState.ts"
import type { MarketSymbol, Venue as VenueName } from "../domain/Ids.ts"
import type { VenueBaseline } from "../domain/OrderIntent.ts"
import {
  decide,
  intentsOf,
  isWorking,
  type LiveSettings,
  notAtVenue,
  type QuotePair,
  replaceIntent,
  resolve,
  withStatus,
  withVenueOrder
} from "../orders/LiveTrades.ts"
import * as Reconcile from "../orders/Reconcile.ts"
import type { StepChange, StepRefused } from "../session/Session.ts"
import { type ClientOrderId, Venue, VenueError } from "../venue/Venue.ts"

/** A stage of an order's life the runner reaches (see `onStage`). */
export type Stage =
  | "reconciling"
  | "intent_recorded"
  | "before_send"
  | "after_send"
  | "ack_recorded"
  | "fill_seen"
  | "during_cancel"

/** How a live run goes. */
export interface LiveRunOptions {
  readonly settings: LiveSettings
  /** Run until the session's loop count reaches this. */
  readonly targetLoops: number
  /** Reconcile with the venues every this many loops (and before the first; default 50). */
  readonly reconcileEvery?: number
  /** Told each stage as it is reached. */
  readonly onStage?: (stage: Stage, detail: Record<string, unknown>) => Effect.Effect<void>
  /** Told each reconciliation's plan (or that it did not finish), as it is made. */
  readonly onReconciled?: (plan: Reconcile.ReconcilePlan) => Effect.Effect<void>
  /** Told after each loop, with the last reconciliation's verdict. */
  readonly onLoop?: (state: EngineState, reconciled: Reconcile.ReconcilePlan) => Effect.Effect<void>
  /**
   * At its target, the run goes on following its trades in flight (deciding nothing new: no entry,
   * no exit) until none is left, for at most this long; without it, the run stops at its target
   * whatever is in flight (a resume follows it).
   */
  readonly settleWithin?: Duration.Input
}

/** What a live session persists with: the session's `persist` and its gate. */
export interface LiveSession<E, R> {
  /** Persists a step (`Session.ActiveSession.persist`). */
  readonly persist: (state: EngineState, change: StepChange) => Effect.Effect<void, E | StepRefused, R>
  /** Whether the durable tier takes snapshots, so that new trades may open. */
  readonly canTrade: Effect.Effect<boolean>
}

/** Runs `session` from `start` against the venues until its loop count reaches `options.targetLoops`; its final state. */
export const run = Effect.fn("LiveRunner.run")(function*<E, R>(session: LiveSession<E, R>, start: EngineState, options: LiveRunOptions) {
  const venue = yield* Venue
  const { settings } = options
  const venues = settings.venues
  const symbols = settings.campaign.symbols
  const stage = (name: Stage, detail: Record<string, unknown> = {}) => (options.onStage === undefined ? Effect.void : options.onStage(name, detail))
  const reconcileEvery = Math.max(1, options.reconcileEvery ?? 50)
  let state = start

  /** Persists a step; `sends` says it holds intents to send (durable first: refused when it cannot be). */
  const persist = (next: EngineState, sends: boolean, closed: ReadonlyArray<ClosedTrade> = []) =>
    session.persist(next, { tradesChanged: true, opensTrades: sends, closed }).pipe(
      Effect.as(true),
      Effect.catchTag("StepRefused", () => Effect.succeed(false))
    )

  // A new session first records what the venues hold, of every symbol (the account may hold some it
  // does not trade): its positions are counted from there.
  if (state.positions.venueBaseline === undefined) {
    const baseline: Record<string, Record<string, number>> = {}
    for (const name of venues) {
      const balances = yield* venue.balances(name)
      baseline[name] = { ...Object.fromEntries(symbols.map((symbol) => [symbol, 0])), ...balances.positions }
    }
    const recorded: EngineState = { ...state, positions: { ...state.positions, venueBaseline: baseline as VenueBaseline } }
    if (yield* persist(recorded, false)) state = recorded
  }

  // Intents still `intended` in the state this run starts from may have been sent by the process
  // that died before it recorded the answer: until one is looked up (by a reconciliation that
  // finishes, or a fetch), it is never taken for an order the venue does not have.
  const mayBeSent = new Set(intentsOf(start).filter(({ intent }) => intent.status === "intended").map(({ intent }) => intent.clientOrderId))

  const reconcile = Effect.gen(function*() {
    yield* stage("reconciling")
    const now = yield* Clock.currentTimeMillis
    const found = yield* Reconcile.plan(state, venues, symbols, now)
    const applied = yield* Reconcile.apply(state, found, now)
    if (applied !== state && (yield* persist(applied, false))) state = applied
    for (const finding of found.intents) mayBeSent.delete(finding.clientOrderId)
    return found
  }).pipe(Effect.catchIf((error): error is VenueError => error instanceof VenueError, (error) =>
    Effect.gen(function*() {
      if (reconciled?.unfinished === undefined) {
        yield* Effect.logWarning(`${state.session.sessionId}: the reconciliation did not finish (${error.message}); no new trades until it does`)
      }
      return Reconcile.unfinished(error)
    })))
  let reconciled: Reconcile.ReconcilePlan | undefined
  const reconcileTold = Effect.tap(reconcile, (plan) => (options.onReconciled === undefined ? Effect.void : options.onReconciled(plan)))
  reconciled = yield* reconcileTold

  /** What the venues say now of every order in flight (one that may have filled or been acked). */
  const refresh = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    let next = state
    let filled = false
    for (const { intent, tradeId } of intentsOf(state)) {
      if (!isWorking(intent) || (intent.status === "intended" && !mayBeSent.has(intent.clientOrderId))) continue
      const found = yield* Effect.result(venue.fetch(intent.venue, intent.clientOrderId as ClientOrderId))
      if (found._tag === "Failure") continue
      mayBeSent.delete(intent.clientOrderId)
      const updated = Option.match(found.success, { onNone: () => notAtVenue(intent, now), onSome: (order) => withVenueOrder(intent, order, now) })
      if (updated.filledQuantity > intent.filledQuantity) filled = true
      next = replaceIntent(next, tradeId, updated)
    }
    if (filled) yield* stage("fill_seen")
    return next
  })

  /** Both venues' quotes of each symbol (a symbol a venue does not answer for is left out this loop). */
  const quotes = Effect.gen(function*() {
    const pairs: Array<QuotePair> = []
    for (const symbol of symbols) {
      const a = yield* Effect.result(venue.quote(venues[0], symbol))
      const b = yield* Effect.result(venue.quote(venues[1], symbol))
      if (a._tag === "Success" && b._tag === "Success") pairs.push({ symbol, quotes: [a.success, b.success] })
    }
    return pairs
  })

  /** Sends every intent still to send, and asks for `cancels`; the state with what the venues answered. */
  const send = (
    from: EngineState,
    cancels: ReadonlyArray<{ readonly tradeId: string; readonly intent: { readonly clientOrderId: string; readonly venue: VenueName } }>,
    held: ReadonlyArray<string>
  ) =>
    Effect.gen(function*() {
      let next = from
      for (const { intent, tradeId } of intentsOf(from)) {
        if (intent.status !== "intended" || held.includes(intent.clientOrderId)) continue
        yield* stage("before_send", { clientOrderId: intent.clientOrderId })
        const answer = yield* Effect.result(venue.submit({
          clientOrderId: intent.clientOrderId as ClientOrderId,
          venue: intent.venue,
          symbol: intent.symbol as MarketSymbol,
          side: intent.side,
          quantity: intent.quantity,
          limitPrice: intent.limitPrice
        }))
        yield* stage("after_send", { clientOrderId: intent.clientOrderId })
        // An answer, or a refusal that says the order was not made, settles whether it was sent.
        if (answer._tag === "Success" || answer.failure.reason._tag === "Rejected" || answer.failure.reason._tag === "OutcomeUnknown") {
          mayBeSent.delete(intent.clientOrderId)
        }
        const now = yield* Clock.currentTimeMillis
        next = replaceIntent(next, tradeId, answer._tag === "Success" ? withVenueOrder(intent, answer.success, now) : afterFailure(intent, answer.failure, now))
      }
      for (const { intent, tradeId } of cancels) {
        yield* stage("during_cancel", { clientOrderId: intent.clientOrderId })
        const answer = yield* Effect.result(venue.cancel(intent.venue, intent.clientOrderId as ClientOrderId))
        const current = intentsOf(next).find((i) => i.intent.clientOrderId === intent.clientOrderId)?.intent
        if (answer._tag === "Success" && current !== undefined) next = replaceIntent(next, tradeId, withVenueOrder(current, answer.success, yield* Clock.currentTimeMillis))
      }
      return next
    })

  const settleMs = options.settleWithin === undefined ? 0 : Duration.toMillis(Duration.fromInputUnsafe(options.settleWithin))
  let settleUntil: number | undefined
  while (true) {
    const loop = state.session.loopCount
    const settling = loop >= options.targetLoops
    if (settling) {
      const inFlight = Object.keys(state.positions.pendingTrades ?? {}).length
      if (inFlight === 0 || settleMs <= 0) break
      const now = yield* Clock.currentTimeMillis
      if (settleUntil === undefined) {
        settleUntil = now + settleMs
        yield* Effect.logInfo(`${state.session.sessionId}: at its target with ${inFlight} trade(s) in flight: following them, deciding nothing new, for up to ${Duration.format(Duration.millis(settleMs))}`)
      }
      if (now >= settleUntil) {
        yield* Effect.logWarning(`${state.session.sessionId}: ${inFlight} trade(s) still in flight after ${Duration.format(Duration.millis(settleMs))}: stopped with them (a resume follows them)`)
        break
      }
    }
    if (reconciled.unfinished !== undefined || (loop > start.session.loopCount && loop % reconcileEvery === 0)) reconciled = yield* reconcileTold
    const refreshed = yield* refresh
    const pairs = yield* quotes
    const now = yield* Clock.currentTimeMillis
    const limitOf = (name: VenueName, symbol: MarketSymbol, side: "buy" | "sell") => {
      const pair = pairs.find((p) => p.symbol === symbol)
      if (pair === undefined) return undefined
      const quote = name.toLowerCase() === venues[0].toLowerCase() ? pair.quotes[0] : pair.quotes[1]
      return side === "buy" ? quote.ask * (1 + settings.slippageBps / 10_000) : quote.bid * (1 - settings.slippageBps / 10_000)
    }
    const resolution = resolve(refreshed, now, loop, limitOf, (id) => mayBeSent.has(id))
    const canOpen = reconciled.agrees && (yield* session.canTrade)
    const decided = settling ? resolution.state : decide(resolution.state, pairs, now, loop, settings, canOpen)
    const next: EngineState = { ...decided, session: { ...decided.session, loopCount: loop + 1 } }
    const sends = intentsOf(next).some(({ intent }) => intent.status === "intended" && !resolution.held.includes(intent.clientOrderId)) ||
      resolution.cancels.length > 0
    if (!(yield* persist(next, sends, resolution.closed))) {
      // Not durable: nothing is sent or cancelled, nothing decided; the venues are read again next loop.
      const idle: EngineState = { ...state, session: { ...state.session, loopCount: loop + 1 } }
      yield* session.persist(idle, { tradesChanged: false })
      state = idle
    } else {
      state = next
      if (sends) {
        yield* stage("intent_recorded")
        const answered = yield* send(next, resolution.cancels, resolution.held)
        if (answered !== next && (yield* persist(answered, false))) {
          state = answered
          yield* stage("ack_recorded")
        }
      }
    }
    if (options.onLoop !== undefined) yield* options.onLoop(state, reconciled)
    yield* Effect.sleep(Duration.millis(settings.loopMs))
  }
  return state
})

/** An intent after its submit failed: rejected, its outcome unknown (looked up next), or still to send. */
const afterFailure = (intent: Parameters<typeof withStatus>[0], error: VenueError, now: number) => {
  switch (error.reason._tag) {
    case "Rejected":
      return withStatus(intent, "rejected", error.reason.message, now)
    case "OutcomeUnknown":
      return withStatus(intent, "unknown", error.reason.message, now)
    case "RateLimited":
    case "Unreachable":
      return intent
  }
}
