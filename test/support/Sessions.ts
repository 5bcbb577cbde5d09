/**
 * The session options most tests start with: a simulated session of one
 * campaign, snapshots every five minutes besides trades.
 */
import type { SessionId } from "../../src/domain/Ids.ts"
import { newSessionState, simulatedStart } from "../../src/runner/ArbitrageStrategy.ts"
import type { Campaign } from "../../src/runner/Campaign.ts"
import type * as Session from "../../src/session/Session.ts"

/** Options of a session of `campaign` in `mode` (on `sessionId` when given), with `extra` on top. */
export const sessionOptions = (
  mode: Session.SessionMode,
  campaign: Campaign,
  sessionId?: SessionId,
  extra: Partial<Pick<Session.SessionOptions, "lease" | "policy" | "onShutdown">> = {}
): Session.SessionOptions => ({
  mode,
  ...(sessionId === undefined ? {} : { sessionId }),
  newState: (id) => newSessionState({ sessionId: id, campaign, startTime: simulatedStart }),
  policy: { snapshotInterval: "5 minutes" },
  ...extra
})
