/**
 * Runs of the paper strategy that close trades, for tests of the trade
 * ledger: every step's state and the trades it closed, from a new session.
 */
import { Result } from "effect"
import { type ClosedTrade, type LedgerEntry, numberCloses } from "../../src/domain/ClosedTrade.ts"
import type { EngineState } from "../../src/domain/EngineState.ts"
import type { SessionId } from "../../src/domain/Ids.ts"
import { newSessionState, runLoop, simulatedStart } from "../../src/runner/ArbitrageStrategy.ts"
import { campaigns } from "../../src/runner/Campaign.ts"

/** One step: the state after it, and the trades it closed. */
export interface ClosingStep {
  readonly state: EngineState
  readonly closed: ReadonlyArray<ClosedTrade>
}

/** The aggressive campaign closes trades often: what a ledger test wants. */
export const ledgerCampaign = campaigns.aggressive!

/** The session's first state and its steps, run from `from` (default: a new session) until `closes` more trades have closed. */
export const closingRun = (
  sessionId: SessionId,
  closes: number,
  options: { readonly seed?: number; readonly from?: EngineState } = {}
): { readonly initial: EngineState; readonly steps: ReadonlyArray<ClosingStep> } => {
  const market = { seed: options.seed ?? 11, tickMs: 1_000 }
  const initial = options.from ?? newSessionState({ sessionId, campaign: ledgerCampaign, startTime: simulatedStart, market })
  const target = initial.metrics.tradesClosed + closes
  const steps: Array<ClosingStep> = []
  let state = initial
  while (state.metrics.tradesClosed < target) {
    if (steps.length > 100_000) throw new Error(`no ${closes} closes within 100,000 loops`)
    const step = runLoop(state, ledgerCampaign, market)
    state = step.state
    steps.push({ state, closed: step.events.closed })
  }
  return { initial, steps }
}

/** The ledger entries of each step of a run, numbered after the state before it. */
export const entriesByStep = (initial: EngineState, steps: ReadonlyArray<ClosingStep>): Array<ReadonlyArray<LedgerEntry>> => {
  let previous = initial
  return steps.map((step) => {
    const entries = Result.getOrThrow(numberCloses(previous, step.state, step.closed))
    previous = step.state
    return entries
  })
}

/** Every ledger entry of a run, in close order. */
export const entriesOfRun = (initial: EngineState, steps: ReadonlyArray<ClosingStep>): Array<LedgerEntry> => entriesByStep(initial, steps).flat()
