/**
 * `venue serve | orders | positions`: the venue simulator, run as a process
 * of its own, and what operators and tests ask of it.
 */
import { Console, Effect, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { FetchHttpClient } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { Venue } from "../../domain/Ids.ts"
import { SimApi } from "../../venue-sim/SimApi.ts"
import * as SimServer from "../../venue-sim/SimServer.ts"
import { ExitCode } from "../ExitCode.ts"
import { withDefaultDescribed } from "../Help.ts"
import { jsonFlag, table } from "../Output.ts"
import { quantityText } from "../../orders/Reconcile.ts"

const isVenue = Schema.is(Venue)

const urlFlag = Flag.String("url").pipe(Flag.withDescription("Where the simulator listens, e.g. http://127.0.0.1:7100"), Flag.withMetavar("URL"))

/** `venue serve`: the simulator, until SIGINT/SIGTERM. */
const serve = Command.make(
  "serve",
  {
    port: Flag.Int("port").pipe(withDefaultDescribed("The port to listen on, on 127.0.0.1 (0: any free one, printed)", 7100)),
    data: Flag.String("data").pipe(Flag.withDescription("The folder of its durable order book (created if new)"), Flag.withMetavar("DIR")),
    venues: Flag.String("venues").pipe(withDefaultDescribed("The venues it simulates, comma-separated", "upbit,binance")),
    seed: Flag.Int("seed").pipe(withDefaultDescribed("The seed of its market feed", 1)),
    tickMs: Flag.Int("tick-ms").pipe(withDefaultDescribed("Milliseconds per tick of its market and matching", 100)),
    feeBps: Flag.Int("fee-bps").pipe(withDefaultDescribed("Fee of a fill, in bps of its notional", 2)),
    fillSlices: Flag.Int("fill-slices").pipe(withDefaultDescribed("An order fills in at most this many parts (partial fills)", 2)),
    orderTtlMs: Flag.Int("order-ttl-ms").pipe(withDefaultDescribed("A working order expires after this long", 30_000))
  },
  Effect.fn(function*(args) {
    const names = args.venues.split(",").map((name) => name.trim()).filter((name) => name !== "")
    const venues = names.filter(isVenue)
    if (venues.length !== names.length || venues.length === 0) {
      return yield* ExitCode.fail(ExitCode.badArguments, `--venues must name venues (letters, digits, _ . -), got ${args.venues}`)
    }
    if (new Set(venues.map((v) => v.toLowerCase())).size !== venues.length) return yield* ExitCode.fail(ExitCode.badArguments, "--venues names a venue twice")
    for (const [flag, value, min] of [["--tick-ms", args.tickMs, 1], ["--fill-slices", args.fillSlices, 1], ["--order-ttl-ms", args.orderTtlMs, 1], ["--fee-bps", args.feeBps, 0]] as const) {
      if (value < min) return yield* ExitCode.fail(ExitCode.badArguments, `${flag} must be at least ${min}`)
    }
    if (args.port < 0 || args.port > 65_535) return yield* ExitCode.fail(ExitCode.badArguments, "--port must be from 0 to 65535")
    const settings = { venues, seed: args.seed, tickMs: args.tickMs, feeBps: args.feeBps, fillSlices: args.fillSlices, orderTtlMs: args.orderTtlMs }
    yield* Effect.gen(function*() {
      const url = yield* SimServer.address
      yield* Console.log(`venue simulator listening on ${url} (venues ${venues.join(", ")}, seed ${args.seed}; data ${args.data})`)
      return yield* Effect.never
    }).pipe(
      Effect.provide(SimServer.layer({ settings, dataDir: args.data, port: args.port })),
      Effect.catchTag("SimDataError", (error) => ExitCode.fail(ExitCode.badArguments, `--data: ${error.message}`)),
      Effect.catchTag("ServeError", (error) =>
        ExitCode.fail(ExitCode.badArguments, `--port ${args.port}: cannot listen (${error.cause instanceof Error ? error.cause.message : String(error.cause)})`))
    )
  })
).pipe(Command.withDescription("Run the venue simulator: HTTP + JSON, a durable order book in --data, fault switches for tests"))

/** The simulator's admin client at `url`. */
const admin = (url: string) =>
  HttpApiClient.make(SimApi, { baseUrl: url }).pipe(
    Effect.provide(FetchHttpClient.layer),
    Effect.map((client) => client.admin)
  )

const unreachable = (url: string) => (error: unknown) =>
  ExitCode.fail(ExitCode.storeUnreachable, `the venue simulator at ${url} did not answer: ${error instanceof Error ? error.message : String(error)}`)

/** `venue orders --url URL`: every order the simulator ever accepted or rejected. */
const orders = Command.make(
  "orders",
  { url: urlFlag, json: jsonFlag },
  Effect.fn(function*({ json, url }) {
    const all = yield* Effect.flatMap(admin(url), (client) => client.orders()).pipe(Effect.catch(unreachable(url)))
    if (json) return yield* Console.log(JSON.stringify({ orders: all }))
    yield* Console.log(table(
      ["venue", "client order id", "symbol", "side", "quantity", "filled", "avg price", "status"],
      all.map((o) => [o.venue, o.clientOrderId, o.symbol, o.side, quantityText(o.quantity), quantityText(o.filledQuantity), o.averageFillPrice?.toFixed(2) ?? "-", o.status])
    ))
  })
).pipe(Command.withDescription("List every order the venue simulator ever accepted or rejected"))

/** `venue positions --url URL`: each venue's net positions and cash. */
const positions = Command.make(
  "positions",
  { url: urlFlag, json: jsonFlag },
  Effect.fn(function*({ json, url }) {
    const all = yield* Effect.flatMap(admin(url), (client) => client.positions()).pipe(Effect.catch(unreachable(url)))
    if (json) return yield* Console.log(JSON.stringify({ venues: all }))
    yield* Console.log(table(
      ["venue", "symbol", "net quantity"],
      all.flatMap((b) => [...Object.entries(b.positions).map(([symbol, qty]) => [b.venue, symbol, quantityText(qty)]), [b.venue, "cash USD", b.cashUsd.toFixed(2)]])
    ))
  })
).pipe(Command.withDescription("Show the venue simulator's net positions per venue and symbol, and cash"))

/** `venue`: the venue simulator's commands. */
export const venue = Command.make("venue").pipe(
  Command.withDescription("The venue simulator: serve it, list its orders, show its positions"),
  Command.withSubcommands([serve, orders, positions])
)
