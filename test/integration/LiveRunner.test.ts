/**
 * The live runner against the venue simulator (its own process) on the real
 * Redis and PostgreSQL: it opens and closes trades through orders, unwinds an
 * entry a venue rejects, resumes a session whose runner stopped with orders
 * in flight (a leg cancelled by the venue meanwhile, the other filled; a leg
 * filled in part and then cancelled), and refuses to open trades while a
 * venue holds a position the state does not account for, naming it.
 */
import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Exit, Layer, Ref, Scope } from "effect"
import { randomInt } from "node:crypto"
import { EngineState } from "../../src/index.ts"
import { CampaignId, MarketSymbol, SessionId, Venue as VenueName } from "../../src/domain/Ids.ts"
import type { LiveSettings } from "../../src/orders/LiveTrades.ts"
import { campaigns } from "../../src/runner/Campaign.ts"
import * as Reconcile from "../../src/orders/Reconcile.ts"
import * as Restore from "../../src/recovery/Restore.ts"
import * as LiveRunner from "../../src/runner/LiveRunner.ts"
import * as Session from "../../src/session/Session.ts"
import * as HttpVenue from "../../src/venue/HttpVenue.ts"
import { Venue, VenueError } from "../../src/venue/Venue.ts"
import { postgresSnapshots, redisLive } from "../support/Backings.ts"
import { assertStateMatchesVenues } from "../support/LiveChecks.ts"
import { uniqueEnv } from "../support/Services.ts"
import { type RunningSimulator, startSimulator } from "../support/VenueSimulator.ts"
import { eventually } from "../contract/VenueContract.ts"

const upbit = VenueName.make("upbit")
const binance = VenueName.make("binance")
const campaign = { ...campaigns.aggressive!, id: CampaignId.make("live"), entryThresholdBps: 8, maxHoldLoops: 30 }
const settings: LiveSettings = { campaign, venues: [upbit, binance], slippageBps: 40, legDeadlineMs: 2_000, loopMs: 10 }

const stack = (env: ReturnType<typeof uniqueEnv>) => Layer.mergeAll(redisLive.layer(env), postgresSnapshots.layer(env))

const options = (mode: Session.SessionMode, sessionId: SessionId): Session.SessionOptions => ({
  mode,
  sessionId,
  newState: (id) =>
    EngineState.empty({ sessionId: id, startTime: Date.now(), mode: "live", campaignId: campaign.id, initialCapitalUsd: campaign.initialCapitalUsd, symbols: campaign.symbols }),
  policy: { snapshotInterval: "1 minute" },
  lease: { ttl: "5 seconds", wait: "10 seconds" }
})

/** The venue simulator as these tests trade on it: both venues, a 20 ms tick, seed 5 (`extra` added). */
const simulator = (...extra: ReadonlyArray<string>) => startSimulator(["--venues", "upbit,binance", "--tick-ms", "20", "--seed", "5", ...extra])

/** Checks `state` against the venues of `sim` (`assertStateMatchesVenues`), `where` naming the moment. */
const venuesAgree = (state: EngineState.EngineState, sim: RunningSimulator, where: string) =>
  Effect.gen(function*() {
    const orders = yield* (yield* sim.admin).orders()
    return yield* assertStateMatchesVenues(state, orders, settings.venues, campaign.symbols, where).pipe(Effect.provide(HttpVenue.layer({ url: sim.url })))
  })

/** Runs a session of its own to `loops` through the simulator at `url`, ended as `end` says; its final state. */
const runTo = (
  sessionId: SessionId,
  url: string,
  loops: number,
  end: "stop" | "crash",
  mode: Session.SessionMode = "AUTO",
  onReconciled: (plan: Reconcile.ReconcilePlan) => void = () => undefined,
  settleWithin?: Duration.Input
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const session = yield* Session.initialize(options(mode, sessionId)).pipe(Scope.provide(scope))
    const final = yield* LiveRunner.run(session, session.initialState, {
      settings,
      targetLoops: loops,
      reconcileEvery: 40,
      ...(settleWithin === undefined ? {} : { settleWithin }),
      onLoop: (_, reconciled) => Effect.sync(() => onReconciled(reconciled))
    })
    yield* Scope.close(scope, end === "crash" ? Exit.fail("killed") : Exit.void)
    return final
  }).pipe(Effect.provide(HttpVenue.layer({ url, timeout: "2 seconds" })))

/**
 * Runs a new session (killed every few loops) until an entry rests at the venues with both legs
 * working, matching paused so that nothing fills; that trade in flight. The simulator's matching
 * is left paused.
 */
const entryResting = (sessionId: SessionId, sim: RunningSimulator) =>
  Effect.gen(function*() {
    yield* sim.faults({ matching: false })
    let state = yield* runTo(sessionId, sim.url, 10, "crash", "CLEAN_RESET")
    const opening = () => Object.values(state.positions.pendingTrades ?? {}).find((p) => p.phase === "opening" && p.intents.every((i) => i.status === "open"))
    while (opening() === undefined) {
      assert.isBelow(state.session.loopCount, 400, "an entry was decided")
      state = yield* runTo(sessionId, sim.url, state.session.loopCount + 5, "crash")
    }
    return opening()!
  })

/**
 * Resumes the session for 60 loops (and as long as it takes to settle what is in flight, so that a
 * slow unwind is not cut short) and checks it against the venues: `tradeId` was unwound, never opened.
 */
const resumedUnwound = (sessionId: SessionId, sim: RunningSimulator, tradeId: string, where: string) =>
  Effect.gen(function*() {
    const start = yield* Restore.run(sessionId)
    const loop = start.outcome === "restored" ? start.state.session.loopCount : 0
    const final = yield* runTo(sessionId, sim.url, loop + 60, "stop", "RESUME_FROM_STATE", () => undefined, "30 seconds")
    const checked = yield* venuesAgree(final, sim, where)
    assert.include(checked.reasons, "entry_unwound")
    assert.notProperty(final.positions.pendingTrades ?? {}, tradeId, "the unwound trade is no longer in flight")
    assert.notProperty(final.positions.activeTrades, tradeId, "it never opened")
    return final
  })

describe("live runner", () => {
  it.live("trades through the venues: opens and closes trades by their orders; positions and PnL are the venues'", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const sessionId = SessionId.make(`sess_live${randomInt(1e9).toString(36)}`)
      const final = yield* runTo(sessionId, sim.url, 250, "stop", "CLEAN_RESET")
      assert.isAtLeast(final.metrics.tradesClosed, 2, "the run closes trades through the venues")
      const checked = yield* venuesAgree(final, sim, "at the end")
      // Each close took two entry orders and at least one more (two exits, or an unwind of the leg that filled).
      assert.isAtLeast(checked.orders, 3 * final.metrics.tradesClosed)
    }).pipe(Effect.scoped, Effect.provide(stack(uniqueEnv("liverun")))), 120_000)

  it.live("an entry whose leg is rejected is unwound, never left one-legged: closed with entry_unwound and the PnL of its fills", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const sessionId = SessionId.make(`sess_unwind${randomInt(1e9).toString(36)}`)
      // Every other submit is rejected: entries lose a leg, and exits are sent again.
      yield* sim.faults({ rejectNext: 1 })
      let final = yield* runTo(sessionId, sim.url, 60, "crash", "CLEAN_RESET")
      for (let round = 0; round < 4; round++) {
        yield* sim.faults({ rejectNext: 1 })
        final = yield* runTo(sessionId, sim.url, final.session.loopCount + 50, round === 3 ? "stop" : "crash")
      }
      const checked = yield* venuesAgree(final, sim, "after rejections")
      assert.include(checked.reasons, "entry_unwound", "an entry lost a leg and was unwound")
    }).pipe(Effect.scoped, Effect.provide(stack(uniqueEnv("liveunwind")))), 120_000)

  it.live("while the runner is down, a venue cancels one entry leg and fills the other: the resume applies both and unwinds the filled one", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const sessionId = SessionId.make(`sess_venuecx${randomInt(1e9).toString(36)}`)
      const trade = yield* entryResting(sessionId, sim)
      const sell = trade.intents.find((i) => i.role === "entry_sell")!
      const admin = yield* sim.admin
      const cancelled = yield* admin.cancel({ payload: { venue: sell.venue, clientOrderId: sell.clientOrderId as never } })
      assert.strictEqual(cancelled.reason, "cancelled by the venue")
      yield* sim.faults({ matching: true })
      const buy = trade.intents.find((i) => i.role === "entry_buy")!
      yield* eventually(admin.orders(), (all) => all.some((o) => o.clientOrderId === buy.clientOrderId && o.status === "filled"))
      yield* resumedUnwound(sessionId, sim, trade.tradeId, "after the venue's cancel")
    }).pipe(Effect.scoped, Effect.provide(stack(uniqueEnv("livevenuecx")))), 120_000)

  it.live("while the runner is down, a leg fills in part and the venue cancels the rest: the resume applies the part filled and unwinds it", () =>
    Effect.gen(function*() {
      // Each order fills in 40 parts, one a tick: slow enough to catch one filled in part.
      const sim = yield* simulator("--fill-slices", "40")
      const sessionId = SessionId.make(`sess_venuepx${randomInt(1e9).toString(36)}`)
      const trade = yield* entryResting(sessionId, sim)
      const buy = trade.intents.find((i) => i.role === "entry_buy")!
      const admin = yield* sim.admin
      yield* sim.faults({ matching: true })
      yield* eventually(admin.orders(), (all) => all.some((o) => o.clientOrderId === buy.clientOrderId && o.filledQuantity > 0), 30)
      yield* sim.faults({ matching: false })
      const cancelled = yield* admin.cancel({ payload: { venue: buy.venue, clientOrderId: buy.clientOrderId as never } })
      assert.strictEqual(cancelled.status, "cancelled")
      assert.isAbove(cancelled.filledQuantity, 0, "filled in part before the venue cancelled it")
      assert.isBelow(cancelled.filledQuantity, cancelled.quantity)
      yield* sim.faults({ matching: true })
      const final = yield* resumedUnwound(sessionId, sim, trade.tradeId, "after a part fill and the venue's cancel")
      const fills = (yield* admin.orders()).filter((o) => o.clientOrderId === buy.clientOrderId)
      assert.lengthOf(fills, 1, "one venue order for the leg's client order id")
      assert.isAtLeast(final.metrics.tradesClosed, 1)
    }).pipe(Effect.scoped, Effect.provide(stack(uniqueEnv("livevenuepx")))), 120_000)

  it.live("a reconciliation the venues do not let finish is tried again every loop, and no entry is decided until one finishes", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const sessionId = SessionId.make(`sess_unfinished${randomInt(1e9).toString(36)}`)
      // The venues answer everything but the list of the session's orders, until `blocked` is cleared.
      const blocked = yield* Ref.make(true)
      const venueLayer = Layer.effect(
        Venue,
        Effect.map(Venue, (venue) =>
          Venue.of({
            ...venue,
            orders: (name, options) =>
              Effect.flatMap(Ref.get(blocked), (isBlocked) =>
                isBlocked ? Effect.fail(VenueError.unreachable(name, "orders", "the venue's order list is away")) : venue.orders(name, options))
          }))
      ).pipe(Layer.provide(HttpVenue.layer({ url: sim.url })))
      const seen: Array<{ readonly loop: number; readonly unfinished: boolean; readonly inFlight: number; readonly opened: number }> = []
      const final = yield* Effect.scoped(Effect.gen(function*() {
        const session = yield* Session.initialize(options("CLEAN_RESET", sessionId))
        return yield* LiveRunner.run(session, session.initialState, {
          settings,
          targetLoops: 250,
          reconcileEvery: 40,
          onLoop: (state, reconciled) =>
            Effect.gen(function*() {
              seen.push({
                loop: state.session.loopCount,
                unfinished: reconciled.unfinished !== undefined,
                inFlight: Object.keys(state.positions.pendingTrades ?? {}).length,
                opened: state.metrics.tradesOpened
              })
              if (state.session.loopCount === 30) yield* Ref.set(blocked, false)
            })
        })
      })).pipe(Effect.provide(venueLayer))
      const whileBlocked = seen.filter((s) => s.loop <= 30)
      assert.lengthOf(whileBlocked, 30)
      assert.isTrue(whileBlocked.every((s) => s.unfinished && s.inFlight === 0 && s.opened === 0), "nothing decided while the reconciliation could not finish")
      assert.isFalse(seen.find((s) => s.loop === 32)!.unfinished, "tried again at the next loop, and finished")
      assert.isAbove(final.metrics.tradesOpened + Object.keys(final.positions.pendingTrades ?? {}).length, 0, "trading resumed once it finished")
    }).pipe(Effect.scoped, Effect.provide(stack(uniqueEnv("liveunfinished")))), 120_000)

  it.live("a leg sent just before the runner died, the venues away at the resume past its entry's deadline: looked up before it is given up, then unwound", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const sessionId = SessionId.make(`sess_sentdied${randomInt(1e9).toString(36)}`)
      // The runner dies right after its first send: the durable state holds both entry legs as
      // intended, one of them an order at its venue (which fills there).
      const scope = yield* Scope.make()
      const session = yield* Session.initialize(options("CLEAN_RESET", sessionId)).pipe(Scope.provide(scope))
      const died = yield* Effect.exit(LiveRunner.run(session, session.initialState, {
        settings,
        targetLoops: 400,
        onStage: (name) => (name === "after_send" ? Effect.die(new Error("killed after a send")) : Effect.void)
      }).pipe(Effect.provide(HttpVenue.layer({ url: sim.url }))))
      assert.isTrue(Exit.isFailure(died), "the runner reached a send")
      yield* Scope.close(scope, Exit.fail("killed"))
      const before = yield* Restore.run(sessionId)
      assert.strictEqual(before.outcome, "restored")
      const restored = before.outcome === "restored" ? before.state : undefined
      const [pending] = Object.values(restored!.positions.pendingTrades ?? {})
      assert.isDefined(pending, "an entry was in flight")
      assert.isTrue(pending!.intents.every((i) => i.status === "intended"), "neither answer was recorded")
      const sent = yield* (yield* sim.admin).orders()
      const atVenue = sent.filter((o) => pending!.intents.some((i) => i.clientOrderId === o.clientOrderId))
      assert.lengthOf(atVenue, 1, "one leg reached its venue")

      // The resume finds the venues away until its entry's deadline has passed, then back.
      yield* sim.faults({ down: true })
      const final = yield* Effect.scoped(Effect.gen(function*() {
        const resumed = yield* Session.initialize(options("RESUME_FROM_STATE", sessionId))
        return yield* LiveRunner.run(resumed, resumed.initialState, {
          settings,
          targetLoops: resumed.initialState.session.loopCount + 300,
          onLoop: (state) =>
            Date.now() > pending!.deadlineAt + 300 && state.session.loopCount % 10 === 0 ? sim.faults({ down: false }) : Effect.void
        })
      })).pipe(Effect.provide(HttpVenue.layer({ url: sim.url, timeout: "2 seconds" })))
      const checked = yield* venuesAgree(final, sim, "after the resume")
      const leg = pending!.intents.find((i) => i.clientOrderId === atVenue[0]!.clientOrderId)!
      const ledger = checked.reasons
      assert.notProperty(final.positions.pendingTrades ?? {}, pending!.tradeId, "the entry was settled")
      assert.include(ledger, "entry_unwound", `the leg sent before the crash (${leg.clientOrderId}) was found and unwound`)
    }).pipe(Effect.scoped, Effect.provide(stack(uniqueEnv("livesentdied")))), 120_000)

  it.live("a new session on an account that already holds a symbol it does not trade counts it in its baseline, and trades", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const sessionId = SessionId.make(`sess_heldbefore${randomInt(1e9).toString(36)}`)
      const other = MarketSymbol.make("XRP-USDT")
      assert.notInclude(campaign.symbols, other)
      yield* (yield* sim.admin).adjust({ payload: { venue: binance, symbol: other, quantity: 250 } })
      const plans: Array<Reconcile.ReconcilePlan> = []
      const final = yield* runTo(sessionId, sim.url, 150, "stop", "CLEAN_RESET", (plan) => plans.push(plan))
      assert.strictEqual(final.positions.venueBaseline?.[binance]?.[other], 250)
      assert.isNotEmpty(plans)
      assert.isTrue(plans.every((plan) => plan.agrees), JSON.stringify(plans.flatMap((plan) => plan.differences)))
      assert.isAbove(final.metrics.tradesOpened + Object.keys(final.positions.pendingTrades ?? {}).length, 0, "it traded")
    }).pipe(Effect.scoped, Effect.provide(stack(uniqueEnv("liveheldbefore")))), 120_000)

  it.live("at its target a run follows its trades in flight until none is left, deciding nothing new; without settling it stops with them", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const sessionId = SessionId.make(`sess_settle${randomInt(1e9).toString(36)}`)
      const resting = yield* entryResting(sessionId, sim)
      const resumeTo = (extra: number, settleWithin?: Duration.Input) =>
        Effect.scoped(Effect.gen(function*() {
          const session = yield* Session.initialize(options("RESUME_FROM_STATE", sessionId))
          const target = session.initialState.session.loopCount + extra
          const decidedPast: Array<string> = []
          const before = new Set(Object.keys(session.initialState.positions.pendingTrades ?? {}))
          const final = yield* LiveRunner.run(session, session.initialState, {
            settings,
            targetLoops: target,
            ...(settleWithin === undefined ? {} : { settleWithin }),
            onLoop: (state) =>
              Effect.sync(() => {
                for (const id of Object.keys(state.positions.pendingTrades ?? {})) {
                  if (state.session.loopCount <= target) before.add(id)
                  else if (!before.has(id)) decidedPast.push(id)
                }
              })
          })
          return { final, target, decidedPast }
        })).pipe(Effect.provide(HttpVenue.layer({ url: sim.url, timeout: "2 seconds" })))
      // Without settling: stopped at the target, the entry still in flight.
      const stopped = yield* resumeTo(1)
      assert.strictEqual(stopped.final.session.loopCount, stopped.target)
      assert.property(stopped.final.positions.pendingTrades ?? {}, resting.tradeId)
      // Settling: the run goes past its target until the entry (never filled, matching paused) is given up and cancelled.
      const settled = yield* resumeTo(1, "20 seconds")
      assert.isAbove(settled.final.session.loopCount, settled.target, "it went on past its target")
      assert.deepStrictEqual(Object.keys(settled.final.positions.pendingTrades ?? {}), [], "nothing is left in flight")
      assert.deepStrictEqual(settled.decidedPast, [], "no trade was decided past the target")
      yield* venuesAgree(settled.final, sim, "after settling")
    }).pipe(Effect.scoped, Effect.provide(stack(uniqueEnv("livesettle")))), 120_000)

  it.live("a position changed by hand at a venue: the resumed session names the difference and opens no trade until it is undone", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const sessionId = SessionId.make(`sess_byhand${randomInt(1e9).toString(36)}`)
      const first = yield* runTo(sessionId, sim.url, 120, "stop", "CLEAN_RESET")
      const symbol = campaign.symbols[0]!
      yield* (yield* sim.admin).adjust({ payload: { venue: upbit, symbol, quantity: 1.5 } })
      const plans: Array<Reconcile.ReconcilePlan> = []
      const refused = yield* runTo(sessionId, sim.url, first.session.loopCount + 100, "stop", "RESUME_FROM_STATE", (plan) => plans.push(plan))
      // Every reconciliation of the resumed run names the difference: what the venue holds, and what the state says it should.
      assert.isNotEmpty(plans)
      for (const plan of plans) {
        assert.isFalse(plan.agrees)
        const difference = plan.differences.find((d) => d.venue === upbit && d.symbol === symbol)
        assert.isDefined(difference, JSON.stringify(plan.differences))
        assert.closeTo(difference!.actual - difference!.expected, 1.5, 1e-9)
      }
      // Only entries already in flight at the stop may still complete; no new one is decided.
      const inFlight = Object.values(first.positions.pendingTrades ?? {}).filter((p) => p.phase === "opening").length
      assert.isAtMost(refused.metrics.tradesOpened, first.metrics.tradesOpened + inFlight, "no trade opened while the venue differs")
      assert.isAbove(refused.session.loopCount, first.session.loopCount)
      yield* (yield* sim.admin).adjust({ payload: { venue: upbit, symbol, quantity: -1.5 } })
      const again = yield* runTo(sessionId, sim.url, refused.session.loopCount + 250, "stop", "RESUME_FROM_STATE")
      assert.isAbove(again.metrics.tradesOpened, refused.metrics.tradesOpened, "trading resumes once the venue agrees")
    }).pipe(Effect.scoped, Effect.provide(stack(uniqueEnv("livehand")))), 120_000)
})
