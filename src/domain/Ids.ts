/**
 * Ids: branded identifiers of the trading domain.
 *
 * Every id is restricted to a small character set so that it is safe inside
 * a Redis key (no `:`, `{`, `}` or whitespace) and needs no escaping in SQL
 * or in a file name.
 *
 * @module
 */
import { Schema } from "effect"

const idPattern = (prefix: string, maxLength: number) =>
  Schema.isPattern(new RegExp(`^${prefix}[a-z0-9][a-z0-9_-]{0,${maxLength - prefix.length - 1}}$`))

/**
 * The form of a D70 session id, `session_YYYYMMDD_HHMMSS` (when its session started): the sessions
 * of the system this project replaces keep their ids here.
 */
export const d70SessionIdPattern = /^session_\d{4}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])_(?:[01]\d|2[0-3])[0-5]\d[0-5]\d$/

/**
 * Identifies one trading session: `sess_` then lower-case letters, digits, `_` or `-`, 64 chars at
 * most (the form this project makes), or a D70 id, `session_YYYYMMDD_HHMMSS`.
 */
export const SessionId = Schema.String.check(
  Schema.isPattern(new RegExp(`^(?:sess_[a-z0-9][a-z0-9_-]{0,58}|${d70SessionIdPattern.source.slice(1, -1)})$`), {
    message: "Expected a session id: sess_ then up to 59 lower-case letters, digits, _ or - (sess_a1b2), or a D70 id session_YYYYMMDD_HHMMSS (session_20251120_090301)"
  })
).pipe(Schema.brand("SessionId"))
export type SessionId = typeof SessionId.Type

/** A deployment environment used as a key namespace: `dev`, `test`, `prod`, ... (lower-case, 32 chars at most). */
export const Env = Schema.String.check(Schema.isPattern(/^[a-z][a-z0-9_-]{0,31}$/)).pipe(Schema.brand("Env"))
export type Env = typeof Env.Type

/**
 * A traded instrument as the venue names it: upper-case letters and digits in up to three parts
 * joined by `-`, `/` or `_` (`BTC-USDT`, `BTC/KRW`, `KRW-BTC`, `BTCUSDT`, `BTC-USDT-SWAP`,
 * `ETH_USDT`), 40 characters at most.
 */
export const MarketSymbol = Schema.String.check(
  Schema.isPattern(/^[A-Z0-9]{1,20}(?:[-/_][A-Z0-9]{1,20}){0,2}$/),
  Schema.isMaxLength(40)
).pipe(Schema.brand("MarketSymbol"))
export type MarketSymbol = typeof MarketSymbol.Type

/**
 * A venue (exchange) by the name the runner's configuration gives it: `upbit`, `binance`,
 * `okx-spot`, `A`; letters, digits, `_`, `-` or `.`, starting with a letter or digit, 32 at most.
 * Any number of them; a trade names the venue of each of its legs. Compared without case (`Upbit`
 * is `upbit`) where it matters: a trade's two legs are on two venues.
 */
export const Venue = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/)).pipe(Schema.brand("Venue"))
export type Venue = typeof Venue.Type

/** Identifies one arbitrage trade: `trd_...`. */
export const TradeId = Schema.String.check(idPattern("trd_", 64)).pipe(Schema.brand("TradeId"))
export type TradeId = typeof TradeId.Type

/** Identifies one leg order on one venue: `ord_...`. */
export const OrderId = Schema.String.check(idPattern("ord_", 64)).pipe(Schema.brand("OrderId"))
export type OrderId = typeof OrderId.Type

/** Names a campaign preset (entry threshold, exits, size, limits): e.g. `C1`, `balanced`. */
export const CampaignId = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/)).pipe(
  Schema.brand("CampaignId")
)
export type CampaignId = typeof CampaignId.Type
