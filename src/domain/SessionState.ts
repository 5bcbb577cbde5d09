/**
 * SessionState: who the session is and how far it got.
 *
 * `status` is `running` from start until a clean shutdown sets `stopped`; a
 * session found `running` without a live runner has crashed, which is how an
 * automatic resume finds it.
 */
import { Schema } from "effect"
import { CampaignId, SessionId } from "./Ids.ts"
import { Count, EpochMillis } from "./Units.ts"

/** Paper trading (simulated fills) or live trading. */
export const TradingMode = Schema.Literals(["paper", "live"])
export type TradingMode = typeof TradingMode.Type

/** Whether the session's runner is (or was, when it died) running, or stopped cleanly. */
export const SessionStatus = Schema.Literals(["running", "stopped"])
export type SessionStatus = typeof SessionStatus.Type

/** The session section of the engine state. */
export const SessionState = Schema.Struct({
  sessionId: SessionId,
  startTime: EpochMillis,
  mode: TradingMode,
  /** The campaign preset the session trades with. */
  campaignId: CampaignId,
  /** Completed runner loops; never goes backwards. */
  loopCount: Count,
  status: SessionStatus
}).annotate({ identifier: "SessionState" })
export type SessionState = typeof SessionState.Type
