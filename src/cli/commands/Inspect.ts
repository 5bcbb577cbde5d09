/**
 * `sessions`, `snapshots`, `inspect`, `cleanup`: what operators look at.
 */
import { Console, Effect, Option, Result } from "effect"
import { Command, Flag } from "effect/cli"
import type { EngineState } from "../../domain/EngineState.ts"
import { audit, describeAudit } from "../../recovery/LedgerAudit.ts"
import * as Restore from "../../recovery/Restore.ts"
import { describeReport, reportToJson } from "../../recovery/RestoreReport.ts"
import { LiveStateStore } from "../../store/LiveStateStore.ts"
import * as Persistence from "../../store/Persistence.ts"
import { type HistoryCut, SnapshotStore, type SnapshotSummary } from "../../store/SnapshotStore.ts"
import { type LedgerCut, TradeLedger } from "../../store/TradeLedger.ts"
import { ExitCode } from "../ExitCode.ts"
import { withDefaultDescribed } from "../Help.ts"
import { describeTrade, jsonFlag, pendingTradeLines, sessionFlag, table } from "../Output.ts"

const iso = (ms: number) => new Date(ms).toISOString()

const summaryRow = (s: SnapshotSummary) => [
  s.sessionId,
  `#${s.sequence}`,
  s.snapshotType,
  s.status,
  String(s.loopCount),
  s.openTrades === null ? "?" : String(s.openTrades),
  iso(s.recordedAt)
]

/** `sessions`: every session of the env with its newest snapshot, and live-only ones. */
export const sessions = Command.make(
  "sessions",
  { json: jsonFlag },
  Effect.fn(function*({ json }) {
    const { durable, live } = yield* Effect.gen(function*() {
      const durable = yield* (yield* SnapshotStore).listSessions()
      const live = yield* (yield* LiveStateStore).listSessions()
      return { durable, live }
    }).pipe(Effect.provide(Persistence.layerReadOnly))
    const liveOnly = live.filter((id) => !durable.some((s) => s.sessionId === id))
    if (json) return yield* Console.log(JSON.stringify({ sessions: durable, liveOnly }))
    yield* Console.log(table(
      ["session", "latest", "type", "status", "loop", "open", "recorded"],
      [...durable.map(summaryRow), ...liveOnly.map((id) => [id, "-", "live only", "-", "-", "-", "-"])]
    ))
  })
).pipe(Command.withDescription("List the sessions of this env with their latest snapshot"))

/** `snapshots --session ID`: the newest snapshots, each checked. */
export const snapshots = Command.make(
  "snapshots",
  {
    session: sessionFlag("The session whose snapshots to list (sess_... or a D70 session_YYYYMMDD_HHMMSS)"),
    limit: Flag.Int("limit").pipe(withDefaultDescribed("At most this many snapshots, newest first", 50)),
    json: jsonFlag
  },
  Effect.fn(function*({ json, limit, session }) {
    if (limit < 1) return yield* ExitCode.fail(ExitCode.badArguments, "--limit must be at least 1")
    const { listing, reads } = yield* Effect.gen(function*() {
      const store = yield* SnapshotStore
      return { listing: yield* store.listSnapshots(session, limit), reads: yield* store.loadRecent(session, { limit }) }
    }).pipe(Effect.provide(Persistence.layerReadOnly))
    const checked = new Map(reads.map((r) => [r.snapshotId, r]))
    const rows = listing.map((s) => {
      const read = checked.get(s.snapshotId)
      return {
        ...s,
        verdict: read === undefined ? "not checked" : Result.isSuccess(read.result) ? "valid" : read.result.failure.message,
        sealKey: read?.sealKey ?? null,
        encrypted: read?.encrypted ?? false
      }
    })
    if (json) return yield* Console.log(JSON.stringify({ sessionId: session, snapshots: rows }))
    // The key each is sealed under (what a rotation waits on), and whether it is stored encrypted.
    const sealedAs = (s: (typeof rows)[number]) => `${s.sealKey ?? "none"}${s.encrypted ? " enc" : ""}`
    yield* Console.log(table(
      ["session", "seq", "type", "status", "loop", "open", "recorded", "id", "seal", "verdict"],
      rows.map((s) => [...summaryRow(s), String(s.snapshotId), sealedAs(s), s.verdict])
    ))
  })
).pipe(Command.withDescription("List a session's snapshots, newest first, each checked"))

/**
 * The runner's own sections, one line each: name, version, stored size, and the start of its JSON.
 * (Their Schemas are the runner's: this tool shows them as stored; `--json` gives them whole.)
 */
const customSectionLines = (custom: EngineState["custom"]): ReadonlyArray<string> => {
  if (custom === undefined) return []
  const entries = Object.entries(custom)
  return [
    `own sections ${entries.length}`,
    ...entries.map(([name, stored]) => {
      const { version, ...fields } = stored
      const text = JSON.stringify(fields)
      return `  ${name.padEnd(16)} v${String(version)}  ${Buffer.byteLength(text)} bytes  ${text.length > 60 ? `${text.slice(0, 57)}...` : text}`
    })
  ]
}

/** `inspect --session ID`: the freshest valid state and its trade ledger held against it, without writing anything. */
export const inspect = Command.make(
  "inspect",
  { session: sessionFlag("The session to inspect (sess_... or a D70 session_YYYYMMDD_HHMMSS)"), json: jsonFlag },
  Effect.fn(function*({ json, session }) {
    const { found, report } = yield* Effect.gen(function*() {
      const report = yield* Restore.run(session)
      return { report, found: report.outcome === "restored" ? yield* audit(report.state, report.ledgerTail) : undefined }
    }).pipe(Effect.provide(Persistence.layerReadOnly))
    // No valid state is an invalid state, as `restore` says it (exit 3).
    if (report.outcome === "unrecoverable") yield* ExitCode.set(ExitCode.invalidState)
    if (json) {
      const { entries: _entries, ...ledger } = found ?? { entries: [] }
      return yield* Console.log(JSON.stringify({ ...reportToJson(report), ledger: found === undefined ? null : ledger }))
    }
    yield* Console.log(describeReport(report))
    if (report.outcome !== "restored" || found === undefined) return
    const state = report.state
    const trades = Object.values(state.positions.activeTrades)
    yield* Console.log([
      `session   ${state.session.sessionId}  ${state.session.mode}  campaign ${state.session.campaignId}  status ${state.session.status}`,
      `started   ${iso(state.session.startTime)}  loop ${state.session.loopCount}`,
      `metrics   opened ${state.metrics.tradesOpened}  closed ${state.metrics.tradesClosed}  won ${state.metrics.winningTrades}  ` +
      `pnl ${state.metrics.totalPnlUsd.toFixed(2)}  equity ${state.metrics.portfolioEquityUsd.toFixed(2)}`,
      `risk      daily loss ${state.riskGuard.dailyLossUsd.toFixed(2)}`,
      ...Object.entries(state.riskGuard.perSymbol).map(([symbol, r]) =>
        `  ${symbol.padEnd(10)} loss ${r.lossUsd.toFixed(2)}  allowed ${r.tradesAllowed}  rejected ${r.tradesRejected}  ` +
        `capital ${r.capitalUsedUsd.toFixed(2)}  positions ${r.positionCount}`
      ),
      describeAudit(found),
      `open trades ${trades.length}`,
      ...trades.map((t) => `  ${describeTrade(t)}`),
      ...pendingTradeLines(state, "in flight   ", "  "),
      ...customSectionLines(state.custom)
    ].join("\n"))
  })
).pipe(Command.withDescription("Show the freshest valid state of a session"))

/** The longest retention `cleanup` takes, in days (a century). */
const maxRetentionDays = 36_500

/** How many snapshots the cuts take, all sessions together. */
const snapshotsIn = (cuts: ReadonlyArray<HistoryCut>): number => cuts.reduce((sum, cut) => sum + cut.removed, 0)

/** The plan or the result of a cleanup, per session, as a table and a total. */
const describeCuts = (cuts: ReadonlyArray<HistoryCut>, outcome: "removed" | "planned" | "dry run"): string => {
  if (cuts.length === 0) return "nothing to remove"
  const total = `${snapshotsIn(cuts)} snapshots of ${cuts.length} session(s)`
  return [
    table(
      ["session", "snapshots", "oldest", "newest", "up to loop"],
      cuts.map((cut) => [cut.sessionId, String(cut.removed), `#${cut.oldestSequence}`, `#${cut.newestSequence}`, String(cut.newestLoopCount)])
    ),
    outcome === "removed" ? `removed ${total}` : `would remove ${total}${outcome === "dry run" ? " (dry run: nothing was removed)" : ""}`
  ].join("\n")
}

/** How many ledger entries the cuts take. */
const entriesIn = (cuts: ReadonlyArray<LedgerCut>): number => cuts.reduce((sum, cut) => sum + cut.removed, 0)

/** The plan or the result of the ledger's retention, per session. */
const describeLedgerCuts = (cuts: ReadonlyArray<LedgerCut>, outcome: "removed" | "planned" | "dry run"): string => {
  if (cuts.length === 0) return "trade ledger: nothing to remove"
  const total = `${entriesIn(cuts)} trade ledger entries of ${cuts.length} session(s)`
  return [
    table(["session", "entries", "oldest close", "newest close"], cuts.map((cut) => [cut.sessionId, String(cut.removed), `#${cut.oldestClose}`, `#${cut.newestClose}`])),
    outcome === "removed" ? `removed ${total}` : `would remove ${total}${outcome === "dry run" ? " (dry run: nothing was removed)" : ""}`
  ].join("\n")
}

const cutsJson = (cuts: ReadonlyArray<HistoryCut>, ledgerCuts: ReadonlyArray<LedgerCut> | null, dryRun: boolean) =>
  JSON.stringify({
    dryRun,
    removed: snapshotsIn(cuts),
    sessions: cuts,
    ledger: ledgerCuts === null ? null : { removed: entriesIn(ledgerCuts), sessions: ledgerCuts }
  })

/**
 * `cleanup --days N [--ledger-days M]`: retention that never removes a session's newest valid
 * snapshot, and never the trade ledger unless `--ledger-days` asks for the ledger's own. Every snapshot
 * removed cuts the start of its session's history (the report's equity curve and resume marks
 * begin at the oldest snapshot left), so a cleanup that would remove any is refused (exit 2, what
 * it would remove printed) unless `--yes` says it is meant; `--dry-run` shows the same choice and
 * removes nothing.
 */
export const cleanup = Command.make(
  "cleanup",
  {
    days: Flag.Int("days").pipe(Flag.withDescription("Remove snapshots recorded more than this many days ago")),
    keep: Flag.Int("keep").pipe(withDefaultDescribed("Always keep this many newest snapshots of each session", 1)),
    dryRun: Flag.Boolean("dry-run").pipe(
      Flag.withDescription("Show what would be removed, per session (how many, oldest and newest sequence), and remove nothing"),
      Flag.withDefault(false)
    ),
    yes: Flag.Boolean("yes").pipe(
      Flag.withDescription(
        "Remove them: every removal cuts the start of a session's history (its report then begins at the oldest " +
          "snapshot left; the cut is recorded in the session's events), so without --yes a cleanup that would remove " +
          "anything is refused (exit 2)"
      ),
      Flag.withDefault(false)
    ),
    ledgerDays: Flag.Int("ledger-days").pipe(
      Flag.withDescription(
        "Also remove trade ledger entries recorded more than this many days ago: the ledger's own retention " +
          "(snapshot retention never touches the ledger; without this flag nothing of it is removed)"
      ),
      Flag.optional
    ),
    json: jsonFlag
  },
  Effect.fn(function*({ days, dryRun, json, keep, ledgerDays, yes }) {
    // A retention longer than a century is a typo, and past what the database's intervals hold.
    if (days < 0 || days > maxRetentionDays) return yield* ExitCode.fail(ExitCode.badArguments, `--days must be from 0 to ${maxRetentionDays}`)
    if (keep < 1) return yield* ExitCode.fail(ExitCode.badArguments, "--keep must be at least 1")
    if (Option.isSome(ledgerDays) && (ledgerDays.value < 0 || ledgerDays.value > maxRetentionDays)) {
      return yield* ExitCode.fail(ExitCode.badArguments, `--ledger-days must be from 0 to ${maxRetentionDays}`)
    }
    const removing = yes && !dryRun
    const { cuts, ledgerCuts } = yield* Effect.gen(function*() {
      const cuts = yield* (yield* SnapshotStore).cleanup({ olderThanDays: days, keepLatest: keep, dryRun: !removing })
      const ledgerCuts = Option.isNone(ledgerDays)
        ? null
        : yield* (yield* TradeLedger).cleanup({ olderThanDays: ledgerDays.value, dryRun: !removing })
      return { cuts, ledgerCuts }
    }).pipe(
      // Not read-only even for a look: the plan is a function of the schema's latest migration.
      Effect.provide(Persistence.layer)
    )
    const outcome = removing ? "removed" : dryRun ? "dry run" : "planned"
    yield* Console.log(
      json
        ? cutsJson(cuts, ledgerCuts, !removing)
        : [describeCuts(cuts, outcome), ...(ledgerCuts === null ? [] : [describeLedgerCuts(ledgerCuts, outcome)])].join("\n")
    )
    const ledgerRemoving = ledgerCuts === null ? 0 : entriesIn(ledgerCuts)
    if (!removing && !dryRun && (cuts.length > 0 || ledgerRemoving > 0)) {
      return yield* ExitCode.fail(
        ExitCode.badArguments,
        `refused: this would remove ${snapshotsIn(cuts)} snapshots of ${cuts.length} session(s), cutting the start of their history` +
          (ledgerRemoving > 0 ? `, and ${ledgerRemoving} trade ledger entries` : "") +
          `; nothing was removed (give --yes to remove them)`
      )
    }
  })
).pipe(Command.withDescription(
  "Remove snapshots older than --days N (required), never a session's newest valid one (and old trade ledger entries only with --ledger-days); shows what would go and needs --yes to remove it (--dry-run to only look)"
))
