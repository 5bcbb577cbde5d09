/**
 * SimServer: the venue simulator as an HTTP server (`SimApi` on effect's HTTP
 * server), run as a process of its own by `cli venue serve`.
 *
 * Every change of the book is journaled (fsync) before it is answered, and
 * the matching runs on the simulator's own clock every tick, whether or not
 * a runner is connected: orders go on filling while a runner is down. One
 * lock orders every change (submits, cancels, matching, hand changes). The
 * fault switches act on the venue endpoints only; the admin endpoints always
 * answer. A runner's tests can serve it in their own process too (`layer`,
 * on port 0, and `address`).
 *
 * @module
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Clock, Duration, Effect, Layer, Ref, Schedule, Semaphore } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { createServer } from "node:http"
import { isTerminal, type VenueOrder } from "../venue/Venue.ts"
import { balancesOf, match, orderOf, quoteOf, type SimSettings, submit } from "./SimBook.ts"
import * as SimJournal from "./SimJournal.ts"
import { noFaults, OrderNotFound, OrderRefused, RateLimitExceeded, SimApi, type SimFaults, VenueDown } from "./SimApi.ts"

/** Where and how the simulator runs. */
export interface SimServerOptions {
  readonly settings: SimSettings
  /** Its data folder (the durable book). */
  readonly dataDir: string
  readonly port: number
  readonly host?: string
}

/** The simulator's handlers over an open journal, with its matching running until the scope closes. */
const handlers = (journal: SimJournal.SimJournal) =>
  Effect.gen(function*() {
    const { book, settings } = journal
    const lock = yield* Semaphore.make(1)
    const faults = yield* Ref.make<SimFaults>(noFaults)
    const window = yield* Ref.make({ second: 0, count: 0 })
    const locked = <A, E, R>(effect: Effect.Effect<A, E, R>) => lock.withPermits(1)(effect)

    /** What every venue request passes first: the outage switch, the rate limit, the delay. */
    const gate = Effect.gen(function*() {
      const current = yield* Ref.get(faults)
      if (current.down) return yield* new VenueDown({ message: "the simulated venues are down" })
      if (current.rateLimitPerSecond !== null) {
        const now = yield* Clock.currentTimeMillis
        const second = Math.floor(now / 1000)
        const used = yield* Ref.modify(window, (w) => {
          const next = w.second === second ? { second, count: w.count + 1 } : { second, count: 1 }
          return [next.count, next]
        })
        if (used > current.rateLimitPerSecond) {
          return yield* new RateLimitExceeded({ message: `over ${current.rateLimitPerSecond} requests a second`, retryAfterMs: (second + 1) * 1000 - now })
        }
      }
      if (current.delayMs > 0) yield* Effect.sleep(Duration.millis(current.delayMs))
    })

    /** An order request carried out: its answer is withheld when the switch says so (the client times out). */
    const answer = (order: VenueOrder) =>
      Effect.flatMap(Ref.modify(faults, (f) => (f.dropResponses > 0 ? [true, { ...f, dropResponses: f.dropResponses - 1 }] : [false, f])), (drop) =>
        drop ? Effect.never : Effect.succeed(order))

    const dataFailure = (error: SimJournal.SimDataError) => Effect.die(error)

    // The book's clock: every tick, the working orders that can fill do, and the stale ones expire.
    yield* Effect.forkScoped(
      Effect.gen(function*() {
        if (!(yield* Ref.get(faults)).matching) return
        const now = yield* Clock.currentTimeMillis
        yield* locked(journal.append(match(book, settings, now)))
      }).pipe(Effect.catch(dataFailure), Effect.repeat(Schedule.spaced(Duration.millis(settings.tickMs))))
    )

    const venueGroup = HttpApiBuilder.group(SimApi, "venue", (h) =>
      h
        .handle("submit", ({ payload }) =>
          Effect.gen(function*() {
            yield* gate
            const order = yield* locked(Effect.gen(function*() {
              const now = yield* Clock.currentTimeMillis
              const existing = orderOf(book, payload.venue, payload.clientOrderId)
              const reject = existing === undefined
                ? yield* Ref.modify(faults, (f) => (f.rejectNext > 0 ? ["rejected by fault injection", { ...f, rejectNext: f.rejectNext - 1 }] : [undefined, f]))
                : undefined
              const outcome = submit(book, settings, payload, now, reject)
              if (outcome._tag === "refused") return yield* new OrderRefused({ message: outcome.message })
              if (outcome._tag === "existing") return outcome.order
              yield* journal.append([outcome.event]).pipe(Effect.catch(dataFailure))
              return orderOf(book, payload.venue, payload.clientOrderId)!
            }))
            return yield* answer(order)
          }))
        .handle("cancel", ({ payload }) =>
          Effect.gen(function*() {
            yield* gate
            const order = yield* locked(Effect.gen(function*() {
              const found = orderOf(book, payload.venue, payload.clientOrderId)
              if (found === undefined) return yield* new OrderNotFound({ message: `no order ${payload.clientOrderId} on ${payload.venue}` })
              if (isTerminal(found.status)) return found
              const at = yield* Clock.currentTimeMillis
              yield* journal.append([{ type: "cancelled", venue: found.venue, clientOrderId: found.clientOrderId, at }]).pipe(Effect.catch(dataFailure))
              return orderOf(book, payload.venue, payload.clientOrderId)!
            }))
            return yield* answer(order)
          }))
        .handle("fetch", ({ query }) =>
          Effect.gen(function*() {
            yield* gate
            const found = orderOf(book, query.venue, query.clientOrderId)
            if (found === undefined) return yield* new OrderNotFound({ message: `no order ${query.clientOrderId} on ${query.venue}` })
            return found
          }))
        .handle("orders", ({ query }) =>
          Effect.as(
            gate,
            [...book.orders.values()].filter((order) =>
              order.venue.toLowerCase() === query.venue.toLowerCase() && order.clientOrderId.startsWith(query.prefix) &&
              (query.all === "true" || !isTerminal(order.status))
            )
          ))
        .handle("fills", ({ query }) =>
          Effect.andThen(gate, Effect.sync(() => {
            const after = book.fills.filter((fill) => fill.cursor > query.cursor && fill.venue.toLowerCase() === query.venue.toLowerCase())
            const fills = after.slice(0, Math.max(0, query.limit))
            // The next page starts after the last fill given, or after every fill there is when none is left.
            return { fills, cursor: fills.length < after.length ? fills.at(-1)?.cursor ?? query.cursor : Math.max(query.cursor, book.fills.length) }
          })))
        .handle("balances", ({ query }) => Effect.as(gate, balancesOf(book, query.venue)))
        .handle("quote", ({ query }) =>
          Effect.gen(function*() {
            yield* gate
            const quote = quoteOf(settings, query.venue, query.symbol, yield* Clock.currentTimeMillis)
            if (quote === undefined) return yield* Effect.die(new Error(`venue ${query.venue} is not served here`))
            return quote
          })))

    const adminGroup = HttpApiBuilder.group(SimApi, "admin", (h) =>
      h
        .handle("info", () =>
          Effect.succeed({
            venues: settings.venues,
            seed: settings.seed,
            tickMs: settings.tickMs,
            feeBps: settings.feeBps,
            fillSlices: settings.fillSlices,
            orderTtlMs: settings.orderTtlMs,
            orders: book.orders.size,
            fills: book.fills.length
          }))
        .handle("orders", () => Effect.succeed([...book.orders.values()]))
        .handle("positions", () => Effect.succeed(settings.venues.map((venue) => balancesOf(book, venue))))
        .handle("faults", ({ payload }) => Ref.updateAndGet(faults, (f) => ({ ...f, ...payload })))
        .handle("cancel", ({ payload }) =>
          locked(Effect.gen(function*() {
            const found = orderOf(book, payload.venue, payload.clientOrderId)
            if (found === undefined) return yield* new OrderNotFound({ message: `no order ${payload.clientOrderId} on ${payload.venue}` })
            if (isTerminal(found.status)) return found
            const at = yield* Clock.currentTimeMillis
            yield* journal.append([{ type: "cancelled", venue: found.venue, clientOrderId: found.clientOrderId, at, byVenue: true }]).pipe(Effect.catch(dataFailure))
            return orderOf(book, payload.venue, payload.clientOrderId)!
          })))
        .handle("adjust", ({ payload }) =>
          locked(Effect.gen(function*() {
            const venue = settings.venues.find((v) => v.toLowerCase() === payload.venue.toLowerCase())
            if (venue === undefined) return yield* new OrderRefused({ message: `venue ${payload.venue} is not served here` })
            const at = yield* Clock.currentTimeMillis
            yield* journal.append([{ type: "adjusted", venue, symbol: payload.symbol, quantity: payload.quantity, at }]).pipe(Effect.catch(dataFailure))
            return balancesOf(book, venue)
          }))))

    return Layer.mergeAll(venueGroup, adminGroup)
  })

/** The simulator's routes on its journal (for a server of any kind, or an in-process test client). */
export const routes = (dataDir: string, settings: SimSettings) =>
  HttpApiBuilder.layer(SimApi).pipe(
    Layer.provide(Layer.unwrap(Effect.flatMap(SimJournal.open(dataDir, settings), handlers)))
  )

/** The simulator serving on `options.host:options.port` until the layer is released. */
export const layer = (options: SimServerOptions) =>
  HttpRouter.serve(routes(options.dataDir, options.settings), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: options.port, host: options.host ?? "127.0.0.1" }))
  )

/** The address the server listens on, as a URL. */
export const address = HttpServer.addressFormattedWith((url) => Effect.succeed(url))
