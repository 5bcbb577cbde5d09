/**
 * Trade live through a venue, crash, resume, reconcile.
 *
 * Starts the venue simulator in this process (on a free port, its order book
 * in a temporary folder), runs a live session through it with the `Venue`
 * service (`HttpVenue`): every order's intent is durable before it is sent,
 * under a client order id that cannot make a second order. The runner then
 * "dies" right after a send, before it records the venue's answer: an order
 * in flight that the state holds as never answered; the simulator goes on
 * filling it. A resume
 * reconciles the state with the venues first (what filled meanwhile, what
 * the venues hold) and carries on; at the end the venues' positions are what
 * the state says.
 *
 *   npm run example -- live-venue
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Exit, Layer, Scope } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Campaign, EngineState, HttpVenue, Ids, LiveRunner, OrderIntent, Persistence, Reconcile, Restore, Session, VenueSimulator } from "arbitrage-state"

const upbit = Ids.Venue.make("upbit")
const binance = Ids.Venue.make("binance")
const campaign = Campaign.campaigns.aggressive!
const settings = { campaign, venues: [upbit, binance] as const, slippageBps: 30, legDeadlineMs: 5_000, loopMs: 10 }
const dataDir = mkdtempSync(join(tmpdir(), "live-venue-example-"))

const options = (mode: Session.SessionMode, sessionId?: Ids.SessionId): Session.SessionOptions => ({
  mode,
  ...(sessionId === undefined ? {} : { sessionId }),
  newState: (id) =>
    EngineState.empty({ sessionId: id, startTime: Date.now(), mode: "live", campaignId: campaign.id, initialCapitalUsd: campaign.initialCapitalUsd, symbols: campaign.symbols }),
  policy: { snapshotInterval: "1 minute" },
  lease: { ttl: "2 seconds", wait: "10 seconds" }
})

const program = Effect.gen(function*() {
  const url = yield* VenueSimulator.address
  yield* Console.log(`venue simulator at ${url}`)
  const trading = Layer.merge(Persistence.layer, HttpVenue.layer({ url }))

  // A first runner trades, and dies right after it sends an order (its fifth), before it records the
  // venue's answer: the state holds that order as intended, the venue holds it working (and fills it).
  const first = yield* Effect.gen(function*() {
    const scope = yield* Scope.make()
    const session = yield* Session.initialize(options("CLEAN_RESET")).pipe(Scope.provide(scope))
    let sends = 0
    yield* Effect.exit(LiveRunner.run(session, session.initialState, {
      settings,
      targetLoops: 2_000,
      onStage: (stage) => (stage === "after_send" && ++sends === 5 ? Effect.die("killed right after a send") : Effect.void)
    }))
    yield* Scope.close(scope, Exit.fail("killed"))
    const report = yield* Restore.run(session.sessionId)
    if (report.outcome !== "restored") return yield* Effect.die(`the session did not restore: ${report.outcome}`)
    const state = report.state
    const inFlight = Object.values(state.positions.pendingTrades ?? {}).flatMap((trade) => trade.intents).filter((intent) => !OrderIntent.isSettled(intent.status))
    yield* Console.log(`${session.sessionId}: died at loop ${state.session.loopCount} right after a send, ${state.metrics.tradesOpened} trades opened, ${state.metrics.tradesClosed} closed, ${inFlight.length} order(s) in flight at the crash`)
    return { sessionId: session.sessionId, loop: state.session.loopCount }
  }).pipe(Effect.provide(trading))

  // The resume reconciles with the venues before it trades again.
  yield* Effect.scoped(Effect.gen(function*() {
    const session = yield* Session.initialize(options("RESUME_FROM_STATE", first.sessionId))
    const plan = yield* Reconcile.plan(session.initialState, settings.venues, campaign.symbols, Date.now())
    const changed = plan.intents.filter((intent) => intent.action !== "none").length
    yield* Console.log(`resumed at loop ${session.initialState.session.loopCount}: ${changed} order(s) moved while it was down, ${plan.orphans.length} orphan(s), venues ${plan.agrees ? "agree" : "DIFFER"}`)
    const final = yield* LiveRunner.run(session, session.initialState, { settings, targetLoops: first.loop + 200, settleWithin: "20 seconds" })
    const after = yield* Reconcile.plan(final, settings.venues, campaign.symbols, Date.now())
    yield* Console.log(`stopped at loop ${final.session.loopCount}: ${final.metrics.tradesClosed} trades closed, PnL ${final.metrics.totalPnlUsd.toFixed(2)} USD; venues ${after.agrees ? "agree with the state" : "DIFFER"}`)
  })).pipe(Effect.provide(trading))
}).pipe(
  Effect.provide(VenueSimulator.layer({
    settings: { venues: [upbit, binance], seed: 5, tickMs: 20, feeBps: 2, fillSlices: 2, orderTtlMs: 30_000 },
    dataDir,
    port: 0
  })),
  Effect.ensuring(Effect.sync(() => rmSync(dataDir, { recursive: true, force: true })))
)

program.pipe(NodeRuntime.runMain)
