/**
 * Compose the persistence stack into your own Effect program.
 *
 * `Persistence.layer` reads the environment (DATABASE_URL, REDIS_URL, ...;
 * without them: the embedded PostgreSQL and an in-memory live tier) and
 * provides the stores; `Session.initialize` starts a session under its lease;
 * your loop hands each new state to `session.persist`. A step that opens
 * trades is made durable first: when it cannot be (the database is away), it
 * fails with `StepRefused` and the loop is done again without opening any.
 * Each step also hands over the trades it closed (`closed`), which the
 * session appends to the durable trade ledger with the snapshot that counts
 * them. Closing the scope takes the shutdown snapshot.
 *
 *   npm run example -- compose-layers
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { ArbitrageStrategy, Campaign, Persistence, Session } from "arbitrage-state"

const campaign = Campaign.campaigns.balanced!
const market = { seed: 1, tickMs: 1000 }

const program = Effect.gen(function*() {
  const session = yield* Session.initialize({
    mode: "CLEAN_RESET",
    newState: (sessionId) => ArbitrageStrategy.newSessionState({ sessionId, campaign, startTime: ArbitrageStrategy.simulatedStart, market }),
    policy: { snapshotInterval: "5 minutes" }
  })
  let state = session.initialState
  for (let i = 0; i < 200; i++) {
    const step = ArbitrageStrategy.runLoop(state, campaign, market, yield* session.canTrade)
    state = yield* session.persist(step.state, {
      tradesChanged: ArbitrageStrategy.tradesChanged(step.events),
      opensTrades: step.events.opened.length > 0,
      // Every trade the step closed, for the trade ledger (the session checks them against the metrics).
      closed: step.events.closed
    }).pipe(
      Effect.as(step.state),
      // The new trades could not be made durable: this loop again, opening none.
      Effect.catchTag("StepRefused", () => {
        const redo = ArbitrageStrategy.runLoop(state, campaign, market, false)
        return Effect.as(
          session.persist(redo.state, { tradesChanged: ArbitrageStrategy.tradesChanged(redo.events), closed: redo.events.closed }),
          redo.state
        )
      })
    )
  }
  yield* Console.log(`${session.sessionId}: ran to loop ${state.session.loopCount}, ${state.metrics.tradesOpened} trades, PnL ${state.metrics.totalPnlUsd.toFixed(2)}`)
}).pipe(Effect.scoped, Effect.provide(Persistence.layer))

program.pipe(NodeRuntime.runMain)
