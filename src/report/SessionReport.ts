/**
 * SessionReport: one self-contained HTML page about a session, for people.
 *
 * The equity curve across the whole session (one point per valid snapshot),
 * a mark wherever the session was resumed and from which source, the trades
 * (as the snapshots saw them open and close), the risk-guard counters, and
 * the snapshot timeline with each snapshot's verdict. No script, no external
 * resource: the page opens anywhere, and prints.
 */
import { Effect, Result } from "effect"
import type { ArbitrageTrade } from "../domain/ArbitrageTrade.ts"
import type { EngineState } from "../domain/EngineState.ts"
import type { SessionId } from "../domain/Ids.ts"
import { type RecordedEvent, type SnapshotRead, SnapshotStore } from "../store/SnapshotStore.ts"

/** What a report is drawn from: every snapshot of the session (oldest first) and its events. */
export interface ReportData {
  readonly sessionId: SessionId
  readonly snapshots: ReadonlyArray<SnapshotRead>
  readonly events: ReadonlyArray<RecordedEvent>
}

/** Reads every snapshot of the session, each verified, and its events. */
export const gather = Effect.fn("SessionReport.gather")(function*(sessionId: SessionId) {
  const store = yield* SnapshotStore
  const reads: Array<SnapshotRead> = []
  let beforeSequence: number | undefined
  while (true) {
    const page = yield* store.loadRecent(sessionId, { limit: 200, ...(beforeSequence === undefined ? {} : { beforeSequence }) })
    reads.push(...page)
    if (page.length < 200) break
    beforeSequence = page[page.length - 1]!.sequence
  }
  return { sessionId, snapshots: reads.reverse(), events: yield* store.listEvents(sessionId) } satisfies ReportData
})

/** A trade as the snapshots saw it: when it opened, when it closed, and its PnL when one close explains it. */
export interface TradeRow {
  readonly trade: ArbitrageTrade
  readonly closedAtLoop: number | null
  readonly pnlUsd: number | null
}

/** The trades of a session, from the differences between consecutive valid snapshots. */
export const tradesOf = (states: ReadonlyArray<EngineState>): ReadonlyArray<TradeRow> => {
  const rows = new Map<string, { trade: ArbitrageTrade; closedAtLoop: number | null; pnlUsd: number | null }>()
  states.forEach((state, i) => {
    for (const trade of Object.values(state.positions.activeTrades)) {
      if (!rows.has(trade.tradeId)) rows.set(trade.tradeId, { trade, closedAtLoop: null, pnlUsd: null })
    }
    const previous = states[i - 1]
    if (previous === undefined) return
    const closed = Object.keys(previous.positions.activeTrades).filter((id) => !(id in state.positions.activeTrades))
    for (const id of closed) {
      const row = rows.get(id)!
      row.closedAtLoop = state.session.loopCount
      if (closed.length === 1) row.pnlUsd = state.metrics.totalPnlUsd - previous.metrics.totalPnlUsd
    }
  })
  return [...rows.values()]
}

const escape = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c]!)

const usd = (n: number) => n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })

/** The equity curve as an SVG: one point per valid snapshot, a dashed mark per resume. */
const equityChart = (states: ReadonlyArray<EngineState>, events: ReadonlyArray<RecordedEvent>) => {
  const width = 960
  const height = 320
  const pad = 48
  const left = 88 // room for the equity labels
  if (states.length === 0) return `<p>No valid snapshot to draw.</p>`
  const loops = states.map((s) => s.session.loopCount)
  const equity = states.map((s) => s.metrics.portfolioEquityUsd)
  const [minX, maxX] = [Math.min(...loops), Math.max(...loops, Math.min(...loops) + 1)]
  const [lowY, highY] = [Math.min(...equity), Math.max(...equity)]
  const [minY, maxY] = lowY === highY ? [lowY - 1, highY + 1] : [lowY, highY]
  const x = (loop: number) => left + ((loop - minX) / (maxX - minX)) * (width - left - pad)
  const y = (value: number) => height - pad - ((value - minY) / (maxY - minY)) * (height - 2 * pad)
  const points = states.map((s) => `${x(s.session.loopCount).toFixed(1)},${y(s.metrics.portfolioEquityUsd).toFixed(1)}`).join(" ")
  const marks = events.filter((e) => e.kind === "resumed").map((event) => {
    const source = String(event.detail.source ?? "?")
    const where = source === "snapshot" ? `snapshot #${String(event.detail.sequence)}` : "live tier"
    const px = x(Math.min(Math.max(event.loopCount, minX), maxX)).toFixed(1)
    return `<g class="resume" data-resume="${escape(source)}" data-loop="${event.loopCount}">
      <line x1="${px}" x2="${px}" y1="${pad / 2}" y2="${height - pad}" stroke="#c0392b" stroke-dasharray="4 3"/>
      <text x="${px}" y="${pad / 2 - 4}" text-anchor="middle">resumed from ${escape(where)}</text></g>`
  }).join("\n")
  return `<svg id="equity" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="equity curve">
    <rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>
    <line x1="${left}" x2="${width - pad}" y1="${height - pad}" y2="${height - pad}" stroke="#888"/>
    <line x1="${left}" x2="${left}" y1="${pad / 2}" y2="${height - pad}" stroke="#888"/>
    <text x="${left}" y="${height - pad + 18}">loop ${minX}</text>
    <text x="${width - pad}" y="${height - pad + 18}" text-anchor="end">loop ${maxX}</text>
    <text x="${left - 6}" y="${y(maxY)}" text-anchor="end">${usd(maxY)}</text>
    <text x="${left - 6}" y="${y(minY)}" text-anchor="end">${usd(minY)}</text>
    <polyline id="equity-line" fill="none" stroke="#2463eb" stroke-width="2" points="${points}"/>
    ${marks}
  </svg>`
}

const table = (head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>, id: string) =>
  `<table id="${id}"><thead><tr>${head.map((h) => `<th>${escape(h)}</th>`).join("")}</tr></thead><tbody>
${rows.map((r) => `<tr>${r.map((c) => `<td>${escape(c)}</td>`).join("")}</tr>`).join("\n")}
</tbody></table>`

/** The report as one HTML page. */
export const render = (data: ReportData): string => {
  const valid = data.snapshots.flatMap((read) => (Result.isSuccess(read.result) ? [read.result.success.state] : []))
  const last = valid.at(-1)
  const trades = tradesOf(valid)
  const iso = (ms: number) => new Date(ms).toISOString()
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Session ${escape(data.sessionId)}</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d1d1f; }
  h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
  table { border-collapse: collapse; } td, th { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: left; }
  .resume text { font-size: 11px; fill: #c0392b; } svg text { font-size: 11px; fill: #444; }
  .invalid { color: #c0392b; }
</style></head>
<body>
<h1>Session ${escape(data.sessionId)}</h1>
<p id="summary">${last === undefined ? "No valid snapshot." : `Campaign ${escape(last.session.campaignId)}, ${last.session.mode}, status ${last.session.status}, loop ${last.session.loopCount}.
Trades opened ${last.metrics.tradesOpened}, closed ${last.metrics.tradesClosed}, won ${last.metrics.winningTrades};
PnL ${usd(last.metrics.totalPnlUsd)} USD, equity ${usd(last.metrics.portfolioEquityUsd)} USD (from ${usd(last.metrics.initialCapitalUsd)}).`}
${data.events.filter((e) => e.kind === "resumed").length} resume(s); ${data.snapshots.length} snapshot(s), ${data.snapshots.length - valid.length} invalid.</p>
<h2>Equity</h2>
${equityChart(valid, data.events)}
<h2>Trades</h2>
${table(["trade", "symbol", "direction", "opened", "closed at loop", "notional", "PnL"], trades.map((t) => [
    t.trade.tradeId,
    t.trade.symbol,
    t.trade.direction,
    iso(t.trade.openedAt),
    t.closedAtLoop === null ? "open" : String(t.closedAtLoop),
    usd(t.trade.notionalUsd),
    t.pnlUsd === null ? (t.closedAtLoop === null ? "" : "shared") : usd(t.pnlUsd)
  ]), "trades")}
<h2>Risk guard</h2>
${last === undefined ? "" : `<p>Daily loss ${usd(last.riskGuard.dailyLossUsd)} USD.</p>` + table(
    ["symbol", "loss", "trades allowed", "trades rejected", "capital used", "positions"],
    Object.entries(last.riskGuard.perSymbol).map(([symbol, r]) => [symbol, usd(r.lossUsd), String(r.tradesAllowed), String(r.tradesRejected), usd(r.capitalUsedUsd), String(r.positionCount)]),
    "risk-guard"
  )}
<h2>Snapshots</h2>
${table(["sequence", "type", "loop", "recorded", "verdict"], data.snapshots.map((read) => [
    `#${read.sequence}`,
    Result.isSuccess(read.result) ? read.result.success.snapshotType : "?",
    Result.isSuccess(read.result) ? String(read.result.success.state.session.loopCount) : "?",
    iso(read.recordedAt),
    Result.isSuccess(read.result) ? "valid" : `invalid: ${read.result.failure.message}`
  ]), "snapshots")}
<h2>Resumes</h2>
${table(["loop", "runner token", "source", "passed over"], data.events.filter((e) => e.kind === "resumed").map((e) => [
    String(e.loopCount),
    String(e.fencingToken),
    e.detail.source === "snapshot" ? `snapshot #${String(e.detail.sequence)}` : String(e.detail.source),
    Array.isArray(e.detail.skipped) ? String(e.detail.skipped.length) : "0"
  ]), "resumes")}
</body></html>
`
}
