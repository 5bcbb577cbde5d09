/**
 * Resume a session after a crash, and see where its state came from.
 *
 * Starts a session, "crashes" it (its scope ends with a failure, so no
 * shutdown snapshot is taken and it stays `running`), then resumes it with
 * RESUME_FROM_STATE and prints the restore report. The resumed session trades
 * what it recorded: `TradingPlan.planFor` reads its campaign and market from
 * the restored state (as `run --mode resume` does), and refuses a request
 * that contradicts them.
 *
 *   npm run example -- resume-session
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Exit, Scope } from "effect"
import { ArbitrageStrategy, Campaign, type Ids, Persistence, RestoreReport, Runner, Session, TradingPlan } from "arbitrage-state"

const campaign = Campaign.campaigns.aggressive!
const market = { seed: 2, tickMs: 1000 }
const newState = (sessionId: Ids.SessionId) =>
  ArbitrageStrategy.newSessionState({ sessionId, campaign, startTime: ArbitrageStrategy.simulatedStart, market })

const program = Effect.gen(function*() {
  const first = yield* Scope.make()
  const crashed = yield* Session.initialize({ mode: "CLEAN_RESET", newState, policy: { snapshotInterval: "5 minutes" } }).pipe(
    Scope.provide(first)
  )
  const before = yield* Runner.run(crashed, crashed.initialState, { campaign, market, targetLoops: 300 })
  yield* Scope.close(first, Exit.fail("crash")) // no shutdown snapshot: the session stays `running`

  const resumed = yield* Session.initialize({
    mode: "RESUME_FROM_STATE",
    sessionId: crashed.sessionId,
    newState,
    policy: { snapshotInterval: "5 minutes" }
  })
  if (resumed.origin.kind === "resumed") yield* Console.log(RestoreReport.describeReport(resumed.origin.report))
  const same = JSON.stringify(resumed.initialState.metrics) === JSON.stringify(before.metrics)
  yield* Console.log(`metrics carried over: ${same ? "yes" : "NO"}`)
  // What the session recorded, not what this program happens to hold.
  const plan = yield* TradingPlan.planFor(resumed.initialState, false, { targetLoops: 600 })
  yield* Console.log(`trades what it recorded: campaign ${plan.campaign.id}, seed ${plan.market.seed}`)
  const after = yield* Runner.run(resumed, resumed.initialState, { campaign: plan.campaign, market: plan.market, targetLoops: 600 })
  yield* Console.log(`ran on to loop ${after.session.loopCount}: ${after.metrics.tradesOpened} trades in all`)
}).pipe(Effect.scoped, Effect.provide(Persistence.layer))

program.pipe(NodeRuntime.runMain)
