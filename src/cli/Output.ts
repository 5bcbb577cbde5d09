/**
 * Output: how CLI commands print. Text for people, one JSON document for
 * scripts; data goes to stdout, logs and failures to stderr.
 */
import { Effect, Option } from "effect"
import { Flag } from "effect/cli"
import type { ArbitrageTrade } from "../domain/ArbitrageTrade.ts"
import type { EngineState } from "../domain/EngineState.ts"
import type { PendingTrade } from "../domain/OrderIntent.ts"
import { SessionId } from "../domain/Ids.ts"
import { defaultScanBudgetBytes } from "../recovery/Restore.ts"
import { ExitCode } from "./ExitCode.ts"

/** The shared `--json` flag. */
export const jsonFlag = Flag.Boolean("json").pipe(Flag.withDescription("Print machine-readable JSON"), Flag.withDefault(false))

/** The `--session ID` flag, described for its command: a session id (`sess_...`), checked before anything runs. */
export const sessionFlag = (description: string) =>
  Flag.String("session").pipe(Flag.withDescription(description), Flag.withMetavar("ID"), Flag.withSchema(SessionId))

/** The shared `--scan-budget-mb` flag: how much a restore may read looking back for a valid snapshot. */
export const scanBudgetFlag = Flag.Int("scan-budget-mb").pipe(
  Flag.withDescription(
    `MiB of stored snapshots a restore may read looking back for a valid one (default: ${defaultScanBudgetBytes / 1024 / 1024})`
  ),
  Flag.optional
)

/** The restore option `--scan-budget-mb` asks for; at least 1. */
export const scanBudgetOf = (megabytes: Option.Option<number>) =>
  Option.match(megabytes, {
    onNone: () => Effect.succeed({}),
    onSome: (mb) =>
      mb < 1
        ? ExitCode.fail(ExitCode.badArguments, "--scan-budget-mb must be at least 1")
        : Effect.succeed({ scanBudgetBytes: mb * 1024 * 1024 })
  })

/** Writes `text` on the current terminal line, replacing what was there (a live status line). */
export const statusLine = (text: string) =>
  Effect.sync(() => {
    process.stdout.write(`\r\x1b[2K${text}`)
  })

/** Ends a live status line. */
export const endStatusLine = Effect.sync(() => {
  process.stdout.write("\n")
})

/** Whether stdout is a terminal a person watches. */
export const isTerminal = (): boolean => process.stdout.isTTY === true

/** An open trade on one line: symbol, both legs (venue, quantity, price), entry spread, when it opened. */
export const describeTrade = (t: ArbitrageTrade): string =>
  `${t.tradeId} ${t.symbol}  buy ${t.buyLeg.quantity.toFixed(6)} on ${t.buyLeg.venue} @ ${t.buyLeg.price.toFixed(2)}  ` +
  `sell on ${t.sellLeg.venue} @ ${t.sellLeg.price.toFixed(2)}  spread ${t.entrySpreadBps.toFixed(1)} bps  opened ${new Date(t.openedAt).toISOString()}`

/** A trade in flight on one line: its phase and each leg's order (role, side, filled of quantity, venue, status). */
export const describePendingTrade = (t: PendingTrade): string =>
  `${t.tradeId} ${t.symbol}  ${t.phase === "unwinding" ? "unwinding (an entry that lost a leg)" : t.phase}  ` +
  t.intents.map((i) => `${i.role === "unwind" ? `unwind ${i.side}` : i.role.replaceAll("_", " ")} ${i.filledQuantity.toFixed(6)}/${i.quantity.toFixed(6)} on ${i.venue} ${i.status}`).join(", ")

/** A state's trades in flight, when it has any: a count and one line each, indented by `indent`. */
export const pendingTradeLines = (state: EngineState, label: string, indent: string): ReadonlyArray<string> => {
  const pending = Object.values(state.positions.pendingTrades ?? {})
  if (pending.length === 0) return []
  return [`${label}${pending.length} trade(s) with orders at the venues (a resume looks each one up before it trades)`, ...pending.map((t) => `${indent}${describePendingTrade(t)}`)]
}

/** A table of rows as aligned text. */
export const table = (head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)))
  return [head, ...rows].map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n")
}
