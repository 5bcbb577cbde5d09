/**
 * Reference runs: what a session reaches when nothing interrupts it, computed
 * in this process with persistence switched off.
 */
import { Result } from "effect"
import type { EngineState } from "../../src/domain/EngineState.ts"
import type { SessionId } from "../../src/domain/Ids.ts"
import { encodeEngineState } from "../../src/domain/StateCodec.ts"
import { newSessionState, runLoop, simulatedStart } from "../../src/runner/ArbitrageStrategy.ts"
import type { Campaign } from "../../src/runner/Campaign.ts"

/** The state a clean session reaches after `loops` loops with no interruption (status as given). */
export const uninterruptedRun = (options: {
  readonly sessionId: SessionId
  readonly campaign: Campaign
  readonly seed: number
  readonly loops: number
  readonly tickMs?: number
  readonly status?: "running" | "stopped"
  /** Whether the session recorded its market (as sessions started by the CLI do). */
  readonly marketRecorded?: boolean
}): EngineState => {
  let state = newSessionState({
    sessionId: options.sessionId,
    campaign: options.campaign,
    startTime: simulatedStart,
    ...(options.marketRecorded === true ? { market: { seed: options.seed, tickMs: options.tickMs ?? 1000 } } : {})
  })
  while (state.session.loopCount < options.loops) {
    state = runLoop(state, options.campaign, { seed: options.seed, tickMs: options.tickMs ?? 1000 }).state
  }
  return { ...state, session: { ...state.session, status: options.status ?? "stopped" } }
}

/** The `run` arguments of a supervised chaos run: paced, every loop reported as a JSON line. */
export const chaosRunArgs = (options: {
  readonly loops: number
  readonly seed: number
  readonly campaign: Campaign
  readonly tickMs: number
}): ReadonlyArray<string> => [
  "--loops", String(options.loops), "--seed", String(options.seed), "--campaign", options.campaign.id,
  "--pace", "--tick-ms", String(options.tickMs), "--json", "--status-every", "1"
]

/** The stored JSON form of a state: how two states are compared across processes. */
export const storedForm = (state: EngineState): unknown => JSON.parse(JSON.stringify(Result.getOrThrow(encodeEngineState(state))))

/** The paths at which two JSON values differ (for a failure message that says where). */
export const differences = (a: unknown, b: unknown, path = "state"): Array<string> => {
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object") {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)])
    return [...keys].flatMap((key) => differences((a as any)[key], (b as any)[key], `${path}.${key}`))
  }
  return Object.is(a, b) ? [] : [`${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`]
}
