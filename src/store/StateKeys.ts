/**
 * StateKeys: where a session's live state lives in Redis.
 *
 * `arbitrage:state:{env}:{session_id}:<section>` (`session`, `positions`,
 * `metrics`, `risk_guard`, `custom` for the runner's own sections, and
 * `ledger_tail` for the closed trades not yet in the durable ledger), with the session id wrapped
 * in braces as a Redis Cluster hash tag: all keys of one session hash to one
 * slot, so a MULTI/EXEC over them works on a cluster as on a single server.
 * Env and session id are validated ids (no `:`, braces or spaces), so a key
 * can be parsed back without ambiguity.
 */
import { sectionNames } from "../domain/EngineState.ts"
import type { Env, SessionId } from "../domain/Ids.ts"

/**
 * What the live tier keeps of a session: the four built-in sections, then the runner's own
 * (`custom`, when it has any), then the ledger tail (`ledger`: closes a snapshot has not yet
 * appended to the trade ledger, when there are any).
 */
export const liveParts = [...sectionNames, "custom", "ledger"] as const
export type LivePart = typeof liveParts[number]

/** The Redis key of one part of a session's live state. */
export const sectionKey = (env: Env, sessionId: SessionId, section: LivePart): string =>
  `arbitrage:state:${env}:{${sessionId}}:${redisSectionName[section]}`

/** The keys of a session's state, in the order of `liveParts`. */
export const sessionKeys = (env: Env, sessionId: SessionId) => liveParts.map((part) => sectionKey(env, sessionId, part))

/** The key holding the highest fencing token that wrote the session (same hash slot as its sections). */
export const fenceKey = (env: Env, sessionId: SessionId): string => `arbitrage:state:${env}:{${sessionId}}:fence`

/** The key holding the id of the last write of the session, which an incremental write must follow. */
export const writeMarkKey = (env: Env, sessionId: SessionId): string => `arbitrage:state:${env}:{${sessionId}}:mark`

/** The key holding the seal of the session's live state (see `StateProtection`), when it is sealed. */
export const sealKey = (env: Env, sessionId: SessionId): string => `arbitrage:state:${env}:{${sessionId}}:seal`

/** The SCAN pattern matching the session key of every live session of an env. */
export const sessionKeyPattern = (env: Env): string => `arbitrage:state:${env}:{*}:session`

/** The session id inside a key matched by `sessionKeyPattern`, if it is one. */
export const sessionIdOfKey = (env: Env, key: string): string | undefined => {
  const prefix = `arbitrage:state:${env}:{`
  const suffix = "}:session"
  return key.startsWith(prefix) && key.endsWith(suffix) ? key.slice(prefix.length, -suffix.length) : undefined
}

/** Section names as the original system spelled them in keys. */
const redisSectionName: Record<LivePart, string> = {
  session: "session",
  positions: "positions",
  metrics: "metrics",
  riskGuard: "risk_guard",
  custom: "custom",
  ledger: "ledger_tail"
}
