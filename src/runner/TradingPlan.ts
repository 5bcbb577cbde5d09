/**
 * TradingPlan: what a paper session trades (its campaign and its market),
 * decided once for every way a session is run (`run`, `resume-all`, the
 * examples), before the session writes anything.
 *
 * A session records its campaign and market when it starts; a resumed one
 * trades what it recorded, and a request that contradicts it is refused
 * rather than followed. A session written before the market was recorded
 * trades the market it is given, never a chosen one (that would be another
 * run). The session's simulated clock must stay within what a state can hold
 * up to the loop it is asked to reach.
 *
 * @module
 */
import { Effect, Schema } from "effect"
import { legVenues } from "../domain/ArbitrageTrade.ts"
import type { EngineState } from "../domain/EngineState.ts"
import type { Venue } from "../domain/Ids.ts"
import { maxEpochMillis } from "../domain/Units.ts"
import { type MarketSettings, maxLoopsWithin } from "./ArbitrageStrategy.ts"
import { type Campaign, campaignNamed, campaigns } from "./Campaign.ts"
import { venuesOf } from "./MarketFeed.ts"

/** What a session trades. */
export interface TradingPlan {
  readonly campaign: Campaign
  readonly market: MarketSettings
}

/** The session cannot be traded as asked (and nothing of it was written). */
export class PlanRefused extends Schema.TaggedError<PlanRefused>()("PlanRefused", {
  sessionId: Schema.String,
  message: Schema.String
}) {}

/** What the caller asks for. */
export interface PlanRequest {
  /** The campaign asked for: a new session's; a resumed one must already trade it. */
  readonly campaign?: string | undefined
  /** The seed and tick asked for: a resumed session's recorded ones may not differ. */
  readonly seed?: number | undefined
  readonly tickMs?: number | undefined
  /** The venue names asked for: a resumed session's recorded ones (default `A`, `B`) may not differ. */
  readonly venues?: readonly [Venue, Venue] | undefined
  /** The market of a session that is new (none: a new session needs `seed`). */
  readonly marketForNew?: MarketSettings | undefined
  /** The loop the session is to reach. */
  readonly targetLoops: number
}

/** The campaign named `name`, or why there is none. */
export const campaignOf = (sessionId: string, name: string): Effect.Effect<Campaign, PlanRefused> => {
  const campaign = campaignNamed(name)
  return campaign === undefined
    ? Effect.fail(new PlanRefused({ sessionId, message: `unknown campaign ${name}; known: ${Object.keys(campaigns).join(", ")}` }))
    : Effect.succeed(campaign)
}

/**
 * Fails when `loops` loops of `tickMs` from `startTime` would take a session's clock past the latest
 * time a state may hold; `subject` says whose loops they are.
 */
export const checkClock = (
  sessionId: string,
  loops: number,
  startTime: number,
  tickMs: number,
  subject: string
): Effect.Effect<void, PlanRefused> => {
  const most = maxLoopsWithin(startTime, tickMs)
  return loops > most
    ? Effect.fail(new PlanRefused({
      sessionId,
      message: `${subject} would take the simulated clock past ${new Date(maxEpochMillis).toISOString()}; at most ${most} loops fit with this tick`
    }))
    : Effect.void
}

/** Whether two pairs of venue names name the same venues in the same roles (names compared without case). */
const sameVenues = (a: readonly [Venue, Venue], b: readonly [Venue, Venue]): boolean =>
  a[0].toLowerCase() === b[0].toLowerCase() && a[1].toLowerCase() === b[1].toLowerCase()

/** What `state` (new when `isNew`) trades under `request`, or why it cannot be traded so. */
export const planFor = (state: EngineState, isNew: boolean, request: PlanRequest): Effect.Effect<TradingPlan, PlanRefused> =>
  Effect.gen(function*() {
    const sessionId = state.session.sessionId
    const refuse = (message: string) => Effect.fail(new PlanRefused({ sessionId, message }))
    // A live session's truth is at its venues: the paper feed must never trade it (nor close its positions on paper).
    if (state.session.mode === "live") {
      return yield* refuse(`${sessionId} is a live session: it trades only through its venues (run --venue-url URL)`)
    }
    const campaign = yield* campaignOf(sessionId, state.session.campaignId)
    if (request.campaign !== undefined && request.campaign !== campaign.id) {
      return yield* refuse(`${sessionId} trades campaign ${campaign.id}, not ${request.campaign}`)
    }
    const stored = state.session.market
    if (
      stored !== undefined &&
      ((request.seed !== undefined && request.seed !== stored.seed) || (request.tickMs !== undefined && request.tickMs !== stored.tickMs))
    ) {
      return yield* refuse(`${sessionId} trades seed ${stored.seed} with a ${stored.tickMs} ms tick; --seed/--tick-ms say otherwise`)
    }
    if (stored !== undefined && request.venues !== undefined && !sameVenues(venuesOf(stored), request.venues)) {
      return yield* refuse(`${sessionId} trades between ${venuesOf(stored).join(" and ")}; --venues says otherwise`)
    }
    const given = request.seed === undefined
      ? undefined
      : { seed: request.seed, tickMs: request.tickMs ?? 1000, ...(request.venues === undefined ? {} : { venues: request.venues }) }
    const market = stored ?? (isNew ? request.marketForNew ?? given : given)
    if (market === undefined) return yield* refuse(`${sessionId} did not record its market: give --seed (and --tick-ms)`)
    // Open trades are priced by their legs' venues: they must be the market's.
    const venues = venuesOf(market)
    const known = new Set(venues.map((venue) => venue.toLowerCase()))
    const traded = legVenues(Object.values(state.positions.activeTrades))
    const strangers = traded.filter((venue) => !known.has(venue.toLowerCase()))
    if (strangers.length > 0) {
      return yield* refuse(
        `${sessionId} has open trades on ${strangers.join(", ")}, not on ${venues.join(" or ")}: give the venues it trades (--venues${
          traded.length === 2 ? ` ${traded.join(",")}` : ""
        })`
      )
    }
    // The paper clock of the next loop (start + loop x tick) must not be before a trade it holds opened
    // (a state this runner wrote never is; one a wall-clock runner wrote, such as D70's, may be).
    const latestOpen = Math.max(...Object.values(state.positions.activeTrades).map((trade) => trade.openedAt))
    const clock = state.session.startTime + state.session.loopCount * market.tickMs
    if (latestOpen > clock) {
      const loops = state.session.loopCount
      const fits = loops === 0 ? undefined : Math.ceil((latestOpen - state.session.startTime) / loops)
      return yield* refuse(
        `${sessionId}'s paper clock (start + loop x tick) is at ${new Date(clock).toISOString()} at loop ${loops} with a ${market.tickMs} ms tick, ` +
          `before its newest open trade opened (${new Date(latestOpen).toISOString()}): ` +
          (stored === undefined && fits !== undefined ? `give --tick-ms ${fits} or more` : "it cannot be traded on")
      )
    }
    yield* checkClock(
      sessionId,
      request.targetLoops,
      state.session.startTime,
      market.tickMs,
      `--loops ${request.targetLoops} of ${sessionId}'s ${market.tickMs} ms tick`
    )
    return { campaign, market }
  })

/**
 * The state to run from under `plan`: a session that never recorded its market records the one it
 * is now traded on (with its first step), so that every later resume trades the same.
 */
export const withRecordedMarket = (state: EngineState, plan: TradingPlan): EngineState =>
  state.session.market !== undefined ? state : { ...state, session: { ...state.session, market: plan.market } }
