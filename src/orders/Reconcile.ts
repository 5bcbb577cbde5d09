/**
 * Reconcile: a live session's state held against the venues, on every resume
 * and periodically while it runs.
 *
 * - Every intent not yet settled is looked up at its venue by client order id:
 *   what the venue says of it (acked, filled while the runner was down,
 *   cancelled, expired) becomes the intent's state; one the venue never saw
 *   is to be sent (again, under the same id: it cannot make a second order).
 * - Orphans: working orders at a venue that carry this session's client
 *   order prefix and that no intent of the state knows (sent by a runner
 *   whose state was lost, or by hand) are cancelled; the rule is to adopt
 *   nothing the state cannot account for.
 * - Positions: what each venue holds of each symbol must be what the state
 *   says it should (its baseline, its open trades' legs, its intents'
 *   fills). When they still differ after that (a position changed by hand, a
 *   filled orphan), the session is refused new trades (fail closed) and the
 *   plan names every difference, until an operator acts.
 *
 * `plan` changes nothing; `apply` carries a plan out (the intents updated,
 * the orphans cancelled). A rate limit is waited out, as the venue asks.
 *
 * @module
 */
import { Duration, Effect, Option } from "effect"
import { clientOrderPrefixOf, isSettled, type OrderIntent } from "../domain/OrderIntent.ts"
import type { EngineState } from "../domain/EngineState.ts"
import type { MarketSymbol, Venue as VenueName } from "../domain/Ids.ts"
import { type ClientOrderId, Venue, type VenueError, type VenueOrder } from "../venue/Venue.ts"
import { expectedPositions, intentsOf, notAtVenue, replaceIntent, withVenueOrder } from "./LiveTrades.ts"

/** What reconciliation found of one intent, and what it does about it. */
export interface IntentFinding {
  readonly tradeId: string
  readonly clientOrderId: string
  readonly venue: string
  readonly statusInState: OrderIntent["status"]
  /** What the venue holds under its client order id (`null`: nothing). */
  readonly atVenue: VenueOrder | null
  /** `update`: the state takes what the venue says; `send`: the venue never saw it, it is (re)sent; `none`: they agree. */
  readonly action: "update" | "send" | "none"
}

/** A working order of this session's prefix that the state does not know. */
export interface Orphan {
  readonly order: VenueOrder
  readonly action: "cancel"
}

/** A symbol a venue holds otherwise than the state says. */
export interface PositionDifference {
  readonly venue: string
  readonly symbol: string
  readonly expected: number
  readonly actual: number
}

/** What reconciliation found and will do. */
export interface ReconcilePlan {
  readonly intents: ReadonlyArray<IntentFinding>
  readonly orphans: ReadonlyArray<Orphan>
  readonly differences: ReadonlyArray<PositionDifference>
  /** No position differs once the intents are updated: the session may open trades. */
  readonly agrees: boolean
  /** Set when the venues did not let the reconciliation finish (why): nothing is known, nothing agrees. */
  readonly unfinished?: string
}

/** A reconciliation the venues did not let finish (`error`): it agrees with nothing, so no trade opens until one finishes. */
export const unfinished = (error: VenueError): ReconcilePlan => ({ intents: [], orphans: [], differences: [], agrees: false, unfinished: error.message })

/** How close a venue's quantity must be to the state's to agree (floating-point sums of fills). */
const tolerance = (quantity: number) => 1e-9 * Math.max(1, Math.abs(quantity))

/** Runs `request`, waiting out a rate limit as the venue asks (at most `tries` times). */
const patiently = <A>(request: Effect.Effect<A, VenueError>, tries = 5): Effect.Effect<A, VenueError> =>
  Effect.catch(request, (error): Effect.Effect<A, VenueError> =>
    error.reason._tag === "RateLimited" && tries > 1
      ? Effect.andThen(Effect.sleep(Duration.millis(error.reason.retryAfterMs + 10)), patiently(request, tries - 1))
      : Effect.fail(error))

/** The state with every finding applied: what the venue said of each intent. */
const withFindings = (state: EngineState, findings: ReadonlyArray<IntentFinding>, now: number): EngineState => {
  let next = state
  const intents = new Map(intentsOf(state).map(({ intent, tradeId }) => [intent.clientOrderId, { intent, tradeId }]))
  for (const finding of findings) {
    const known = intents.get(finding.clientOrderId)
    if (known === undefined || finding.action === "none") continue
    next = replaceIntent(next, known.tradeId, finding.atVenue === null ? notAtVenue(known.intent, now) : withVenueOrder(known.intent, finding.atVenue, now))
  }
  return next
}

/** The differences between what the venues hold and what `state` says they should. */
const differencesOf = (state: EngineState, venues: ReadonlyArray<VenueName>, symbols: ReadonlyArray<MarketSymbol>) =>
  Effect.gen(function*() {
    const venue = yield* Venue
    const expected = expectedPositions(state, venues)
    const differences: Array<PositionDifference> = []
    for (const name of venues) {
      const balances = yield* patiently(venue.balances(name))
      const held = new Set([...symbols, ...Object.keys(balances.positions)])
      for (const [key] of expected) if (key.startsWith(`${name.toLowerCase()}|`)) held.add(key.split("|")[1] as MarketSymbol)
      for (const symbol of held) {
        const actual = balances.positions[symbol as MarketSymbol] ?? 0
        const wanted = expected.get(`${name.toLowerCase()}|${symbol}`) ?? 0
        if (Math.abs(actual - wanted) > tolerance(wanted)) differences.push({ venue: name, symbol, expected: wanted, actual })
      }
    }
    return differences
  })

/**
 * What reconciling `state` with the venues `venues` (trading `symbols`) finds, and will do; changes
 * nothing. The state the plan's findings make is given too, for the positions' check.
 */
export const plan = Effect.fn("Reconcile.plan")(function*(
  state: EngineState,
  venues: ReadonlyArray<VenueName>,
  symbols: ReadonlyArray<MarketSymbol>,
  now: number
) {
  const venue = yield* Venue
  const findings: Array<IntentFinding> = []
  for (const { intent, tradeId } of intentsOf(state)) {
    if (isSettled(intent.status)) continue
    const found = Option.getOrNull(yield* patiently(venue.fetch(intent.venue, intent.clientOrderId as ClientOrderId)))
    const action = found === null
      ? intent.status === "intended" ? "send" : "update"
      : withVenueOrder(intent, found, now) === intent
      ? "none"
      : "update"
    findings.push({ tradeId, clientOrderId: intent.clientOrderId, venue: intent.venue, statusInState: intent.status, atVenue: found, action })
  }
  const known = new Set(intentsOf(state).map(({ intent }) => intent.clientOrderId))
  const prefix = `${clientOrderPrefixOf(state.session.sessionId)}-`
  const orphans: Array<Orphan> = []
  for (const name of venues) {
    for (const order of yield* patiently(venue.orders(name, { prefix }))) {
      if (!known.has(order.clientOrderId)) orphans.push({ order, action: "cancel" })
    }
  }
  const after = withFindings(state, findings, now)
  // The venues fill on their own clock: a fill between the reads is seen at the next look, so a
  // difference must stand three looks in a row.
  let differences = yield* differencesOf(after, venues, symbols)
  for (let look = 1; look < 3 && differences.length > 0; look++) {
    const refreshed: Array<IntentFinding> = []
    for (const { intent, tradeId } of intentsOf(after)) {
      if (isSettled(intent.status)) continue
      const found = Option.getOrNull(yield* patiently(venue.fetch(intent.venue, intent.clientOrderId as ClientOrderId)))
      refreshed.push({ tradeId, clientOrderId: intent.clientOrderId, venue: intent.venue, statusInState: intent.status, atVenue: found, action: found === null ? "none" : "update" })
    }
    differences = yield* differencesOf(withFindings(after, refreshed, now), venues, symbols)
  }
  return { intents: findings, orphans, differences, agrees: differences.length === 0 } satisfies ReconcilePlan
})

/** Carries `plan` out on `state`: the intents take what the venues said, and the orphans are cancelled. */
export const apply = Effect.fn("Reconcile.apply")(function*(state: EngineState, found: ReconcilePlan, now: number) {
  const venue = yield* Venue
  for (const orphan of found.orphans) yield* patiently(venue.cancel(orphan.order.venue, orphan.order.clientOrderId))
  return withFindings(state, found.intents, now)
})

/** A quantity as shown: to ten decimals (the floating-point dust of summed fills is not a quantity). */
export const quantityText = (quantity: number): string => String(Number(quantity.toFixed(10)))

/** One line per difference and orphan, for an operator. */
export const describePlan = (found: ReconcilePlan): ReadonlyArray<string> => [
  ...(found.unfinished === undefined ? [] : [`the reconciliation did not finish (${found.unfinished}): new trades refused until it does`]),
  ...found.intents.filter((i) => i.action !== "none").map((i) =>
    `${i.clientOrderId} on ${i.venue}: ${i.statusInState} in the state, ${i.atVenue === null ? "unknown to the venue: to be sent" : `${i.atVenue.status} at the venue (${quantityText(i.atVenue.filledQuantity)} filled)`}`
  ),
  ...found.orphans.map((o) => `orphan ${o.order.clientOrderId} on ${o.order.venue} (${o.order.status}, ${quantityText(o.order.filledQuantity)} of ${quantityText(o.order.quantity)} filled): to be cancelled`),
  ...found.differences.map((d) => `${d.venue} holds ${quantityText(d.actual)} ${d.symbol}, the state says ${quantityText(d.expected)}: new trades refused until an operator acts`)
]
