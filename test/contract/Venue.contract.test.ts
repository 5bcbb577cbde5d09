import { Effect, Layer } from "effect"
import { randomBytes } from "node:crypto"
import { MarketSymbol, Venue } from "../../src/domain/Ids.ts"
import * as HttpVenue from "../../src/venue/HttpVenue.ts"
import { startSimulator } from "../support/VenueSimulator.ts"
import { venueContract } from "./VenueContract.ts"

// The simulator as its own process, reached over HTTP: what a runner trading through it gets.
venueContract({
  name: "the venue simulator (its own process, over HTTP)",
  layer: Layer.unwrap(Effect.map(startSimulator(["--venues", "upbit,binance", "--tick-ms", "20"]), (sim) => HttpVenue.layer({ url: sim.url }))),
  venues: [Venue.make("upbit"), Venue.make("binance")],
  symbol: MarketSymbol.make("BTC-USDT"),
  prefix: `c${randomBytes(3).toString("hex")}`
})
