/**
 * Inspect what is stored: every session of the env with its newest snapshot,
 * and the newest snapshots of one session, each checked (checksum, Schema,
 * invariants) without restoring anything.
 *
 *   npm run example -- inspect-snapshots
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Result } from "effect"
import { Persistence, SnapshotStore } from "arbitrage-state"

const program = Effect.gen(function*() {
  const store = yield* SnapshotStore.SnapshotStore
  const sessions = yield* store.listSessions()
  yield* Console.log(`${sessions.length} session(s) with snapshots`)
  for (const session of sessions.slice(0, 5)) {
    yield* Console.log(`${session.sessionId}: newest #${session.sequence} (${session.snapshotType}), loop ${session.loopCount}, ${session.status}`)
    for (const read of yield* store.loadRecent(session.sessionId, { limit: 3 })) {
      const verdict = Result.isSuccess(read.result) ? "valid" : `invalid: ${read.result.failure.message}`
      yield* Console.log(`  #${read.sequence} ${verdict}`)
    }
  }
}).pipe(Effect.provide(Persistence.layerReadOnly))

program.pipe(NodeRuntime.runMain)
