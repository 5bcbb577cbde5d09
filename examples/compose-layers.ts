/**
 * Compose the persistence stack into your own Effect program.
 *
 * `Persistence.layer` reads the environment (DATABASE_URL, REDIS_URL, ...;
 * without them: the embedded PostgreSQL and an in-memory live tier) and
 * provides the stores; `Session.initialize` starts a session under its lease;
 * your loop hands each new state to `session.persist`. Closing the scope takes
 * the shutdown snapshot.
 *
 *   npm run example -- compose-layers
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { newSessionState, runLoop, simulatedStart } from "../src/runner/ArbitrageStrategy.ts"
import { campaigns } from "../src/runner/Campaign.ts"
import * as Session from "../src/session/Session.ts"
import * as Persistence from "../src/store/Persistence.ts"

const campaign = campaigns.balanced!

const program = Effect.gen(function*() {
  const session = yield* Session.initialize({
    mode: "CLEAN_RESET",
    newState: (sessionId) => newSessionState({ sessionId, campaign, startTime: simulatedStart }),
    policy: { snapshotInterval: "5 minutes" }
  })
  let state = session.initialState
  for (let i = 0; i < 200; i++) {
    const step = runLoop(state, campaign, { seed: 1, tickMs: 1000 })
    yield* session.persist(step.state, { tradesChanged: step.events.opened.length + step.events.closed.length > 0 })
    state = step.state
  }
  yield* Console.log(`${session.sessionId}: ran to loop ${state.session.loopCount}, ${state.metrics.tradesOpened} trades, PnL ${state.metrics.totalPnlUsd.toFixed(2)}`)
}).pipe(Effect.scoped, Effect.provide(Persistence.layer))

program.pipe(NodeRuntime.runMain)
