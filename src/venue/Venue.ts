/**
 * Venue: the only way a runner touches an exchange.
 *
 * One service reaches the venues a runner trades on (by the names its
 * configuration gives them). Every order carries a client order id, chosen
 * by the runner and deterministic (session, trade, leg, attempt): submitting
 * the same client order id again never makes a second order, it answers the
 * order that id already made (or refuses the request when its terms differ).
 * So a runner that does not know whether its order reached the venue sends
 * it again, or asks for it by its id, and finds out.
 *
 * Failures are one `VenueError` whose reason says what the runner may
 * conclude:
 * - `Rejected`: the venue answered no; nothing was made.
 * - `OutcomeUnknown`: the request was sent and no answer came (a timeout, a
 *   dropped connection): the order may exist. Never read as "not made":
 *   resolve it by its client order id before deciding anything.
 * - `RateLimited`: refused for now; try again after `retryAfterMs`.
 * - `Unreachable`: the request was not sent (refused connection, the venue
 *   down): nothing was made. Retryable.
 *
 * Adapters implement it (`HttpVenue` for the venue simulator, a user's own
 * for a real exchange); `test/contract/VenueContract.ts` is the suite every
 * adapter must pass.
 *
 * @module
 */
import { Context, type Effect, type Option, Schema } from "effect"
import { MarketSymbol, Venue as VenueName } from "../domain/Ids.ts"
import { OrderSide } from "../domain/Order.ts"
import { Count, EpochMillis, NonNegativeUsd, Price, Quantity } from "../domain/Units.ts"

/**
 * An order's id as the runner gives it: lower-case letters, digits, `_` or `-`, 64 at most; a
 * runner starts it with a prefix of its session's, so that its orders can be told from others.
 */
export const ClientOrderId = Schema.String.check(Schema.isPattern(/^[a-z0-9][a-z0-9_-]{0,63}$/)).pipe(Schema.brand("ClientOrderId"))
export type ClientOrderId = typeof ClientOrderId.Type

/** A strictly positive quantity of the base asset (what an order asks for). */
export const OrderQuantity = Schema.Finite.check(Schema.isGreaterThan(0)).annotate({ identifier: "OrderQuantity" })

/** What a runner asks a venue for: buy or sell `quantity` of `symbol`, at `limitPrice` or better. */
export const OrderRequest = Schema.Struct({
  clientOrderId: ClientOrderId,
  venue: VenueName,
  symbol: MarketSymbol,
  side: OrderSide,
  quantity: OrderQuantity,
  /** The worst price the order may fill at (a buy at or below it, a sell at or above it). */
  limitPrice: Price
}).annotate({ identifier: "OrderRequest" })
export type OrderRequest = typeof OrderRequest.Type

/** Where an order is at the venue: working (`open`, `partially_filled`) or done (the rest). */
export const VenueOrderStatus = Schema.Literals(["open", "partially_filled", "filled", "cancelled", "rejected", "expired"])
export type VenueOrderStatus = typeof VenueOrderStatus.Type

/** Whether an order with this status can change no more. */
export const isTerminal = (status: VenueOrderStatus): boolean => status !== "open" && status !== "partially_filled"

/** An order as the venue holds it. */
export const VenueOrder = Schema.Struct({
  clientOrderId: ClientOrderId,
  /** The venue's own id for it. */
  venueOrderId: Schema.String,
  venue: VenueName,
  symbol: MarketSymbol,
  side: OrderSide,
  quantity: OrderQuantity,
  limitPrice: Price,
  filledQuantity: Quantity,
  /** The average price of its fills; `null` before the first. */
  averageFillPrice: Schema.NullOr(Price),
  feesUsd: NonNegativeUsd,
  status: VenueOrderStatus,
  /** Why the venue rejected, expired or cancelled it, when it says. */
  reason: Schema.NullOr(Schema.String),
  createdAt: EpochMillis,
  updatedAt: EpochMillis
}).annotate({ identifier: "VenueOrder" })
export type VenueOrder = typeof VenueOrder.Type

/** One fill of one order. */
export const VenueFill = Schema.Struct({
  /** Its place in the venue's sequence of fills: `fillsSince(cursor)` gives the ones after it. */
  cursor: Count,
  fillId: Schema.String,
  clientOrderId: ClientOrderId,
  venue: VenueName,
  symbol: MarketSymbol,
  side: OrderSide,
  quantity: OrderQuantity,
  price: Price,
  feeUsd: NonNegativeUsd,
  at: EpochMillis
}).annotate({ identifier: "VenueFill" })
export type VenueFill = typeof VenueFill.Type

/** Fills after a cursor, and the cursor to ask from next. */
export const FillPage = Schema.Struct({ fills: Schema.Array(VenueFill), cursor: Count }).annotate({ identifier: "FillPage" })
export type FillPage = typeof FillPage.Type

/** What a venue holds for the runner: the net quantity of each symbol, and the cash its fills moved (USD). */
export const VenueBalances = Schema.Struct({
  venue: VenueName,
  /** Net base quantity by symbol (bought minus sold); symbols never traded are absent. */
  positions: Schema.Record(MarketSymbol, Schema.Finite),
  /** Cash moved by fills: sells in, buys and fees out. */
  cashUsd: Schema.Finite
}).annotate({ identifier: "VenueBalances" })
export type VenueBalances = typeof VenueBalances.Type

/** The best bid and ask of a symbol on a venue, and when. */
export const VenueQuote = Schema.Struct({
  venue: VenueName,
  symbol: MarketSymbol,
  bid: Price,
  ask: Price,
  at: EpochMillis
}).annotate({ identifier: "VenueQuote" })
export type VenueQuote = typeof VenueQuote.Type

/** The venue answered no: nothing was made. */
export class Rejected extends Schema.TaggedError<Rejected>()("Rejected", { message: Schema.String }) {
  /** Whether the same request may be tried again. */
  get isRetryable(): boolean {
    return false
  }
}

/** The request was sent and no answer came: it may have been carried out. Resolve by client order id. */
export class OutcomeUnknown extends Schema.TaggedError<OutcomeUnknown>()("OutcomeUnknown", { message: Schema.String }) {
  /** Whether the same request may be tried again. */
  get isRetryable(): boolean {
    return true
  }
}

/** Refused for now by the venue's rate limit: try again after `retryAfterMs`. */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  message: Schema.String,
  retryAfterMs: Schema.Finite
}) {
  /** Whether the same request may be tried again. */
  get isRetryable(): boolean {
    return true
  }
}

/** The request was not sent (the venue did not answer a connection, or says it is down): nothing was made. */
export class Unreachable extends Schema.TaggedError<Unreachable>()("Unreachable", { message: Schema.String }) {
  /** Whether the same request may be tried again. */
  get isRetryable(): boolean {
    return true
  }
}

/** A venue request did not do what was asked; `reason` says what the runner may conclude. */
export class VenueError extends Schema.TaggedError<VenueError>()("VenueError", {
  venue: Schema.String,
  operation: Schema.String,
  reason: Schema.Union([Rejected, OutcomeUnknown, RateLimited, Unreachable])
}) {
  /** The venue, the operation and what went wrong, on one line. */
  override get message(): string {
    return `${this.venue}: ${this.operation}: ${this.reason.message}`
  }

  /** The venue answered no. */
  static rejected(venue: string, operation: string, message: string): VenueError {
    return new VenueError({ venue, operation, reason: new Rejected({ message }) })
  }

  /** Sent, and no answer came. */
  static outcomeUnknown(venue: string, operation: string, message: string): VenueError {
    return new VenueError({ venue, operation, reason: new OutcomeUnknown({ message }) })
  }

  /** Refused for now; retry after `retryAfterMs`. */
  static rateLimited(venue: string, operation: string, message: string, retryAfterMs: number): VenueError {
    return new VenueError({ venue, operation, reason: new RateLimited({ message, retryAfterMs }) })
  }

  /** Not sent, or refused by a venue that says it did nothing. */
  static unreachable(venue: string, operation: string, message: string): VenueError {
    return new VenueError({ venue, operation, reason: new Unreachable({ message }) })
  }
}

/** The venues a runner trades on. */
export class Venue extends Context.Service<Venue, {
  /** The venues this service reaches, by name. */
  readonly venues: ReadonlyArray<VenueName>
  /**
   * Places an order. Idempotent by client order id: the same id again answers the order it made
   * (its current state), and never makes a second; the same id with other terms is `Rejected`.
   */
  readonly submit: (request: OrderRequest) => Effect.Effect<VenueOrder, VenueError>
  /** Cancels what is left of an order; a done order is answered as it is. `Rejected` for an id the venue never saw. */
  readonly cancel: (venue: VenueName, clientOrderId: ClientOrderId) => Effect.Effect<VenueOrder, VenueError>
  /** The order of a client order id, or `None` when the venue never saw it. */
  readonly fetch: (venue: VenueName, clientOrderId: ClientOrderId) => Effect.Effect<Option.Option<VenueOrder>, VenueError>
  /** The venue's orders whose client order id starts with `prefix`, working ones only unless `all`. */
  readonly orders: (
    venue: VenueName,
    options: { readonly prefix: string; readonly all?: boolean }
  ) => Effect.Effect<ReadonlyArray<VenueOrder>, VenueError>
  /** The venue's fills after `cursor` (0: from the first), oldest first, at most `limit` (default 1,000). */
  readonly fillsSince: (venue: VenueName, cursor: number, limit?: number) => Effect.Effect<FillPage, VenueError>
  /** Net positions and cash at the venue. */
  readonly balances: (venue: VenueName) => Effect.Effect<VenueBalances, VenueError>
  /** The venue's current quote of `symbol`. */
  readonly quote: (venue: VenueName, symbol: MarketSymbol) => Effect.Effect<VenueQuote, VenueError>
}>()("arbitrage-state/venue/Venue") {}
