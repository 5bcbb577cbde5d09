/**
 * `trades --session ID`: the session's closed trades, from its trade ledger,
 * held against the metrics of its freshest valid state.
 */
import { Console, Effect } from "effect"
import { Command, Flag } from "effect/cli"
import type { ClosedTrade } from "../../domain/ClosedTrade.ts"
import { type AuditedEntry, audit, describeAudit } from "../../recovery/LedgerAudit.ts"
import * as Restore from "../../recovery/Restore.ts"
import { describeReport } from "../../recovery/RestoreReport.ts"
import * as Persistence from "../../store/Persistence.ts"
import { ExitCode } from "../ExitCode.ts"
import { withDefaultDescribed } from "../Help.ts"
import { jsonFlag, sessionFlag, table } from "../Output.ts"

const price = (n: number) => n.toFixed(2)
const signed = (n: number) => `${n >= 0 ? "+" : ""}${n.toFixed(2)}`

const legs = (t: ClosedTrade) =>
  `buy ${t.buyLeg.venue} ${price(t.buyLeg.price)}→${price(t.buyLegExitPrice)}, sell ${t.sellLeg.venue} ${price(t.sellLeg.price)}→${price(t.sellLegExitPrice)}`

const row = ({ durable, entry }: AuditedEntry) => [
  `#${entry.closeNumber}`,
  entry.trade.tradeId,
  entry.trade.symbol,
  legs(entry.trade),
  entry.trade.quantity.toFixed(6),
  price(entry.trade.feesUsd),
  signed(entry.trade.realizedPnlUsd),
  entry.trade.reason,
  String(entry.trade.closedLoop),
  new Date(entry.trade.closedAt).toISOString(),
  durable ? "" : "live tail"
]

/** `trades --session ID [--limit N | --all] [--json]`: the closed trades and whether the ledger agrees with the metrics. */
export const trades = Command.make(
  "trades",
  {
    session: sessionFlag("The session whose closed trades to list (sess_... or a D70 session_YYYYMMDD_HHMMSS)"),
    limit: Flag.Int("limit").pipe(withDefaultDescribed("Show the newest this many closes (the totals count them all)", 100)),
    all: Flag.Boolean("all").pipe(Flag.withDescription("Show every close (overrides --limit)"), Flag.withDefault(false)),
    json: jsonFlag
  },
  Effect.fn(function*({ all, json, limit, session }) {
    if (limit < 1) return yield* ExitCode.fail(ExitCode.badArguments, "--limit must be at least 1")
    const { found, report } = yield* Effect.gen(function*() {
      const report = yield* Restore.run(session)
      if (report.outcome !== "restored") return { report, found: undefined }
      return { report, found: yield* audit(report.state, report.ledgerTail) }
    }).pipe(Effect.provide(Persistence.layerReadOnly))
    if (found === undefined) {
      return yield* ExitCode.fail(
        report.outcome === "fresh" ? ExitCode.badArguments : ExitCode.invalidState,
        `${describeReport(report)}: no state to hold the ledger against`
      )
    }
    const shown = all ? found.entries : found.entries.slice(-limit)
    if (json) {
      return yield* Console.log(JSON.stringify({
        sessionId: found.sessionId,
        counted: found.counted,
        ledger: found.ledger,
        agrees: found.agrees,
        ...(found.agreesSinceLedger === undefined ? {} : { agreesSinceLedger: found.agreesSinceLedger }),
        missing: found.missing,
        invalid: found.invalid,
        abandoned: found.abandoned,
        duplicates: found.duplicates,
        shown: shown.length,
        entries: shown.map(({ durable, entry, recordedAt, snapshotSequence }) => ({
          closeNumber: entry.closeNumber,
          durable,
          recordedAt,
          snapshotSequence,
          trade: entry.trade
        }))
      }))
    }
    const earlier = found.entries.length - shown.length
    yield* Console.log([
      ...(found.entries.length === 0
        ? ["no closed trades"]
        : [
          table(["close", "trade", "symbol", "legs (entry→exit)", "quantity", "fees", "PnL USD", "reason", "loop", "closed (simulated)", ""], shown.map(row)),
          ...(earlier > 0 ? [`(${earlier} earlier closes not shown: --all, or a larger --limit)`] : [])
        ]),
      describeAudit(found)
    ].join("\n"))
  })
).pipe(Command.withDescription("List a session's closed trades from its trade ledger, and check them against its metrics"))
