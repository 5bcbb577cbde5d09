/**
 * HttpVenue: the `Venue` service over the venue simulator's HTTP API
 * (`SimApi`), on effect's HTTP client.
 *
 * What each failure means is decided here, at the boundary, by what the
 * runner may conclude from it:
 * - the simulator answered no (`OrderRefused`, or a submit answered with a
 *   rejected order): `Rejected`;
 * - 429: `RateLimited`, with the wait it asks for; 503: `Unreachable`
 *   (the venue says nothing was done);
 * - the connection refused: `Unreachable` (nothing was sent);
 * - anything else once the request may have left (a timeout, a connection
 *   dropped, an answer not understood): `OutcomeUnknown` for a submit or a
 *   cancel, which may have been carried out; `Unreachable` for a read, which
 *   changes nothing and is simply asked again.
 *
 * @module
 */
import { Duration, Effect, Layer, Option, Schedule } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import type { MarketSymbol, Venue as VenueName } from "../domain/Ids.ts"
import { SimApi } from "../venue-sim/SimApi.ts"
import { type ClientOrderId, type OrderRequest, Venue, VenueError, type VenueOrder } from "./Venue.ts"

/** Where the simulator is, and how long a request may take before its outcome counts as unknown. */
export interface HttpVenueOptions {
  readonly url: string
  /** Default 5 seconds. */
  readonly timeout?: Duration.Input
  /**
   * How long to keep asking a simulator that does not answer for its venues when the layer is built
   * (a runner resumed while its venues are briefly away); default: not at all, it fails at once.
   */
  readonly connectWait?: Duration.Input
}

/** Whether a failure says the request never left (the connection was refused). */
const neverSent = (error: unknown): boolean => {
  const text = `${String((error as { readonly cause?: unknown }).cause ?? "")} ${JSON.stringify(error, Object.getOwnPropertyNames(error ?? {})) ?? ""}`
  return /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH/.test(text) || /ECONNREFUSED/.test(String((error as { readonly cause?: { readonly cause?: unknown } }).cause?.cause ?? ""))
}

/** `url` as it may be shown (messages, logs): a user name and password in it (an adapter's credentials) replaced by `***`. */
export const shownUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.username === "" && parsed.password === "") return url
    parsed.username = "***"
    parsed.password = ""
    return parsed.toString()
  } catch {
    return url.replace(/\/\/[^@/]*@/, "//***@")
  }
}

/** `url` without its user name and password, and those (decoded), when it has them. */
const splitCredentials = (url: string): { readonly baseUrl: string; readonly credentials?: { readonly username: string; readonly password: string } } => {
  try {
    const parsed = new URL(url)
    if (parsed.username === "" && parsed.password === "") return { baseUrl: url }
    const credentials = { username: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password) }
    parsed.username = ""
    parsed.password = ""
    return { baseUrl: parsed.toString(), credentials }
  } catch {
    return { baseUrl: url }
  }
}

/** A venue's client over the simulator at `options.url`. */
export const make = Effect.fnUntraced(function*(options: HttpVenueOptions) {
  // Credentials in the URL (an adapter's server behind HTTP Basic auth) go in the Authorization
  // header: fetch refuses a URL that carries them.
  const { baseUrl, credentials } = splitCredentials(options.url)
  const client = yield* HttpApiClient.make(SimApi, {
    baseUrl,
    ...(credentials === undefined
      ? {}
      : { transformClient: HttpClient.mapRequest(HttpClientRequest.basicAuth(credentials.username, credentials.password)) })
  })
  const timeout = Duration.fromInputUnsafe(options.timeout ?? "5 seconds")

  /** Runs one request with the timeout, its failures as the `VenueError` they mean. */
  const call = <A, E>(venue: string, operation: string, mutating: boolean, request: Effect.Effect<A, E>): Effect.Effect<A, VenueError> =>
    request.pipe(
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () => Effect.fail({ _tag: "Timeout" as const })
      }),
      Effect.mapError((error: unknown): VenueError => {
        const tagged = error as { readonly _tag?: string; readonly message?: string; readonly retryAfterMs?: number }
        switch (tagged._tag) {
          case "OrderRefused":
          case "OrderNotFound":
            return VenueError.rejected(venue, operation, tagged.message ?? "refused")
          case "RateLimitExceeded":
            return VenueError.rateLimited(venue, operation, tagged.message ?? "rate limited", tagged.retryAfterMs ?? 1000)
          case "VenueDown":
            return VenueError.unreachable(venue, operation, tagged.message ?? "the venue is down")
          case "Timeout":
            return mutating
              ? VenueError.outcomeUnknown(venue, operation, `no answer within ${Duration.format(timeout)}: it may have been carried out`)
              : VenueError.unreachable(venue, operation, `no answer within ${Duration.format(timeout)}`)
        }
        if (neverSent(error)) return VenueError.unreachable(venue, operation, `cannot connect to ${shownUrl(options.url)}`)
        const message = tagged.message ?? String(error)
        return mutating
          ? VenueError.outcomeUnknown(venue, operation, `${message}: it may have been carried out`)
          : VenueError.unreachable(venue, operation, message)
      })
    )

  const connectWait = Duration.fromInputUnsafe(options.connectWait ?? 0)
  const info = call("simulator", "info", false, client.admin.info()).pipe(
    Effect.retry({
      while: (error) => error.reason._tag === "Unreachable",
      schedule: Schedule.spaced("250 millis").pipe(Schedule.upTo({ duration: connectWait }))
    })
  )
  const venues = options.url === "" ? [] : (yield* info).venues

  const submit = (request: OrderRequest) =>
    Effect.flatMap(call(request.venue, `submit ${request.clientOrderId}`, true, client.venue.submit({ payload: request })), (order) =>
      order.status === "rejected"
        ? Effect.fail(VenueError.rejected(request.venue, `submit ${request.clientOrderId}`, order.reason ?? "rejected"))
        : Effect.succeed(order))

  const cancel = (venue: VenueName, clientOrderId: ClientOrderId) =>
    call(venue, `cancel ${clientOrderId}`, true, client.venue.cancel({ payload: { venue, clientOrderId } }))

  const fetch = (venue: VenueName, clientOrderId: ClientOrderId) =>
    call(
      venue,
      `fetch ${clientOrderId}`,
      false,
      client.venue.fetch({ query: { venue, clientOrderId } }).pipe(
        Effect.map((order): Option.Option<VenueOrder> => Option.some(order)),
        Effect.catchTag("OrderNotFound", () => Effect.succeed(Option.none<VenueOrder>()))
      )
    )

  return Venue.of({
    venues,
    submit,
    cancel,
    fetch,
    orders: (venue, { all, prefix }) =>
      call(venue, "orders", false, client.venue.orders({ query: { venue, prefix, all: all === true ? "true" : "false" } })),
    fillsSince: (venue, cursor, limit = 1_000) => call(venue, "fills", false, client.venue.fills({ query: { venue, cursor, limit } })),
    balances: (venue) => call(venue, "balances", false, client.venue.balances({ query: { venue } })),
    quote: (venue: VenueName, symbol: MarketSymbol) => call(venue, "quote", false, client.venue.quote({ query: { venue, symbol } }))
  })
})

/** The `Venue` service over the simulator at `options.url` (its venues read from it when the layer is built). */
export const layer = (options: HttpVenueOptions): Layer.Layer<Venue, VenueError> =>
  Layer.effect(Venue, make(options)).pipe(Layer.provide(FetchHttpClient.layer))
