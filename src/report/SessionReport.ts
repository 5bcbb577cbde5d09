/**
 * SessionReport: one self-contained HTML page about a session, for people.
 *
 * The key figures (equity, PnL, deepest drawdown, trades, resumes), the
 * equity curve across the session (one point per valid snapshot) with a mark
 * at every resume that tells a resume after a crash from one after a clean
 * stop and names the tier it restored from, the drawdown from the running
 * peak, the resumes, the closed trades (from the trade ledger, each with its
 * own PnL) and the ones still open,
 * the risk-guard counters and the snapshot timeline with each snapshot's
 * verdict; the long tables are folded under a line that counts them.
 *
 * Every time says which clock it is on: the session's simulated clock (loops,
 * trades) or the database's wall clock (when a row was written). The tiers
 * have one name each: the live tier (Redis) and the durable tier (snapshots).
 * No script, no external resource: the page opens anywhere, at any width, and
 * prints.
 */
import { Effect, Result } from "effect"
import type { ArbitrageTrade } from "../domain/ArbitrageTrade.ts"
import type { LedgerEntry } from "../domain/ClosedTrade.ts"
import type { EngineState } from "../domain/EngineState.ts"
import type { SessionId } from "../domain/Ids.ts"
import type { Snapshot } from "../domain/Snapshot.ts"
import { auditOf, readLedger } from "../recovery/LedgerAudit.ts"
import { type RecordedEvent, SessionEvents } from "../store/SessionEvents.ts"
import type { LedgerRead } from "../store/TradeLedger.ts"
import { type SnapshotRead, SnapshotStore } from "../store/SnapshotStore.ts"
import { type Drawdown, drawdownOf, type EquityPoint } from "./Drawdown.ts"
import { escape, signedPercent, signedUsd, simulatedClock, usd, wallClock } from "./internal/Format.ts"
import { afterText, drawdownChart, equityChart, labelFontPx, type ResumeMark, type SessionClock, tickFontPx, tierName } from "./SessionChart.ts"

/** What a report is drawn from: every snapshot of the session (oldest first), its trade ledger (in close order) and its events. */
export interface ReportData {
  readonly sessionId: SessionId
  readonly snapshots: ReadonlyArray<SnapshotRead>
  readonly ledger: ReadonlyArray<LedgerRead>
  readonly events: ReadonlyArray<RecordedEvent>
}

/** Reads every snapshot of the session, each verified, its trade ledger and its events. */
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
  return {
    sessionId,
    snapshots: reads.reverse(),
    ledger: yield* readLedger(sessionId),
    events: yield* (yield* SessionEvents).list(sessionId)
  } satisfies ReportData
})

/** The closed trades of the trade ledger, in close order, and how many of its entries were invalid. */
export const closedTradesOf = (ledger: ReadonlyArray<LedgerRead>): { readonly closed: ReadonlyArray<LedgerEntry>; readonly invalid: number } => {
  const closed = ledger.flatMap((read) => (Result.isSuccess(read.result) ? [read.result.success] : []))
  return { closed, invalid: ledger.length - closed.length }
}

const resumesOf = (events: ReadonlyArray<RecordedEvent>) => events.filter((e) => e.kind === "resumed")

/** Where the stored history of a session begins, when retention (`cleanup`) removed what came before. */
export interface HistoryCut {
  /** The oldest snapshot still stored. */
  readonly oldestSequence: number
  readonly oldestRecordedAt: number
  /** The first loop the page shows (the oldest valid snapshot's); `null` when no snapshot left is valid. */
  readonly completeFromLoop: number | null
  /** The snapshots the recorded resumes name (restored or passed over) that are no longer stored. */
  readonly removedReferences: ReadonlyArray<number>
}

/** The sequences of the snapshots a resume event names: the one it restored and the ones it passed over. */
const referencedSequences = (event: RecordedEvent): ReadonlyArray<number> => [
  ...(event.detail.source === "snapshot" && typeof event.detail.sequence === "number" ? [event.detail.sequence] : []),
  ...(Array.isArray(event.detail.skipped)
    ? event.detail.skipped.flatMap((s: unknown) =>
      typeof s === "object" && s !== null && "sequence" in s && typeof s.sequence === "number" ? [s.sequence] : []
    )
    : [])
]

/**
 * Whether earlier history was removed by retention: a session's first snapshot is #1, and retention
 * is what removes snapshots, so an oldest stored snapshot above #1, or a resume that names a snapshot
 * no longer stored, means older rows were removed. (Resume events are kept: retention never removes them.)
 */
export const historyCut = (data: ReportData): HistoryCut | null => {
  const oldest = data.snapshots[0]
  if (oldest === undefined) return null
  const stored = new Set(data.snapshots.map((read) => read.sequence))
  const removedReferences = [...new Set(resumesOf(data.events).flatMap(referencedSequences))]
    .filter((sequence) => !stored.has(sequence))
    .sort((a, b) => a - b)
  if (oldest.sequence <= 1 && removedReferences.length === 0) return null
  const firstValid = data.snapshots.flatMap((read) => (Result.isSuccess(read.result) ? [read.result.success] : []))[0]
  return {
    oldestSequence: oldest.sequence,
    oldestRecordedAt: oldest.recordedAt,
    completeFromLoop: firstValid?.state.session.loopCount ?? null,
    removedReferences
  }
}

/** The resumes of a session, numbered as the page shows them, with how the session had ended and the tier restored from. */
export const resumeMarks = (events: ReadonlyArray<RecordedEvent>): ReadonlyArray<ResumeMark & { readonly event: RecordedEvent }> =>
  resumesOf(events).map((event, i) => ({
    event,
    number: i + 1,
    loop: event.loopCount,
    after: event.detail.after === "stop" || event.detail.after === "crash" ? event.detail.after : "unrecorded",
    tier: event.detail.source === "live" || event.detail.source === "hot" ? "live" : event.detail.source === "snapshot" ? "durable" : "unknown"
  }))

interface Column {
  readonly title: string
  readonly numeric?: boolean
  /** Long text that may wrap in a narrow window (ids, symbols and numbers never do). */
  readonly wraps?: boolean
  /** Left out in a narrow window (the note above the table says so). */
  readonly secondary?: boolean
}

const cellClass = (column: Column | undefined) => {
  const classes = [
    ...(column?.numeric === true ? ["num"] : []),
    ...(column?.wraps === true ? ["wraps"] : []),
    ...(column?.secondary === true ? ["secondary"] : [])
  ]
  return classes.length === 0 ? "" : ` class="${classes.join(" ")}"`
}

const table = (id: string, columns: ReadonlyArray<Column>, rows: ReadonlyArray<ReadonlyArray<string>>) =>
  `<div class="table-scroll"><table id="${id}"><thead><tr>${
    columns.map((c) => `<th${cellClass(c)}>${escape(c.title)}</th>`).join("")
  }</tr></thead><tbody>
${rows.map((r) => `<tr>${r.map((cell, i) => `<td${cellClass(columns[i])}>${escape(cell)}</td>`).join("")}</tr>`).join("\n")}
</tbody></table></div>`

/** A long table folded under a one-line summary: the page stays short, the rows stay one click away. */
const folded = (id: string, summary: string, content: string) =>
  `<details id="${id}"><summary>${escape(summary)}</summary>\n${content}\n</details>`

const figure = (label: string, value: string, detail: string) =>
  `<div class="figure"><div class="label">${escape(label)}</div><div class="value">${escape(value)}</div><div class="detail">${escape(detail)}</div></div>`

/** `n` and the noun, singular for one. */
export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`

const styles = `
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Liberation Sans", "DejaVu Sans", sans-serif;
         margin: 0; color: #1d1d1f; background: #fff; }
  main { max-width: 1100px; margin: 0 auto; padding: 12px 16px 32px; }
  h1 { font-size: 22px; margin: 8px 0 2px; } h2 { font-size: 17px; margin: 26px 0 4px; }
  .subtitle { margin: 0 0 8px; color: #444; }
  .note { color: #555; font-size: 13px; margin: 2px 0 8px; }
  .notice { border-left: 4px solid #b26a00; background: #fff5e0; padding: 8px 12px; margin: 10px 0; }
  .figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 8px; margin: 12px 0; }
  .figure { border: 1px solid #e3e3e3; border-radius: 6px; padding: 6px 10px; }
  .figure .label { color: #666; font-size: 12px; } .figure .value { font-size: 18px; font-weight: 600; font-variant-numeric: tabular-nums; }
  .figure .detail { color: #555; font-size: 12px; }
  .chart { display: block; width: calc(100% - 88px); margin-left: 72px; overflow: visible; font-size: ${tickFontPx}px; }
  .chart text { fill: #555; } .chart .grid { stroke: #ececec; } .chart .axis { stroke: #888; }
  .chart .axis-unit, .chart .axis-caption { fill: #333; font-size: 12px; }
  .chart .x-time { fill: #888; }
  #equity-line { fill: none; stroke: #1f5fd1; stroke-width: 2px; vector-effect: non-scaling-stroke; }
  #drawdown-area { fill: #f3c6c1; stroke: #c0392b; stroke-width: 1.5px; vector-effect: non-scaling-stroke; }
  .max-drawdown-span { fill: #c0392b; opacity: 0.08; } .max-drawdown-trough { fill: #c0392b; }
  .resume-line { stroke-width: 1.5px; } .resume-line.after-crash { stroke: #c62828; }
  .resume-line.after-stop { stroke: #546e7a; stroke-dasharray: 5 4; } .resume-line.after-unrecorded { stroke: #999; stroke-dasharray: 1 3; }
  .resume-label { font-size: ${labelFontPx}px; paint-order: stroke; stroke: #fff; stroke-width: 4px; stroke-linejoin: round; }
  .chart .resume-label.after-crash { fill: #c62828; } .chart .resume-label.after-stop { fill: #37474f; }
  .legend { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 6px 0 0 72px; font-size: 12px; color: #444; }
  .legend svg { vertical-align: middle; margin-right: 4px; }
  .table-scroll { overflow-x: auto; }
  table { border-collapse: collapse; font-size: 13px; margin: 4px 0; }
  td, th { border-bottom: 1px solid #e3e3e3; padding: 3px 10px; text-align: left; white-space: nowrap; }
  th { font-weight: 600; } .num { text-align: right; font-variant-numeric: tabular-nums; }
  details { margin: 6px 0; } summary { cursor: pointer; }
  @media (max-width: 760px) {
    main { padding: 10px 12px 24px; }
    td, th { padding: 3px 6px; } th, td.wraps { white-space: normal; }
  }
  .invalid { color: #c0392b; }
  @media (max-width: 760px) { .secondary { display: none; } }
`



/** What the page says, worked out once from the data. */
interface ReportFacts {
  readonly data: ReportData
  /** The valid snapshots, oldest first. */
  readonly valid: ReadonlyArray<Snapshot>
  readonly invalid: ReadonlyArray<SnapshotRead>
  /** The state of the newest valid snapshot. */
  readonly last: EngineState | undefined
  readonly resumes: ReturnType<typeof resumeMarks>
  readonly equity: ReadonlyArray<EquityPoint>
  readonly drawdown: Drawdown
  readonly clock: SessionClock
  readonly cut: HistoryCut | null
}

const factsOf = (data: ReportData): ReportFacts => {
  const valid = data.snapshots.flatMap((read) => (Result.isSuccess(read.result) ? [read.result.success] : []))
  const last = valid.at(-1)?.state
  const equity = valid.map(({ state }) => ({ loop: state.session.loopCount, equityUsd: state.metrics.portfolioEquityUsd }))
  return {
    data,
    valid,
    invalid: data.snapshots.filter((read) => Result.isFailure(read.result)),
    last,
    resumes: resumeMarks(data.events),
    equity,
    drawdown: drawdownOf(equity),
    clock: { startMs: last?.session.startTime ?? 0, tickMs: last?.session.market?.tickMs ?? null },
    cut: historyCut(data)
  }
}

const resumeCounts = (resumes: ReadonlyArray<ResumeMark>) =>
  `${resumes.filter((r) => r.after === "crash").length} after a crash, ${resumes.filter((r) => r.after === "stop").length} after a clean stop`

/** What a measure over the snapshots covers when retention cut the history: only what is left. */
const since = ({ cut }: ReportFacts) => (cut === null || cut.completeFromLoop === null ? "" : ` (since loop ${cut.completeFromLoop})`)

const retentionNotice = ({ cut }: ReportFacts) =>
  cut === null ? "" : `<p class="notice" id="retention">Earlier history was removed by retention (<code>cleanup</code>): the oldest snapshot still stored is
#${cut.oldestSequence}, recorded ${escape(wallClock(cut.oldestRecordedAt))} (database wall clock)${
    cut.removedReferences.length === 0
      ? ""
      : `, and the resumes below name ${plural(cut.removedReferences.length, "snapshot")} no longer stored (${cut.removedReferences.map((s) => `#${s}`).join(", ")})`
  }. ${
    cut.completeFromLoop === null
      ? "No snapshot left is valid: the page shows none of the session's history."
      : `This page is complete from loop ${cut.completeFromLoop} on; the equity curve, drawdown, trades and snapshots before it are not in it (the drawdown is measured from the highest equity since loop ${cut.completeFromLoop}).`
  }</p>`

const figures = (facts: ReportFacts) => {
  const { data, drawdown, invalid, last, resumes } = facts
  if (last === undefined) return ""
  const { metrics } = last
  const winRate = metrics.tradesClosed === 0 ? "" : ` (${Math.round((100 * metrics.winningTrades) / metrics.tradesClosed)} %)`
  return `<div class="figures">
${figure("Equity", `${usd(metrics.portfolioEquityUsd)} USD`, `from ${usd(metrics.initialCapitalUsd)} USD`)}
${figure("PnL (realized)", `${signedUsd(metrics.totalPnlUsd)} USD`, `${signedPercent(metrics.totalPnlUsd / metrics.initialCapitalUsd)} of capital`)}
${
    drawdown.max === null
      ? figure("Max drawdown", "none", `equity never fell below a peak${since(facts)}`)
      : figure("Max drawdown", `${usd(drawdown.max.usd)} USD`, `${signedPercent(drawdown.max.fraction)} from the peak${since(facts)}`)
  }
${figure("Trades", `${metrics.tradesOpened} opened`, `${metrics.tradesClosed} closed, ${metrics.winningTrades} won${winRate}`)}
${figure("Resumes", String(resumes.length), resumeCounts(resumes))}
${figure("Snapshots", String(data.snapshots.length), `${invalid.length} invalid`)}
</div>`
}

const clockNote = ({ clock }: ReportFacts) =>
  `<p class="note" id="clocks">Two clocks: loops, trade times and the charts' time axis are on the session's simulated clock${
    clock.tickMs === null ? " (its tick was not recorded)" : `: ${simulatedClock(clock.startMs)} plus loop × ${clock.tickMs / 1000} s`
  }; times marked "database wall clock" are when the database wrote the row (snapshots, resumes).
Live tier: the state written every loop (Redis, or memory); durable tier: the snapshots (PostgreSQL, or the embedded PGlite).</p>`

const legend = `<div class="legend">
<span><svg width="26" height="10"><line class="resume-line after-crash" x1="0" x2="26" y1="5" y2="5"/></svg>resumed after a crash</span>
<span><svg width="26" height="10"><line class="resume-line after-stop" x1="0" x2="26" y1="5" y2="5"/></svg>resumed after a clean stop</span>
<span>label: resume number · how the session had ended · the tier it was restored from</span>
</div>`

const equitySection = ({ clock, equity, resumes }: ReportFacts) => {
  const [first, last] = [equity[0]?.loop, equity.at(-1)?.loop]
  const drawn = resumes.filter((r) => first !== undefined && last !== undefined && r.loop >= first && r.loop <= last)
  // A resume before the history kept is not drawn at the edge, where it did not happen.
  const outside = resumes.length - drawn.length
  return `<h2>Equity (USD)</h2>
<p class="note">Realized equity (capital + PnL of closed trades) at each valid snapshot, by loop.</p>
${equityChart(equity, drawn, clock)}
${drawn.length === 0 ? "" : legend}
${outside === 0 ? "" : `<p class="note">${plural(outside, "resume")} outside the loops drawn (before the history kept), listed under Resumes.</p>`}`
}

const drawdownSection = (facts: ReportFacts) => {
  const { clock, drawdown: { max, points } } = facts
  if (max === null) return `<h2>Drawdown</h2>\n<p id="max-drawdown">Equity never fell below an earlier peak${since(facts)}.</p>`
  return `<h2>Drawdown</h2>
<p id="max-drawdown">Deepest fall ${usd(max.usd)} USD (${signedPercent(max.fraction)}): from the peak of ${usd(max.peakUsd)} USD at loop ${max.peakLoop}
to ${usd(max.troughUsd)} USD at loop ${max.troughLoop}; ${
    max.recoveredAtLoop === null ? "not made good by the last snapshot" : `made good at loop ${max.recoveredAtLoop}`
  }.</p>
<p class="note">How far equity stood below its highest point so far, in USD, at each valid snapshot.</p>
${drawdownChart(points, max, clock)}`
}

const resumesSection = ({ resumes }: ReportFacts) => {
  if (resumes.length === 0) return `<h2>Resumes</h2>\n<p>The session was never resumed.</p>`
  const rows = table("resumes", [
    { title: "#", numeric: true },
    { title: "at loop", numeric: true },
    { title: "after" },
    { title: "restored from", wraps: true },
    { title: "runner token", numeric: true },
    { title: "passed over", numeric: true },
    { title: "recorded (database wall clock)", wraps: true }
  ], resumes.map(({ after, event, number, tier }) => [
    String(number),
    String(event.loopCount),
    afterText(after),
    tier === "durable" ? `durable tier, snapshot #${String(event.detail.sequence)}` : tierName(tier),
    String(event.fencingToken),
    String(typeof event.detail.skippedCount === "number" ? event.detail.skippedCount : Array.isArray(event.detail.skipped) ? event.detail.skipped.length : 0),
    wallClock(event.recordedAt)
  ]))
  return `<h2>Resumes</h2>\n${resumes.length > 10 ? folded("resume-list", `${plural(resumes.length, "resume")}: ${resumeCounts(resumes)}`, rows) : rows}`
}

const openColumns: ReadonlyArray<Column> = [
  { title: "trade" },
  { title: "symbol" },
  { title: "legs", wraps: true },
  { title: "opened (simulated clock)", wraps: true },
  { title: "open since loop", numeric: true },
  { title: "notional USD", numeric: true }
]

const closedColumns: ReadonlyArray<Column> = [
  { title: "close", numeric: true },
  { title: "trade", secondary: true },
  { title: "symbol" },
  { title: "buy leg", wraps: true },
  { title: "sell leg", wraps: true },
  { title: "loops" },
  { title: "notional USD", numeric: true, secondary: true },
  { title: "fees USD", numeric: true },
  { title: "PnL USD", numeric: true },
  { title: "reason", wraps: true }
]

const tradesSection = ({ clock, data, last }: ReportFacts) => {
  const loopOf = (ms: number) => (clock.tickMs === null ? "?" : String(Math.round((ms - clock.startMs) / clock.tickMs)))
  const openRow = (trade: ArbitrageTrade) => [
    trade.tradeId,
    trade.symbol,
    `buy ${trade.buyLeg.venue} ${trade.buyLeg.price.toFixed(2)}, sell ${trade.sellLeg.venue} ${trade.sellLeg.price.toFixed(2)}`,
    simulatedClock(trade.openedAt),
    loopOf(trade.openedAt),
    usd(trade.notionalUsd)
  ]
  const closedRow = ({ closeNumber, trade }: LedgerEntry) => [
    `#${closeNumber}`,
    trade.tradeId,
    trade.symbol,
    `${trade.buyLeg.venue} ${trade.buyLeg.price.toFixed(2)} → ${trade.buyLegExitPrice.toFixed(2)}`,
    `${trade.sellLeg.venue} ${trade.sellLeg.price.toFixed(2)} → ${trade.sellLegExitPrice.toFixed(2)}`,
    `${loopOf(trade.openedAt)} → ${trade.closedLoop}`,
    usd(trade.notionalUsd),
    usd(trade.feesUsd),
    signedUsd(trade.realizedPnlUsd),
    trade.reason.replaceAll("_", " ")
  ]
  // The closes the last valid snapshot counts, held against the ledger as `trades` and `inspect` do.
  const audit = last === undefined ? undefined : auditOf(last, [], data.ledger, data.events)
  const closed = audit === undefined ? closedTradesOf(data.ledger).closed : audit.entries.map((found) => found.entry)
  const open = last === undefined ? [] : Object.values(last.positions.activeTrades)
  const pnl = closed.reduce((sum, entry) => sum + entry.trade.realizedPnlUsd, 0)
  const verdict = audit === undefined
    ? ""
    : audit.agrees
    ? ` The ledger agrees with the last snapshot: ${plural(audit.counted.tradesClosed, "close")}, PnL ${signedUsd(audit.counted.totalPnlUsd)} USD.`
    : audit.agreesSinceLedger?.agrees === true
    ? ` The ledger agrees with the last snapshot since it began: the first ${plural(audit.agreesSinceLedger.afterClose, "close")} (PnL ${
      signedUsd(audit.agreesSinceLedger.pnlBeforeUsd)
    } USD) were made before the session had a ledger, and every close after them is in it.`
    : ` The ledger does not agree with the last snapshot, which counts ${plural(audit.counted.tradesClosed, "close")} and PnL ${
      signedUsd(audit.counted.totalPnlUsd)
    } USD: ${
      [
        ...audit.missing.map((m) =>
          `${m.from === m.to ? `#${m.from}` : `#${m.from}–#${m.to}`} ${
            m.why === "before_ledger" ? "closed before the session had a ledger" : m.why === "retention" ? "removed by the ledger's retention" : "not found"
          }`
        ),
        ...(audit.invalid.length === 0 ? [] : [`${plural(audit.invalid.length, "entry", "entries")} failed verification`]),
        ...(audit.duplicates.length === 0 ? [] : [`${plural(audit.duplicates.length, "close")} held twice`]),
        ...(audit.abandoned === 0 ? [] : [`${plural(audit.abandoned, "entry", "entries")} of a history it does not count`])
      ].join("; ") || `their PnL sums to ${signedUsd(audit.ledger.realizedPnlUsd)} USD`
    }.`
  return `<h2>Trades</h2>
<p class="note">Closed trades come from the session's trade ledger, each with its own fees and PnL as the runner recorded them (snapshot
retention never removes them); each leg shows its venue, its entry price and the price it was unwound at; loops (opened → closed) are on the session's
simulated clock (see the note on clocks above). In a narrow window the trade id and the notional are left out.</p>
${audit === undefined ? "" : `<p id="ledger-verdict" class="${audit.agrees || audit.agreesSinceLedger?.agrees === true ? "note" : "notice"}">${escape(verdict.trim())}</p>`}
${open.length === 0 ? "" : `<p>Open at the last snapshot: ${plural(open.length, "position")}.</p>
${table("open-trades", openColumns, open.map(openRow))}`}
${
    folded(
      "trade-list",
      `${plural(closed.length, "closed trade")} in the ledger, PnL ${signedUsd(pnl)} USD, ${closed.filter((e) => e.trade.realizedPnlUsd > 0).length} won`,
      table("trades", closedColumns, closed.map(closedRow))
    )
  }`
}

/** A live session's trades in flight at its last snapshot, leg by leg (an unwinding one is an entry that lost a leg). */
const inFlightSection = ({ last }: ReportFacts) => {
  const pending = Object.values(last?.positions.pendingTrades ?? {})
  if (pending.length === 0) return ""
  const rows = pending.flatMap((trade) =>
    trade.intents.map((intent) => [
      trade.tradeId,
      trade.phase === "unwinding" ? "unwinding (an entry that lost a leg)" : trade.phase,
      intent.role.replaceAll("_", " "),
      `${intent.side} ${intent.venue}`,
      String(intent.quantity),
      String(intent.filledQuantity),
      intent.status,
      intent.clientOrderId
    ])
  )
  return `<h2>Orders in flight</h2>
<p class="note">At the last snapshot, ${plural(pending.length, "trade")} had orders at the venues, each under a client order id that cannot make a second
order; a resume looks each one up at its venue before it trades again.</p>
${
    table("in-flight", [
      { title: "trade" },
      { title: "phase", wraps: true },
      { title: "leg" },
      { title: "side, venue" },
      { title: "quantity", numeric: true },
      { title: "filled", numeric: true },
      { title: "status" },
      { title: "client order id", secondary: true }
    ], rows)
  }`
}

const riskGuardSection = ({ last }: ReportFacts) =>
  last === undefined ? "" : `<h2>Risk guard</h2>
<p>Daily loss ${usd(last.riskGuard.dailyLossUsd)} USD.</p>
${
    table("risk-guard", [
      { title: "symbol" },
      { title: "loss USD", numeric: true },
      { title: "trades allowed", numeric: true },
      { title: "trades rejected", numeric: true },
      { title: "capital used USD", numeric: true },
      { title: "positions", numeric: true }
    ], Object.entries(last.riskGuard.perSymbol).map(([symbol, r]) => [
      symbol,
      usd(r.lossUsd),
      String(r.tradesAllowed),
      String(r.tradesRejected),
      usd(r.capitalUsedUsd),
      String(r.positionCount)
    ]))
  }`

const snapshotsSection = ({ data, invalid, valid }: ReportFacts) => {
  const first = data.snapshots[0]
  const last = data.snapshots.at(-1)
  if (first === undefined || last === undefined) return `<h2>Snapshots (durable tier)</h2>\n<p>No snapshot.</p>`
  const types = new Map<string, number>()
  for (const snapshot of valid) types.set(snapshot.snapshotType, (types.get(snapshot.snapshotType) ?? 0) + 1)
  const summary = `${plural(data.snapshots.length, "snapshot")}, #${first.sequence} to #${last.sequence}, recorded ${wallClock(first.recordedAt)} to ${
    wallClock(last.recordedAt)
  }: ${invalid.length === 0 ? "all valid" : `${invalid.length} invalid`}${
    types.size === 0 ? "" : ` (${[...types].map(([type, n]) => `${n} ${type}`).join(", ")})`
  }`
  const rows = data.snapshots.map((read) => {
    const snapshot = Result.isSuccess(read.result) ? read.result.success : undefined
    return [
      `#${read.sequence}`,
      snapshot?.snapshotType ?? "?",
      snapshot === undefined ? "?" : String(snapshot.state.session.loopCount),
      snapshot?.state.session.status ?? "?",
      wallClock(read.recordedAt),
      Result.isSuccess(read.result) ? "valid" : `invalid: ${read.result.failure.message}`
    ]
  })
  return `<h2>Snapshots (durable tier)</h2>
<p class="note">"Recorded" is the database's wall clock when the snapshot was written; "loop" is where the session's simulated clock stood.</p>
${invalid.length === 0 ? "" : `<p class="invalid" id="invalid-snapshots">Invalid: ${invalid.map((read) => `#${read.sequence}`).join(", ")} (reasons in the timeline below).</p>`}
${
    folded("snapshot-timeline", summary, table("snapshots", [
      { title: "sequence" },
      { title: "type" },
      { title: "loop", numeric: true },
      { title: "status" },
      { title: "recorded (database wall clock)", wraps: true },
      { title: "verdict", wraps: true }
    ], rows))
  }`
}

/** The report as one HTML page. */
export const render = (data: ReportData): string => {
  const facts = factsOf(data)
  const { last } = facts
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Session ${escape(data.sessionId)}</title>
<style>${styles}</style></head>
<body><main>
<h1>Session ${escape(data.sessionId)}</h1>
${
    last === undefined
      ? `<p class="subtitle">No valid snapshot.</p>`
      : `<p class="subtitle" id="summary">Campaign ${escape(last.session.campaignId)} · ${last.session.mode} · status ${last.session.status}, loop ${last.session.loopCount}</p>`
  }
${retentionNotice(facts)}
${figures(facts)}
${clockNote(facts)}
${equitySection(facts)}
${drawdownSection(facts)}
${resumesSection(facts)}
${tradesSection(facts)}
${inFlightSection(facts)}
${riskGuardSection(facts)}
${snapshotsSection(facts)}
</main></body></html>
`
}
