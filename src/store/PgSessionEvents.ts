/**
 * PgSessionEvents: session events in PostgreSQL (`session_events`, migration
 * 0004; retention's cuts are recorded there by `cut_snapshot_history`, 0005).
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer } from "effect"
import type { Env, SessionId } from "../domain/Ids.ts"
import { fromSqlError } from "./internal/SqlErrors.ts"
import { storeOperation } from "./internal/StoreSpan.ts"
import { type SessionEvent, SessionEvents } from "./SessionEvents.ts"

interface EventRow {
  readonly kind: SessionEvent["kind"]
  readonly fencing_token: bigint | number | string
  readonly loop_count: bigint | number | string
  readonly detail: Record<string, unknown>
  readonly recorded_at: Date | string
}

/** The session events of `env` on the database of `PgClient` (migrated). */
export const make = Effect.fnUntraced(function*(env: Env) {
  const sql = yield* PgClient.PgClient

  const record = storeOperation("SessionEvents.record")(function*(sessionId: SessionId, event: SessionEvent) {
    yield* sql`
      INSERT INTO session_events (env, session_id, kind, fencing_token, loop_count, detail)
      VALUES (${env}, ${sessionId}, ${event.kind}, ${event.fencingToken}, ${event.loopCount}, ${sql.json(event.detail)})`.pipe(
      Effect.mapError(fromSqlError(`record an event of ${sessionId}`))
    )
  })

  const list = storeOperation("SessionEvents.list")(function*(sessionId: SessionId) {
    const rows = yield* sql<EventRow>`
      SELECT kind, fencing_token, loop_count, detail, recorded_at FROM session_events
       WHERE env = ${env} AND session_id = ${sessionId} ORDER BY event_id`.pipe(
      Effect.mapError(fromSqlError(`list the events of ${sessionId}`))
    )
    return rows.map((row) => ({
      kind: row.kind,
      fencingToken: Number(row.fencing_token),
      loopCount: Number(row.loop_count),
      detail: row.detail,
      recordedAt: new Date(row.recorded_at).getTime()
    }))
  })

  return SessionEvents.of({ env, kind: "postgres", record, list })
})

/** The PostgreSQL backing of the session events of `env`; needs a `PgClient` on a migrated database. */
export const layer = (env: Env): Layer.Layer<SessionEvents, never, PgClient.PgClient> => Layer.effect(SessionEvents, make(env))
