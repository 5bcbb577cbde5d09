/**
 * PgSessionLease: session leases in PostgreSQL (migration 0002).
 *
 * Acquisition is one upsert that only takes a free or expired lease (or one
 * the same holder already has), incrementing the fencing token; the
 * database's clock decides expiry, so runners' clocks do not matter. A
 * renewal succeeds while the token is still the holder's, even past expiry
 * (nobody else has written since, so extending it is safe): a runner cut off
 * from the database by an outage keeps its session when the database comes
 * back, unless another runner took it meanwhile.
 */
import { PgClient } from "@effect/sql-pg"
import { Duration, Effect, Layer, Option, Schema } from "effect"
import type { Env } from "../domain/Ids.ts"
import { SessionId } from "../domain/Ids.ts"
import { fromSqlError } from "./internal/SqlErrors.ts"
import { type AcquireOptions, type Lease, leaseLost, leaseTtlMillis, SessionLease, sessionHeld } from "./SessionLease.ts"
import { storeOperation } from "./internal/StoreSpan.ts"

interface LeaseRow {
  readonly holder: string
  readonly fencing_token: bigint | number | string
  readonly expires_ms: bigint | number | string
  readonly live: boolean
}

/** The leases of `env` on the database of `PgClient` (migrated to 0002). */
export const make = Effect.fnUntraced(function*(env: Env) {
  const sql = yield* PgClient.PgClient
  const leaseOf = (sessionId: SessionId, row: LeaseRow): Lease => ({
    sessionId,
    holder: row.holder,
    fencingToken: Number(row.fencing_token),
    expiresAt: Number(row.expires_ms)
  })
  const columns = sql`holder, fencing_token, (extract(epoch from expires_at) * 1000)::bigint AS expires_ms, expires_at > now() AS live`
  const read = (sessionId: SessionId) =>
    sql<LeaseRow>`SELECT ${columns} FROM session_leases WHERE env = ${env} AND session_id = ${sessionId}`

  const acquire = storeOperation("SessionLease.acquire")(function*(
    sessionId: SessionId,
    holder: string,
    ttl: Duration.Input,
    options: AcquireOptions = {}
  ) {
    const above = options.above ?? 0
    const [row] = yield* sql<LeaseRow>`
      INSERT INTO session_leases AS l (env, session_id, holder, fencing_token, expires_at)
      VALUES (${env}, ${sessionId}, ${holder}, ${above}::bigint + 1, now() + (${leaseTtlMillis(ttl)}::bigint * interval '1 millisecond'))
      ON CONFLICT (env, session_id) DO UPDATE
         SET holder = EXCLUDED.holder, fencing_token = GREATEST(l.fencing_token, ${above}::bigint) + 1,
             acquired_at = now(), renewed_at = now(), expires_at = EXCLUDED.expires_at
       WHERE l.expires_at <= now() OR l.holder = EXCLUDED.holder
      RETURNING ${columns}`.pipe(Effect.mapError(fromSqlError(`acquire the lease of ${sessionId}`)))
    if (row !== undefined) return leaseOf(sessionId, row)
    const [held] = yield* read(sessionId).pipe(Effect.mapError(fromSqlError(`read the lease of ${sessionId}`)))
    return yield* sessionHeld(sessionId, { holder: held?.holder ?? "unknown", expiresAt: Number(held?.expires_ms ?? 0) })
  })

  const renew = storeOperation("SessionLease.renew")(function*(lease: Lease, ttl: Duration.Input) {
    const [row] = yield* sql<LeaseRow>`
      UPDATE session_leases
         SET expires_at = now() + (${leaseTtlMillis(ttl)}::bigint * interval '1 millisecond'), renewed_at = now()
       WHERE env = ${env} AND session_id = ${lease.sessionId} AND holder = ${lease.holder}
         AND fencing_token = ${lease.fencingToken}
      RETURNING ${columns}`.pipe(Effect.mapError(fromSqlError(`renew the lease of ${lease.sessionId}`)))
    if (row !== undefined) return leaseOf(lease.sessionId, row)
    const [now] = yield* read(lease.sessionId).pipe(Effect.mapError(fromSqlError(`read the lease of ${lease.sessionId}`)))
    return yield* leaseLost(
      lease,
      now === undefined ? "it is gone" : `runner ${now.holder} took the session (token ${now.fencing_token})`
    )
  })

  const release = storeOperation("SessionLease.release")(function*(lease: Lease) {
    yield* sql`
      UPDATE session_leases SET expires_at = now()
       WHERE env = ${env} AND session_id = ${lease.sessionId} AND holder = ${lease.holder}
         AND fencing_token = ${lease.fencingToken} AND expires_at > now()`.pipe(
      Effect.mapError(fromSqlError(`release the lease of ${lease.sessionId}`))
    )
  })

  const current = storeOperation("SessionLease.current")(function*(sessionId: SessionId) {
    const [row] = yield* read(sessionId).pipe(Effect.mapError(fromSqlError(`read the lease of ${sessionId}`)))
    return Option.map(Option.fromNullishOr(row), (r) => leaseOf(sessionId, r))
  })

  const listLive = storeOperation("SessionLease.listLive")(function*() {
    const rows = yield* sql<LeaseRow & { readonly session_id: string }>`
      SELECT session_id, ${columns} FROM session_leases WHERE env = ${env} AND expires_at > now() ORDER BY session_id`.pipe(
      Effect.mapError(fromSqlError("list leases"))
    )
    // A row no writer of this code could have made (its session id is not one) is left out.
    return rows.flatMap((row) => (isSessionId(row.session_id) ? [leaseOf(row.session_id, row)] : []))
  })

  return SessionLease.of({ env, kind: "postgres", acquire, renew, release, current, listLive })
})

const isSessionId = Schema.is(SessionId)

/** The PostgreSQL backing of the leases of `env`. */
export const layer = (env: Env): Layer.Layer<SessionLease, never, PgClient.PgClient> => Layer.effect(SessionLease, make(env))
