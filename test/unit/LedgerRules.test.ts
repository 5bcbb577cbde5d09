/**
 * The trade ledger's rules without a store: what a step may report closed
 * (`ClosedTrade.numberCloses`), and how an audit holds a ledger against the
 * state that counts it (`LedgerAudit.auditOf`): the tail's closes over an
 * abandoned durable entry, a number held twice, closes before the ledger
 * existed, and sums of hedged PnLs that net to nearly nothing.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { type ClosedTrade, closeOf, type LedgerEntry, numberCloses } from "../../src/domain/ClosedTrade.ts"
import type { EngineState } from "../../src/domain/EngineState.ts"
import { SessionId, TradeId } from "../../src/domain/Ids.ts"
import { auditOf, verdictOf } from "../../src/recovery/LedgerAudit.ts"
import type { RecordedEvent } from "../../src/store/SessionEvents.ts"
import type { LedgerRead } from "../../src/store/TradeLedger.ts"
import { closingRun, entriesOfRun } from "../support/Ledger.ts"

const sessionId = SessionId.make("sess_ledgerrules")

/** The first step of a run that closes at least `n` trades at once, with the state before it. */
const stepClosing = (n: number) => {
  const { initial, steps } = closingRun(sessionId, 40)
  const index = steps.findIndex((step) => step.closed.length >= n)
  assert.isAtLeast(index, 0, `a step that closes ${n} trades`)
  return { previous: index === 0 ? initial : steps[index - 1]!.state, step: steps[index]! }
}

const refusal = (result: Result.Result<unknown, { readonly message: string }>) => (Result.isFailure(result) ? result.failure.message : "accepted")

/** The durable reads of `entries`, as a store gives them back. */
const readsOf = (entries: ReadonlyArray<LedgerEntry>): Array<LedgerRead> =>
  entries.map((entry, i) => ({
    entryId: i + 1,
    closeNumber: entry.closeNumber,
    tradeId: entry.trade.tradeId,
    recordedAt: 0,
    snapshotSequence: 1,
    result: Result.succeed(entry)
  }))

/** A state counting `closes` closes and `pnl`, the rest of `state` unchanged. */
const counting = (state: EngineState, closes: number, pnl: number): EngineState => ({
  ...state,
  metrics: { ...state.metrics, tradesClosed: closes, totalPnlUsd: pnl, portfolioEquityUsd: state.metrics.initialCapitalUsd + pnl }
})

describe("numberCloses", () => {
  it("numbers a step's closes after the state before it", () => {
    const { previous, step } = stepClosing(2)
    const entries = Result.getOrThrow(numberCloses(previous, step.state, step.closed))
    assert.deepStrictEqual(entries.map((e) => e.closeNumber), step.closed.map((_, i) => previous.metrics.tradesClosed + i + 1))
  })

  it("refuses a trade that left the open ones reported as another, and one trade reported twice", () => {
    const { previous, step } = stepClosing(2)
    const [first, second] = step.closed as [ClosedTrade, ClosedTrade]
    const renamed = [{ ...first, tradeId: TradeId.make("trd_never_opened") }, second]
    assert.include(refusal(numberCloses(previous, step.state, renamed)), `${first.tradeId} left the open trades`)
    const twice = [first, first]
    assert.include(refusal(numberCloses(previous, step.state, twice)), `${first.tradeId} closed twice`)
    assert.include(refusal(numberCloses(previous, step.state, [first])), "reported 1 to the ledger")
  })

  it("takes a trade opened and closed within one step (it was open in neither state)", () => {
    const { previous, step } = stepClosing(1)
    const opened = step.closed[0]!
    const quick = closeOf({ ...opened, tradeId: TradeId.make("trd_inandout") }, { ...opened, closedLoop: previous.session.loopCount })
    const next = {
      ...counting(step.state, step.state.metrics.tradesClosed + 1, step.state.metrics.totalPnlUsd + quick.realizedPnlUsd),
      metrics: {
        ...counting(step.state, step.state.metrics.tradesClosed + 1, step.state.metrics.totalPnlUsd + quick.realizedPnlUsd).metrics,
        tradesOpened: step.state.metrics.tradesOpened + 1,
        winningTrades: step.state.metrics.winningTrades + (quick.realizedPnlUsd > 0 ? 1 : 0)
      }
    }
    const entries = Result.getOrThrow(numberCloses(previous, next, [...step.closed, quick]))
    assert.strictEqual(entries.at(-1)!.trade.tradeId, "trd_inandout")
  })

  it("hedged PnLs of millions that net to cents: 100 steps of 3 closes each are taken, and the audit of all 300 agrees", () => {
    const { previous, step } = stepClosing(1)
    const template = step.closed[0]!
    let state = counting(previous, 0, 0)
    const all: Array<LedgerEntry> = []
    for (let i = 0; i < 100; i++) {
      const pnls = [5_000_000.37 + i, -4_999_999.11 - i, -1.23]
      const closed = pnls.map((realizedPnlUsd, j) => ({ ...template, tradeId: TradeId.make(`trd_h${i}x${j}`), realizedPnlUsd }))
      const next = counting(state, state.metrics.tradesClosed + 3, pnls.reduce((sum, p) => sum + p, state.metrics.totalPnlUsd))
      all.push(...Result.getOrThrow(numberCloses(state, next, closed)))
      state = next
    }
    const audit = auditOf(state, [], readsOf(all), [])
    assert.isTrue(audit.agrees, `ledger ${audit.ledger.realizedPnlUsd}, metrics ${audit.counted.totalPnlUsd}`)
  })
})

describe("auditOf", () => {
  const run = closingRun(sessionId, 6)
  const final = run.steps.at(-1)!.state
  const entries = entriesOfRun(run.initial, run.steps).filter((entry) => entry.closeNumber <= final.metrics.tradesClosed)

  it("every close once, valid, summing to the metrics: agrees", () => {
    const audit = auditOf(final, [], readsOf(entries), [])
    assert.isTrue(audit.agrees)
    assert.deepStrictEqual(audit.entries.map((e) => e.entry.closeNumber), entries.map((e) => e.closeNumber))
  })

  it("at a number the tail holds, a durable entry of another trade is abandoned history: the tail's close is the one counted", () => {
    const last = entries.at(-1)!
    const other = { ...last, trade: { ...last.trade, realizedPnlUsd: last.trade.realizedPnlUsd + 3 } }
    const audit = auditOf(final, [last], readsOf([...entries.slice(0, -1), other]), [])
    assert.strictEqual(audit.abandoned, 1)
    assert.deepStrictEqual(audit.entries.at(-1), { entry: last, durable: false, recordedAt: null, snapshotSequence: null })
    assert.closeTo(audit.ledger.realizedPnlUsd, final.metrics.totalPnlUsd, 1e-9)
    assert.isFalse(audit.agrees, "until the next snapshot supersedes it")
  })

  it("a close held twice does not agree", () => {
    const audit = auditOf(final, [], readsOf([...entries, entries.at(-1)!]), [])
    assert.deepStrictEqual(audit.duplicates, [entries.at(-1)!.closeNumber])
    assert.isFalse(audit.agrees)
  })

  it("closes missing below the first entry are 'before the ledger' only when a ledger_began event says so; else not found", () => {
    const later = entries.slice(2)
    const began: RecordedEvent = { kind: "ledger_began", fencingToken: 1, loopCount: 0, recordedAt: 0, detail: { afterClose: 2 } }
    assert.deepStrictEqual(auditOf(final, [], readsOf(later), [began]).missing, [{ from: 1, to: 2, why: "before_ledger" }])
    assert.deepStrictEqual(auditOf(final, [], readsOf(later), []).missing, [{ from: 1, to: 2, why: "not_found" }])
  })

  it("with the PnL made before the ledger recorded, everything since agrees (or not) by it; the whole never does", () => {
    const later = entries.slice(2)
    const pnlBeforeUsd = entries.slice(0, 2).reduce((sum, entry) => sum + entry.trade.realizedPnlUsd, 0)
    const began = (detail: Record<string, unknown>): RecordedEvent => ({ kind: "ledger_began", fencingToken: 1, loopCount: 0, recordedAt: 0, detail })
    const audit = auditOf(final, [], readsOf(later), [began({ afterClose: 2, pnlBeforeUsd })])
    assert.isFalse(audit.agrees)
    assert.deepStrictEqual(audit.agreesSinceLedger, { afterClose: 2, pnlBeforeUsd, agrees: true })
    assert.include(verdictOf(audit), "agrees with the metrics since the ledger began (after close #2")
    // A PnL before that does not add up, a later close missing too, or no PnL recorded: not "since".
    assert.isFalse(auditOf(final, [], readsOf(later), [began({ afterClose: 2, pnlBeforeUsd: pnlBeforeUsd + 1 })]).agreesSinceLedger?.agrees)
    assert.isUndefined(auditOf(final, [], readsOf(later.slice(0, -1)), [began({ afterClose: 2, pnlBeforeUsd })]).agreesSinceLedger)
    assert.isUndefined(auditOf(final, [], readsOf(later), [began({ afterClose: 2 })]).agreesSinceLedger)
    assert.strictEqual(verdictOf(auditOf(final, [], readsOf(later), [began({ afterClose: 2 })])), "DOES NOT agree with the metrics")
  })

  it("PnL made before the ledger with no close (D70 counted it so): agrees since the ledger began, by that PnL alone", () => {
    const first = closingRun(sessionId, 1).initial
    const state = { ...first, metrics: { ...first.metrics, tradesClosed: 0, winningTrades: 0, totalPnlUsd: 41.27 } }
    const began: RecordedEvent = { kind: "ledger_began", fencingToken: 1, loopCount: 0, recordedAt: 0, detail: { afterClose: 0, pnlBeforeUsd: 41.27 } }
    assert.isFalse(auditOf(state, [], [], []).agrees)
    assert.deepStrictEqual(auditOf(state, [], [], [began]).agreesSinceLedger, { afterClose: 0, pnlBeforeUsd: 41.27, agrees: true })
  })
})
