/**
 * SessionState: who the session is and how far it got.
 *
 * `status` is `running` from start until a clean shutdown sets `stopped`; a
 * session found `running` without a live runner has crashed, which is how an
 * automatic resume finds it.
 *
 * @module
 */
import { Schema } from "effect"
import { CampaignId, SessionId, Venue } from "./Ids.ts"
import { Count, EpochMillis } from "./Units.ts"

/** Paper trading (simulated fills) or live trading. */
export const TradingMode = Schema.Literals(["paper", "live"])
export type TradingMode = typeof TradingMode.Type

/** Whether the session's runner is (or was, when it died) running, or stopped cleanly. */
export const SessionStatus = Schema.Literals(["running", "stopped"])
export type SessionStatus = typeof SessionStatus.Type

/** Version 1 of the session section: it did not record the market it traded. */
export const SessionStateV1 = Schema.Struct({
  sessionId: SessionId,
  startTime: EpochMillis,
  mode: TradingMode,
  /** The campaign preset the session trades with. */
  campaignId: CampaignId,
  /** Completed runner loops; never goes backwards. */
  loopCount: Count,
  status: SessionStatus
}).annotate({ identifier: "SessionStateV1" })
export type SessionStateV1 = typeof SessionStateV1.Type

/** The two venues a paper session trades between, by the names its configuration gives them (not one venue twice). */
export const PaperVenues = Schema.Tuple([Venue, Venue]).check(
  Schema.makeFilter(([first, second]) =>
    first.toLowerCase() !== second.toLowerCase() ? undefined : { path: [1], issue: `the two venues are one: ${first}` }
  )
).annotate({ identifier: "PaperVenues" })
export type PaperVenues = typeof PaperVenues.Type

/**
 * The market a paper session trades: the feed's seed, the simulated time between loops, and the
 * names of its two venues (absent: `A` and `B`, the feed's own).
 */
export const MarketSettings = Schema.Struct({
  seed: Schema.Int,
  tickMs: Schema.Int.check(Schema.isGreaterThan(0)),
  venues: Schema.optionalKey(PaperVenues)
}).annotate({ identifier: "MarketSettings" })
export type MarketSettings = typeof MarketSettings.Type

/**
 * Version 2 of the session section: version 1 plus the paper market the session traded, required
 * (`null` for sessions written before it was kept).
 */
export const SessionStateV2 = Schema.Struct({
  ...SessionStateV1.fields,
  market: Schema.NullOr(MarketSettings)
}).annotate({ identifier: "SessionStateV2" })
export type SessionStateV2 = typeof SessionStateV2.Type

/**
 * The session section (version 3): what every runner has (id, start, mode, campaign, loop count,
 * status) and, optionally, the paper market the bundled runner trades (its feed's seed and tick),
 * so that its resume needs nothing the state does not hold. A runner of its own leaves `market`
 * out; so did sessions written before it was kept.
 */
export const SessionState = Schema.Struct({
  ...SessionStateV1.fields,
  market: Schema.optionalKey(MarketSettings)
}).annotate({ identifier: "SessionState" })
export type SessionState = typeof SessionState.Type

/** Upgrades a version 1 session section: it recorded no market. */
export const migrateSessionV1 = (v1: SessionStateV1): SessionState => ({ ...v1 })

/** Upgrades a version 2 session section: a market recorded as `null` is a market not recorded. */
export const migrateSessionV2 = ({ market, ...v2 }: SessionStateV2): SessionState => (market === null ? v2 : { ...v2, market })
