/**
 * MarketFeed: deterministic quotes of two venues (named `A` and `B`, or as a
 * session's market names them).
 *
 * A quote is a pure function of (seed, symbol, loop index): the same seed
 * gives the same prices on every run, in every process, whatever happened
 * before. That is what makes a killed-and-resumed run comparable with an
 * uninterrupted one.
 */
import { type MarketSymbol, Venue } from "../domain/Ids.ts"

/** The names of the feed's two venues unless a session names its own (its market's `venues`). */
export const defaultPaperVenues: readonly [Venue, Venue] = [Venue.make("A"), Venue.make("B")]

/** The names a session gives the feed's two venues: the first is quote `a`, the second quote `b`. */
export const venuesOf = (market: { readonly venues?: readonly [Venue, Venue] }): readonly [Venue, Venue] =>
  market.venues ?? defaultPaperVenues

/** The quote of `venue` in `quote`, the venues named as `venues` (names compared without case). */
export const venueQuote = (quote: MarketQuote, venue: Venue, venues: readonly [Venue, Venue]): VenueQuote =>
  venue.toLowerCase() === venues[0].toLowerCase() ? quote.a : quote.b

/** Best bid and ask of one venue. */
export interface VenueQuote {
  readonly bid: number
  readonly ask: number
}

/** Both venues' quotes of one symbol at one loop. */
export interface MarketQuote {
  readonly symbol: MarketSymbol
  readonly a: VenueQuote
  readonly b: VenueQuote
}

/** A 32-bit hash of a string (FNV-1a). */
const hashString = (text: string): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
  return hash >>> 0
}

/** A uniform number in [0, 1) from integers (a few rounds of an integer mixer). */
const uniform = (...parts: ReadonlyArray<number>): number => {
  let h = 0x9e3779b9
  for (const part of parts) {
    h = Math.imul(h ^ (part >>> 0), 0x85ebca6b)
    h ^= h >>> 13
    h = Math.imul(h, 0xc2b2ae35)
    h ^= h >>> 16
  }
  return (h >>> 0) / 4294967296
}

const basePrices: Record<string, number> = { "BTC-USDT": 91_000, "ETH-USDT": 3_200, "SOL-USDT": 140 }

/**
 * The quotes of `symbol` at `loop` for `seed`. The mid price drifts along
 * slow waves; the gap between venues is mostly small, with bursts where one
 * venue lags the other by tens of basis points, which the strategy trades.
 */
export const quoteAt = (seed: number, symbol: MarketSymbol, loop: number): MarketQuote => {
  const s = hashString(symbol)
  const base = basePrices[symbol] ?? 50 + (s % 1000)
  const phase = uniform(seed, s, 1) * 2 * Math.PI
  const wave = 0.004 * Math.sin(loop / 37 + phase) + 0.002 * Math.sin(loop / 11 + 2 * phase)
  const noise = (uniform(seed, s, loop, 2) - 0.5) * 0.0008
  const mid = base * (1 + wave + noise)
  // The venue gap: calm most of the time; in about one window of five loops in ten, a burst of 15
  // to 60 bps that mostly converges over the window (take profit) and sometimes widens (stop loss).
  const window = Math.floor(loop / 5)
  const step = loop % 5
  const burst = uniform(seed, s, window, 3) < 0.1 ? 15 + 45 * uniform(seed, s, window, 4) : 0
  const sign = uniform(seed, s, window, 5) < 0.5 ? -1 : 1
  const shape = uniform(seed, s, window, 7) < 0.3 ? 1 + 0.6 * step : Math.max(0, 1 - 0.4 * step)
  const gapBps = sign * burst * shape + (uniform(seed, s, loop, 6) - 0.5) * 6
  const halfSpread = mid * 0.00005
  const midA = mid * (1 - gapBps / 20_000)
  const midB = mid * (1 + gapBps / 20_000)
  return {
    symbol,
    a: { bid: midA - halfSpread, ask: midA + halfSpread },
    b: { bid: midB - halfSpread, ask: midB + halfSpread }
  }
}
