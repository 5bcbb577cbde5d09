/**
 * Concrete valid states for tests that need one, drawn from the generator
 * with a fixed seed and re-labelled with the session id the test wants.
 */
import { Arbitrary, Effect } from "effect"
import type { EngineState } from "../../src/domain/EngineState.ts"
import type { SessionId } from "../../src/domain/Ids.ts"
import { engineStateArbitrary } from "./StateArbitrary.ts"

/** `count` valid states of `sessionId` with between `minOpenTrades` and `maxOpenTrades` open trades. */
export const sampleStates = (
  sessionId: SessionId,
  options: { readonly count: number; readonly seed: number; readonly minOpenTrades?: number; readonly maxOpenTrades?: number }
) =>
  Arbitrary.sampleEffect(
    engineStateArbitrary({ minOpenTrades: options.minOpenTrades ?? 1, maxOpenTrades: options.maxOpenTrades ?? 6 }),
    { count: options.count, seed: options.seed }
  ).pipe(Effect.map((states) => states.map((state) => ofSession(state, sessionId))))

/** The state, moved to another session id. */
export const ofSession = (state: EngineState, sessionId: SessionId): EngineState => ({
  ...state,
  session: { ...state.session, sessionId }
})
