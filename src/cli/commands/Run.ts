/**
 * `run`: runs the paper arbitrage runner on a session until its loop count
 * reaches `--loops`, persisting as it goes, and says how it went (see
 * `RunProgress.ts`).
 */
import { Clock, Console, Duration, Effect, Layer, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { crashPointConfig, persistenceConfig } from "../../config.ts"
import * as EngineState from "../../domain/EngineState.ts"
import type { Venue as VenueName } from "../../domain/Ids.ts"
import * as Reconcile from "../../orders/Reconcile.ts"
import { crashAt } from "../../runner/CrashPoint.ts"
import * as LiveRunner from "../../runner/LiveRunner.ts"
import * as HttpVenue from "../../venue/HttpVenue.ts"
import { Venue } from "../../venue/Venue.ts"
import { encodeEngineState } from "../../domain/StateCodec.ts"
import { describeReport } from "../../recovery/RestoreReport.ts"
import { type LoopEvents, newSessionState, simulatedStart } from "../../runner/ArbitrageStrategy.ts"
import { campaignOf, PlanRefused, planFor, withRecordedMarket } from "../../runner/TradingPlan.ts"
import * as Runner from "../../runner/Runner.ts"
import * as Session from "../../session/Session.ts"
import * as Persistence from "../../store/Persistence.ts"
import type { SnapshotSummary } from "../../store/SnapshotStore.ts"
import { ExitCode } from "../ExitCode.ts"
import { withDefaultDescribed } from "../Help.ts"
import { endStatusLine, isTerminal, jsonFlag, scanBudgetFlag, scanBudgetOf, sessionFlag, statusLine } from "../Output.ts"
import { checkLoopsAndTick, chooseSeed, newSessionFlags, venuesOfFlag, venueUrlOf } from "../RunFlags.ts"
import { leaseWaitLine, progressMeter, snapshotLabel, statusText, summaryLines } from "../RunProgress.ts"
import { reportStop } from "../SessionStop.ts"

const modes = { clean: "CLEAN_RESET", resume: "RESUME_FROM_STATE", auto: "AUTO" } as const

/** The shortest time between two redraws of the terminal's status line: a fast run would otherwise flood it. */
const redrawMs = 100

/** The state as printed: its stored (versioned) JSON form. */
const stateJson = (state: EngineState.EngineState) => JSON.stringify(encodeEngineState(state).pipe((r) => (r._tag === "Success" ? r.success : null)))

/** How long a live run keeps asking venues that do not answer at its start (a restart of theirs) before it gives up. */
const venueConnectWait = "15 seconds"

/** The campaign a live session trades: the one it recorded (a request for another is refused). */
const liveCampaignOf = (state: EngineState.EngineState, requested: string | undefined) =>
  Effect.gen(function*() {
    const campaign = yield* campaignOf(state.session.sessionId, state.session.campaignId)
    if (requested !== undefined && requested !== campaign.id) {
      return yield* new PlanRefused({ sessionId: state.session.sessionId, message: `${state.session.sessionId} trades campaign ${campaign.id}, not ${requested}` })
    }
    if (state.session.mode !== "live") {
      return yield* new PlanRefused({ sessionId: state.session.sessionId, message: `${state.session.sessionId} is a paper session: it cannot trade live (--venue-url)` })
    }
    return campaign
  })

/** The first two of `venues`, each one the server at `url` (as shown) offers; a usage error (exit 2) otherwise. */
const servedVenues = (venues: ReadonlyArray<VenueName>, offered: ReadonlyArray<VenueName>, url: string) => {
  if (venues.length < 2) return ExitCode.fail(ExitCode.badArguments, `${url} offers ${venues.length} venue(s): a live session trades between two`)
  const missing = venues.slice(0, 2).filter((name) => !offered.some((o) => o.toLowerCase() === name.toLowerCase()))
  return missing.length > 0
    ? ExitCode.fail(ExitCode.badArguments, `${url} offers ${offered.join(", ") || "no venue"}, not ${missing.join(" or ")}`)
    : Effect.succeed([venues[0]!, venues[1]!] as const)
}

/**
 * The two venues a live session trades: those its baseline recorded (`--venues` naming others is
 * refused), else those `--venues` names, else the first two the server offers.
 */
const liveVenuesOf = (
  state: EngineState.EngineState,
  requested: readonly [VenueName, VenueName] | undefined,
  offered: ReadonlyArray<VenueName>,
  url: string
) => {
  const recorded = Object.keys(state.positions.venueBaseline ?? {}).sort() as Array<VenueName>
  const key = (names: ReadonlyArray<string>) => names.map((name) => name.toLowerCase()).sort().join(",")
  if (recorded.length >= 2 && requested !== undefined && key(requested) !== key(recorded)) {
    return ExitCode.fail(ExitCode.badArguments, `${state.session.sessionId} trades on ${recorded.join(" and ")}, not ${requested.join(" and ")} (--venues)`)
  }
  return servedVenues(recorded.length >= 2 ? recorded : requested ?? offered, offered, url)
}

/** `run`: the paper runner on a session until its loop count reaches --loops; exit 5 if another runner holds it. */
export const run = Command.make(
  "run",
  {
    session: sessionFlag(
      "The session (sess_... or a D70 session_YYYYMMDD_HHMMSS); without it, --mode clean starts a new one under a new id, and auto resumes the newest " +
        "interrupted session or else starts a new one"
    ).pipe(Flag.optional),
    mode: Flag.Literals("mode", ["clean", "resume", "auto"]).pipe(
      Flag.withMetavar("clean|resume|auto"),
      withDefaultDescribed(
        "clean: start a new session; resume: continue --session from its freshest valid state; " +
          "auto: resume --session (or the newest interrupted session) if it has state, else start a new one",
        "auto"
      )
    ),
    loops: Flag.Int("loops").pipe(
      Flag.withDescription("Run until the session's loop count reaches this (a resumed session counts on from where it was)")
    ),
    ...newSessionFlags("chosen at random and printed"),
    // How `supervise` hands the seed it chose to every runner it starts: unlike --seed, it never
    // contradicts a session that exists already. Plumbing between the two commands, not for operators.
    seedIfNew: Flag.Int("seed-if-new").pipe(
      Flag.withDescription("Seed of the market feed if this run starts a new session; a resumed session trades its own"),
      Flag.withHidden,
      Flag.optional
    ),
    waitLease: Flag.Int("wait-lease").pipe(
      withDefaultDescribed("Seconds to wait for another runner's lease to expire (after a crash) before giving up (exit 5)", 0)
    ),
    scanBudgetMb: scanBudgetFlag,
    statusEvery: Flag.Int("status-every").pipe(
      withDefaultDescribed("When stdout is not a terminal, print a status line every N loops; 0: none", 0)
    ),
    venueUrl: Flag.String("venue-url").pipe(
      Flag.withMetavar("URL"),
      Flag.withDescription(
        "Trade live through the venue simulator (or a venue adapter's server) at URL instead of the paper feed: orders by " +
          "client order id, intents durable before they are sent, reconciled with the venues on resume (a new session is mode live); " +
          "venues that do not answer at the start are asked again for 15 s"
      ),
      Flag.optional
    ),
    loopMs: Flag.Int("loop-ms").pipe(withDefaultDescribed("With --venue-url: real milliseconds between loops", 100)),
    settleWait: Flag.Int("settle-wait").pipe(
      withDefaultDescribed(
        "With --venue-url: at --loops, seconds to go on following the trades in flight (deciding nothing new) so that none is " +
          "left one-legged; 0: stop at once (a resume follows them)",
        30
      )
    ),
    json: jsonFlag
  },
  Effect.fn(function*(args) {
    const seedArg = Option.getOrUndefined(args.seed)
    const tickArg = Option.getOrUndefined(args.tickMs)
    const venuesArg = yield* venuesOfFlag(args.venues)
    const marketArg = seedArg === undefined ? undefined : { seed: seedArg, tickMs: tickArg ?? 1000 }
    // A new session trades the seed given, or the supervisor's, or one chosen here (said when it starts).
    const seedChosen = seedArg === undefined && Option.isNone(args.seedIfNew)
    const marketForNew = {
      seed: seedArg ?? Option.getOrElse(args.seedIfNew, chooseSeed),
      tickMs: tickArg ?? 1000,
      ...(venuesArg === undefined ? {} : { venues: venuesArg })
    }
    // The tick the flags give (a new session's); a resumed session's own is read with its state.
    yield* checkLoopsAndTick(args.loops, tickArg ?? marketArg?.tickMs)
    if (args.mode === "resume" && Option.isNone(args.session)) {
      return yield* ExitCode.fail(ExitCode.badArguments, "--mode resume needs --session ID: the session to resume (auto, the default, finds an interrupted one)")
    }
    if (args.waitLease < 0) return yield* ExitCode.fail(ExitCode.badArguments, "--wait-lease must be at least 0")
    if (args.statusEvery < 0) return yield* ExitCode.fail(ExitCode.badArguments, "--status-every must be at least 0")
    if (args.settleWait < 0) return yield* ExitCode.fail(ExitCode.badArguments, "--settle-wait must be at least 0")
    const venueUrl = Option.isSome(args.venueUrl) ? yield* venueUrlOf(args.venueUrl.value) : undefined
    if (venueUrl !== undefined && (seedArg !== undefined || tickArg !== undefined)) {
      return yield* ExitCode.fail(ExitCode.badArguments, "--seed and --tick-ms set the paper feed's market: a live run (--venue-url) trades the venues'")
    }
    const requested = Option.getOrUndefined(args.campaign)
    const campaignForNew = yield* campaignOf("(new session)", requested ?? "balanced")
    const config = yield* persistenceConfig
    const scanBudget = yield* scanBudgetOf(args.scanBudgetMb)
    /** What a session trades, as this run's flags allow (see `TradingPlan`). */
    const plan = (state: EngineState.EngineState, origin: Session.SessionOrigin) =>
      planFor(state, origin.kind === "clean", {
        campaign: requested,
        seed: seedArg,
        tickMs: tickArg,
        venues: venuesArg,
        marketForNew,
        targetLoops: args.loops
      })
    // Session time is simulated (start + loop x tick) with or without --pace, so that a paced run and
    // an unpaced one with the same seed trade identically.
    const startTime = simulatedStart

    // On a terminal (and not --json), a status line redrawn in place; it is ended before the summary.
    const live = isTerminal() && !args.json
    let statusShown = false
    /** The session's last durable snapshot, once there is a session. */
    let lastSnapshot: Effect.Effect<Option.Option<SnapshotSummary>> = Effect.succeedNone
    /** The summary, told how the stop was recorded: after the shutdown snapshot, on a normal end and on a signal alike. */
    /** The state the session stopped at, as its stop was recorded (stopped), or not (as the runner left it). */
    let stoppedAt: EngineState.EngineState | undefined
    let startLoop: number | undefined
    const summarize = (outcome: Session.ShutdownOutcome) =>
      Effect.gen(function*() {
        stoppedAt = outcome.state
        yield* reportStop(outcome)
        if (statusShown) yield* endStatusLine
        const storeVariables = [
          ...(Option.isSome(config.databaseUrl) ? ["DATABASE_URL"] : []),
          ...(config.redisClusterNodes.length > 0 ? ["REDIS_CLUSTER_NODES"] : Option.isSome(config.redisUrl) ? ["REDIS_URL"] : []),
          // A run without the keys its session is sealed with restores nothing of it.
          ...Option.match(config.protection, {
            onNone: () => [],
            onSome: (protection) => [protection.source ?? "STATE_KEYS", ...(protection.encrypt ? ["STATE_ENCRYPTION"] : [])]
          })
        ]
        const lines = summaryLines(outcome, {
          target: args.loops,
          lastSnapshot: yield* lastSnapshot,
          env: config.env,
          storeVariables,
          ...(venueUrl === undefined ? {} : { venueUrl: venueUrl.shown }),
          ...(startLoop === undefined ? {} : { startLoop })
        })
          .join("\n")
        // With --json, stdout is for the final state only.
        yield* args.json ? Console.error(lines) : Console.log(lines)
      })

    /** A status line (JSON with --json) every --status-every loops when stdout is not a terminal. */
    const statusLineOf = (state: EngineState.EngineState, session: Session.ActiveSession) =>
      Effect.gen(function*() {
        const last = yield* session.lastSnapshot
        return args.json
          ? JSON.stringify({
            loop: state.session.loopCount,
            targetLoops: args.loops,
            openTrades: Object.keys(state.positions.activeTrades).length,
            tradesOpened: state.metrics.tradesOpened,
            pnlUsd: state.metrics.totalPnlUsd,
            fencingToken: session.lease.fencingToken,
            lastSnapshot: Option.match(last, {
              onNone: () => null,
              onSome: (s) => ({ sequence: s.sequence, snapshotType: s.snapshotType, loopCount: s.loopCount })
            })
          })
          : statusText(state, args.loops, snapshotLabel(last))
      })

    if (venueUrl !== undefined) {
      if (args.loopMs < 1) return yield* ExitCode.fail(ExitCode.badArguments, "--loop-ms must be at least 1")
      const { shown, url } = venueUrl
      const crash = crashAt(Option.getOrUndefined(yield* crashPointConfig))
      yield* Effect.gen(function*() {
        const venue = yield* Venue
        // What the server cannot trade is refused before a session is started or taken over.
        yield* servedVenues(venuesArg ?? venue.venues, venue.venues, shown)
        const session = yield* Session.initialize({
          mode: modes[args.mode],
          ...(Option.isSome(args.session) ? { sessionId: args.session.value } : {}),
          newState: (sessionId) =>
            EngineState.empty({
              sessionId,
              startTime: Date.now(),
              mode: "live",
              campaignId: campaignForNew.id,
              initialCapitalUsd: campaignForNew.initialCapitalUsd,
              symbols: campaignForNew.symbols
            }),
          policy: { snapshotInterval: config.snapshotInterval, ...scanBudget },
          lease: {
            ttl: config.leaseTtl,
            wait: Duration.seconds(args.waitLease),
            onWait: (held) => Console.error(leaseWaitLine(held, args.waitLease))
          },
          admit: (state) => Effect.asVoid(liveCampaignOf(state, requested)),
          onShutdown: summarize
        })
        lastSnapshot = session.lastSnapshot
        startLoop = session.initialState.session.loopCount
        const campaign = yield* liveCampaignOf(session.initialState, requested)
        const venues = yield* liveVenuesOf(session.initialState, venuesArg, venue.venues, shown)
        if (session.origin.kind === "resumed") yield* Console.error(describeReport(session.origin.report))
        else yield* Console.error(`started ${session.sessionId} (campaign ${campaign.id}, live on ${venues.join(" and ")} at ${shown})`)
        let lastPlan: Reconcile.ReconcilePlan | undefined
        return yield* LiveRunner.run(session, session.initialState, {
          settings: { campaign, venues, slippageBps: 30, legDeadlineMs: 5_000, loopMs: args.loopMs },
          targetLoops: args.loops,
          settleWithin: Duration.seconds(args.settleWait),
          onStage: (stage) => crash(stage),
          // Said after each reconciliation that finds the venues differing (the one at the start too, whether or
          // not a loop follows; a retry of one that could not finish only when its reason changed), and once when
          // they agree again.
          onReconciled: (reconciled) =>
            Effect.gen(function*() {
              const text = Reconcile.describePlan(reconciled).join("; ")
              if (reconciled.unfinished !== undefined) {
                if (lastPlan?.unfinished !== reconciled.unfinished) yield* Console.error(`${session.sessionId}: ${text}`)
              } else if (!reconciled.agrees) {
                yield* Console.error(`${session.sessionId}: the venues differ from the state; no new trades: ${text}`)
              } else if (lastPlan !== undefined && !lastPlan.agrees) {
                yield* Console.error(`${session.sessionId}: the venues agree with the state again; new trades allowed`)
              }
              lastPlan = reconciled
            }),
          onLoop: (state) =>
            args.statusEvery > 0 && state.session.loopCount % args.statusEvery === 0
              ? Effect.flatMap(statusLineOf(state, session), Console.log)
              : Effect.void
        })
      }).pipe(Effect.scoped, Effect.provide(Layer.merge(Persistence.layer, HttpVenue.layer({ url, connectWait: venueConnectWait }))), Effect.catchTag("VenueError", (error) =>
        ExitCode.fail(ExitCode.storeUnreachable, `the venues at ${shown}: ${error.message}`)))
      if (args.json && stoppedAt !== undefined) yield* Console.log(stateJson(stoppedAt))
      return
    }

    yield* Effect.gen(function*() {
      const session = yield* Session.initialize({
        mode: modes[args.mode],
        ...(Option.isSome(args.session) ? { sessionId: args.session.value } : {}),
        newState: (sessionId) => newSessionState({ sessionId, campaign: campaignForNew, startTime, market: marketForNew }),
        policy: { snapshotInterval: config.snapshotInterval, ...scanBudget },
        lease: {
          ttl: config.leaseTtl,
          wait: Duration.seconds(args.waitLease),
          onWait: (held) => Console.error(leaseWaitLine(held, args.waitLease))
        },
        // Checked before the session writes anything: a session this run cannot trade is left as it was.
        admit: (state, origin) => Effect.asVoid(plan(state, origin)),
        onShutdown: summarize
      })
      lastSnapshot = session.lastSnapshot
      startLoop = session.initialState.session.loopCount
      const { campaign, market } = yield* plan(session.initialState, session.origin)
      if (session.origin.kind === "resumed") yield* Console.error(describeReport(session.origin.report))
      else yield* Console.error(`started ${session.sessionId} (campaign ${campaign.id}, seed ${market.seed}${seedChosen ? " chosen" : ""})`)

      const meter = progressMeter(args.loops)
      let drawnAt = -Infinity
      const onLoop = (state: EngineState.EngineState, _events: LoopEvents) =>
        Effect.gen(function*() {
          const loop = state.session.loopCount
          if (live) {
            const now = yield* Clock.currentTimeMillis
            const progress = meter(loop, now)
            if (now - drawnAt < redrawMs && loop < args.loops) return
            drawnAt = now
            const health = yield* session.health
            const degraded = [
              health.liveTier === "degraded" ? "  LIVE TIER DEGRADED" : "",
              health.durableTier === "degraded" ? `  DURABLE TIER DOWN (${health.pendingSnapshot} snapshot pending, no new trades)` : ""
            ].join("")
            yield* statusLine(statusText(state, args.loops, snapshotLabel(yield* session.lastSnapshot), progress) + degraded)
            statusShown = true
          } else if (args.statusEvery > 0 && loop % args.statusEvery === 0) {
            yield* Console.log(yield* statusLineOf(state, session))
          }
        })
      return yield* Runner.run(session, withRecordedMarket(session.initialState, { campaign, market }), {
        campaign,
        market,
        targetLoops: args.loops,
        pace: args.pace,
        onLoop
      })
    }).pipe(Effect.scoped, Effect.provide(Persistence.layer))

    // The state the session stopped at; the summary said the rest.
    if (args.json && stoppedAt !== undefined) yield* Console.log(stateJson(stoppedAt))
  })
).pipe(Command.withDescription("Run a session (clean, resume or auto): the paper arbitrage runner, or live through venues (--venue-url)"))
