/**
 * RunProgress: what `run` tells its operator while it runs and when it ends.
 *
 * A status line (on a terminal: the target, how far along, the rate and
 * when it will be done; in a log: every `--status-every` loops), a line when
 * the runner starts waiting for a dead runner's lease (or it would sit
 * silent until the lease expires), and a summary at the end, printed after
 * the shutdown snapshot was or was not recorded, normal end and signal
 * alike: where the session stopped, what is open, which snapshot holds it,
 * and the command that carries it on.
 */
import { Option } from "effect"
import type { EngineState } from "../domain/EngineState.ts"
import type { ShutdownOutcome } from "../session/Session.ts"
import type { SessionHeld } from "../store/SessionLease.ts"
import type { SnapshotSummary } from "../store/SnapshotStore.ts"
import { ExitCode } from "./ExitCode.ts"
import { describeTrade, pendingTradeLines } from "./Output.ts"

/** How far a run is, and at what pace: rate and ETA are unknown until time has passed. */
export interface Progress {
  readonly percent: number
  readonly loopsPerSecond: number | null
  readonly etaSeconds: number | null
}

/** How long the rate is measured over: long enough to smooth a snapshot's pause, short enough to follow a change of pace. */
const rateWindowMs = 5_000

/**
 * A meter of a run towards `target`: fed each loop with the time (epoch ms), it gives the percent
 * done, the loops per second over the last few seconds, and the time left at that rate.
 */
export const progressMeter = (target: number) => {
  const samples: Array<{ readonly at: number; readonly loop: number }> = []
  return (loop: number, now: number): Progress => {
    samples.push({ at: now, loop })
    while (samples.length > 2 && now - samples[1]!.at >= rateWindowMs) samples.shift()
    const first = samples[0]!
    const seconds = (now - first.at) / 1000
    const loopsPerSecond = seconds > 0 ? (loop - first.loop) / seconds : null
    const left = Math.max(0, target - loop)
    return {
      percent: target <= 0 ? 100 : Math.min(100, (loop / target) * 100),
      loopsPerSecond,
      etaSeconds: left === 0 ? 0 : loopsPerSecond !== null && loopsPerSecond > 0 ? left / loopsPerSecond : null
    }
  }
}

/** `seconds` as an operator reads a time left: `45s`, `3m 05s`, `2h 03m`. */
export const formatDuration = (seconds: number): string => {
  const whole = Math.ceil(seconds)
  if (whole < 60) return `${whole}s`
  const pad = (n: number) => String(n).padStart(2, "0")
  if (whole < 3600) return `${Math.floor(whole / 60)}m ${pad(whole % 60)}s`
  return `${Math.floor(whole / 3600)}h ${pad(Math.floor((whole % 3600) / 60))}m`
}

/** A snapshot as the status line names it: `#218 trade`. */
export const snapshotLabel = (snapshot: Option.Option<Pick<SnapshotSummary, "sequence" | "snapshotType">>): string =>
  Option.match(snapshot, { onNone: () => "none", onSome: (s) => `#${s.sequence} ${s.snapshotType}` })

const openTrades = (state: EngineState) => Object.values(state.positions.activeTrades)

/**
 * The status line of a run towards `target`: with `progress`, the rate and the time left (on a
 * terminal); without, what a log line needs.
 */
export const statusText = (state: EngineState, target: number, lastSnapshot: string, progress?: Progress): string => {
  const loop = state.session.loopCount
  const percent = target <= 0 ? 100 : Math.min(100, (loop / target) * 100)
  const pace = progress === undefined
    ? []
    : [
      progress.loopsPerSecond === null ? "- loops/s" : `${progress.loopsPerSecond.toFixed(progress.loopsPerSecond >= 10 ? 0 : 1)} loops/s`,
      `ETA ${progress.etaSeconds === null ? "-" : formatDuration(progress.etaSeconds)}`
    ]
  return [
    `loop ${loop}/${target} ${percent.toFixed(1)}%`,
    ...pace,
    `open ${openTrades(state).length}`,
    `pnl ${state.metrics.totalPnlUsd.toFixed(2)}`,
    `equity ${state.metrics.portfolioEquityUsd.toFixed(2)}`,
    `last snapshot ${lastSnapshot}`
  ].join("  ")
}

/** The line a runner prints once when it starts waiting for a lease another runner holds. */
export const leaseWaitLine = (held: SessionHeld, waitSeconds: number): string =>
  `waiting for the lease of ${held.sessionId} held by ${held.holder} until ${new Date(held.expiresAt).toISOString()} ` +
  `(a dead runner's lease expires then; giving up after ${waitSeconds} s)`

/** The command that runs `sessionId` on to loop `loops`, in the env it runs in. */
export const resumeCommand = (sessionId: string, loops: number, env: string, venueUrl?: string): string =>
  `${env === "dev" ? "" : `STATE_ENV=${env} `}${ExitCode.invocation} run --mode resume --session ${sessionId} --loops ${loops}${
    venueUrl === undefined ? "" : ` --venue-url ${venueUrl}`
  }`

/** How many open trades the summary lists before it only counts the rest. */
const listedTrades = 10

/**
 * The end of a run towards `target`, once its stop is known: the loop it stopped at, its open
 * positions, its PnL, the snapshot that holds it (the shutdown snapshot, when recorded), and the
 * command to carry on with (none when another runner took the session over). `lastSnapshot` is
 * the last one the session wrote, for when the stop was not recorded.
 */
export const summaryLines = (
  outcome: ShutdownOutcome,
  options: {
    readonly target: number
    readonly lastSnapshot: Option.Option<SnapshotSummary>
    readonly env: string
    /** The variables that name the stores this run used (their values are secrets, never printed). */
    readonly storeVariables?: ReadonlyArray<string>
    /** The venues a live run traded through (the command to go on names them too). */
    readonly venueUrl?: string
    /** The loop the run started from, when it got that far. */
    readonly startLoop?: number
  }
): ReadonlyArray<string> => {
  const { state } = outcome
  const sessionId = state.session.sessionId
  const loop = state.session.loopCount
  const trades = openTrades(state)
  const reached = loop >= options.target
  // Stopped at or past its target with trades in flight (settling gave up, or was not asked for).
  const inFlight = reached ? Object.keys(state.positions.pendingTrades ?? {}).length : 0
  const snapshot = outcome.kind === "recorded"
    ? `#${outcome.sequence} shutdown: the stop is recorded`
    : outcome.kind === "not_recorded"
    ? `${snapshotLabel(options.lastSnapshot)} is the last one: the stop could not be recorded (${outcome.error.message}); the session stays running`
    : outcome.reason === "fenced"
    ? `${snapshotLabel(options.lastSnapshot)}; another runner took the session over, and this one wrote nothing more`
    : `${snapshotLabel(options.lastSnapshot)}; the run failed, and the session stays running for a resume`
  const next = outcome.kind === "left_running" && outcome.reason === "fenced"
    ? []
    : inFlight > 0
    ? [`  settle     ${resumeCommand(sessionId, loop, options.env, options.venueUrl)}  (follows them, decides nothing new)`]
    : reached
    ? [`  go on      ${resumeCommand(sessionId, Math.max(2 * options.target, 1000), options.env, options.venueUrl)}`]
    : [`  resume     ${resumeCommand(sessionId, options.target, options.env, options.venueUrl)}`]
  const stores = options.storeVariables ?? []
  const listed = stores.length <= 1 ? stores.join("") : `${stores.slice(0, -1).join(", ")} and ${stores.at(-1)}`
  const where = next.length === 0 || stores.length === 0 ? [] : [`             with ${listed} set as for this run (the session is in those stores)`]
  return [
    inFlight > 0
      ? `${sessionId} stopped at loop ${loop} (its target ${options.target}) with ${inFlight} trade(s) still in flight: resume it to follow them`
      : reached
      ? loop > options.target && options.startLoop !== undefined && options.startLoop >= options.target
        ? `${sessionId} was at loop ${loop} already, past its target ${options.target}: no loop was run`
        : `${sessionId} reached loop ${loop} (${loop > options.target ? `its target ${options.target}, then followed its trades in flight` : "its target"})`
      : `${sessionId} stopped at loop ${loop} of ${options.target}`,
    `  open       ${trades.length === 0 ? "no positions" : `${trades.length} position(s)`}`,
    ...trades.slice(0, listedTrades).map((trade) => `    ${describeTrade(trade)}`),
    ...(trades.length > listedTrades ? [`    and ${trades.length - listedTrades} more`] : []),
    ...pendingTradeLines(state, "  in flight  ", "    "),
    `  pnl        ${state.metrics.totalPnlUsd.toFixed(2)}  equity ${state.metrics.portfolioEquityUsd.toFixed(2)}`,
    `  snapshot   ${snapshot}`,
    ...next,
    ...where
  ]
}
