/**
 * Runner: the paper arbitrage runner's loop.
 *
 * It drives `ArbitrageStrategy.runLoop` until the session reaches its target
 * loop count and hands every new state to the session to persist. It knows
 * nothing of Redis or SQL: persistence is whatever the session's `persist`
 * does, including nothing at all, and the results are the same either way.
 * A step refused because its trades could not be made durable
 * (`StepRefused`) is done again without opening trades.
 *
 * @module
 */
import { Duration, Effect } from "effect"
import type { EngineState } from "../domain/EngineState.ts"
import type { StepChange, StepRefused } from "../session/Session.ts"
import { type LoopEvents, type MarketSettings, runLoop, tradesChanged } from "./ArbitrageStrategy.ts"
import type { Campaign } from "./Campaign.ts"

/** A session that persists nothing: the runner on its own. */
export const withoutPersistence = {
  /** Takes the state and does nothing with it. */
  persist: (_state: EngineState, _change: StepChange) => Effect.void
}

/** How a run goes. */
export interface RunOptions {
  readonly campaign: Campaign
  readonly market: MarketSettings
  /** Run until the session's loop count reaches this. */
  readonly targetLoops: number
  /** Also wait `tickMs` of real time between loops. */
  readonly pace?: boolean
  /** Called after each loop has been persisted. */
  readonly onLoop?: (state: EngineState, events: LoopEvents) => Effect.Effect<void>
}

/** Runs from `state` until its loop count reaches `options.targetLoops`; returns the final state. */
export const run = Effect.fn("Runner.run")(function*<E, R>(
  session: {
    readonly persist: (state: EngineState, change: StepChange) => Effect.Effect<void, E | StepRefused, R>
    /** The persistence-health gate: while false, no trade opens (exits still happen). */
    readonly canTrade?: Effect.Effect<boolean>
  },
  state: EngineState,
  options: RunOptions
) {
  let current = state
  while (current.session.loopCount < options.targetLoops) {
    const durable = session.canTrade === undefined ? true : yield* session.canTrade
    let step = runLoop(current, options.campaign, options.market, durable)
    const accepted = yield* session.persist(step.state, {
      tradesChanged: tradesChanged(step.events),
      opensTrades: step.events.opened.length > 0,
      closed: step.events.closed
    }).pipe(Effect.as(true), Effect.catchTag("StepRefused", () => Effect.succeed(false)))
    if (!accepted) {
      // The new trades could not be made durable: this loop is done again without opening them.
      step = runLoop(current, options.campaign, options.market, false)
      yield* session.persist(step.state, { tradesChanged: tradesChanged(step.events), closed: step.events.closed })
    }
    current = step.state
    if (options.onLoop !== undefined) yield* options.onLoop(current, step.events)
    if (options.pace === true) yield* Effect.sleep(Duration.millis(options.market.tickMs))
  }
  return current
})
