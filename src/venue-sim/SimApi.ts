/**
 * SimApi: the venue simulator's HTTP API, one definition for its server
 * (`SimServer`) and its clients (`HttpVenue`, the CLI's `venue` commands).
 *
 * The venue endpoints are what the `Venue` service needs; the admin ones are
 * for operators and tests: every order the simulator ever accepted, every
 * venue's positions, a position changed by hand, an order cancelled by the
 * venue itself, and the fault switches
 * (answers withheld after the work is done, delays, rejections, a rate
 * limit, an outage, matching paused).
 */
import { Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { MarketSymbol, Venue as VenueName } from "../domain/Ids.ts"
import { Count } from "../domain/Units.ts"
import { ClientOrderId, FillPage, OrderRequest, VenueBalances, VenueOrder, VenueQuote } from "../venue/Venue.ts"

/** The simulator refused the order, or the request (its answer is 409). */
export class OrderRefused extends Schema.TaggedError<OrderRefused>()("OrderRefused", { message: Schema.String }, { httpApiStatus: 409 }) {}

/** No order has this client order id on this venue (404). */
export class OrderNotFound extends Schema.TaggedError<OrderNotFound>()("OrderNotFound", { message: Schema.String }, { httpApiStatus: 404 }) {}

/** Over the rate limit (429); nothing was done. */
export class RateLimitExceeded extends Schema.TaggedError<RateLimitExceeded>()("RateLimitExceeded", {
  message: Schema.String,
  retryAfterMs: Schema.Finite
}, { httpApiStatus: 429 }) {}

/** The simulated venues are down (503); nothing was done. */
export class VenueDown extends Schema.TaggedError<VenueDown>()("VenueDown", { message: Schema.String }, { httpApiStatus: 503 }) {}

/** The fault switches, as they stand. */
export const SimFaults = Schema.Struct({
  /** The next this-many order requests (submit, cancel) are carried out, and their answers withheld (the client times out). */
  dropResponses: Count,
  /** Every venue answer waits this long first (milliseconds). */
  delayMs: Count,
  /** The next this-many submits are rejected (and journaled as rejected orders). */
  rejectNext: Count,
  /** At most this many venue requests a second are answered; the rest get 429 (`null`: no limit). */
  rateLimitPerSecond: Schema.NullOr(Count),
  /** Every venue request is refused with 503 and nothing is done. */
  down: Schema.Boolean,
  /** Whether working orders fill (false: they rest until it is back on, or expire). */
  matching: Schema.Boolean
}).annotate({ identifier: "SimFaults" })
export type SimFaults = typeof SimFaults.Type

/** The switches as a simulator starts: none on, matching on. */
export const noFaults: SimFaults = { dropResponses: 0, delayMs: 0, rejectNext: 0, rateLimitPerSecond: null, down: false, matching: true }

/** A change of some fault switches (the others stay as they are). */
export const SimFaultsChange = Schema.Struct({
  dropResponses: Schema.optionalKey(Count),
  delayMs: Schema.optionalKey(Count),
  rejectNext: Schema.optionalKey(Count),
  rateLimitPerSecond: Schema.optionalKey(Schema.NullOr(Count)),
  down: Schema.optionalKey(Schema.Boolean),
  matching: Schema.optionalKey(Schema.Boolean)
}).annotate({ identifier: "SimFaultsChange" })
export type SimFaultsChange = typeof SimFaultsChange.Type

/** What the simulator is: its venues and market. */
export const SimInfo = Schema.Struct({
  venues: Schema.Array(VenueName),
  seed: Schema.Int,
  tickMs: Schema.Int,
  feeBps: Schema.Finite,
  fillSlices: Schema.Int,
  orderTtlMs: Schema.Int,
  orders: Count,
  fills: Count
}).annotate({ identifier: "SimInfo" })
export type SimInfo = typeof SimInfo.Type

const venueErrors = [RateLimitExceeded, VenueDown] as const

/** The endpoints the `Venue` service uses. */
export class VenueGroup extends HttpApiGroup.make("venue")
  .add(
    HttpApiEndpoint.post("submit", "/orders", { payload: OrderRequest, success: VenueOrder, error: [OrderRefused, ...venueErrors] }),
    HttpApiEndpoint.post("cancel", "/orders/cancel", {
      payload: Schema.Struct({ venue: VenueName, clientOrderId: ClientOrderId }),
      success: VenueOrder,
      error: [OrderNotFound, ...venueErrors]
    }),
    HttpApiEndpoint.get("fetch", "/order", {
      query: { venue: VenueName, clientOrderId: ClientOrderId },
      success: VenueOrder,
      error: [OrderNotFound, ...venueErrors]
    }),
    HttpApiEndpoint.get("orders", "/orders", {
      query: { venue: VenueName, prefix: Schema.String, all: Schema.Literals(["true", "false"]) },
      success: Schema.Array(VenueOrder),
      error: venueErrors
    }),
    HttpApiEndpoint.get("fills", "/fills", {
      query: { venue: VenueName, cursor: Schema.NumberFromString, limit: Schema.NumberFromString },
      success: FillPage,
      error: venueErrors
    }),
    HttpApiEndpoint.get("balances", "/balances", { query: { venue: VenueName }, success: VenueBalances, error: venueErrors }),
    HttpApiEndpoint.get("quote", "/quote", { query: { venue: VenueName, symbol: MarketSymbol }, success: VenueQuote, error: venueErrors })
  )
{}

/** What operators and tests use. */
export class AdminGroup extends HttpApiGroup.make("admin")
  .add(
    HttpApiEndpoint.get("info", "/admin/info", { success: SimInfo }),
    HttpApiEndpoint.get("orders", "/admin/orders", { success: Schema.Array(VenueOrder) }),
    HttpApiEndpoint.get("positions", "/admin/positions", { success: Schema.Array(VenueBalances) }),
    HttpApiEndpoint.post("faults", "/admin/faults", { payload: SimFaultsChange, success: SimFaults }),
    HttpApiEndpoint.post("cancel", "/admin/cancel", {
      payload: Schema.Struct({ venue: VenueName, clientOrderId: ClientOrderId }),
      success: VenueOrder,
      error: OrderNotFound
    }),
    HttpApiEndpoint.post("adjust", "/admin/adjust", {
      payload: Schema.Struct({ venue: VenueName, symbol: MarketSymbol, quantity: Schema.Finite }),
      success: VenueBalances,
      error: OrderRefused
    })
  )
{}

/** The simulator's API. */
export class SimApi extends HttpApi.make("venue-simulator").add(VenueGroup).add(AdminGroup) {}
