/**
 * The raw side of the benchmark: what a careful hand-written persistence
 * layer does with the drivers alone (ioredis, pg), for the same state, in the
 * same number of round trips as ours, with every serialisation inside the
 * caller's timed region.
 *
 * What it leaves out is what this project adds: Schema encoding and decoding,
 * the invariants across sections, the canonical checksum (the raw side hashes
 * the bytes it sends, which is cheaper), the fence and write-mark checks of
 * the live save's script, the ledger's part of the snapshot statement (empty
 * in these benchmarks), and choosing between the tiers.
 */
import type { Redis } from "ioredis"
import { createHash } from "node:crypto"
import { gunzipSync } from "node:zlib"
import type pg from "pg"
import type { EngineState } from "../src/domain/EngineState.ts"
import type { Env, SessionId } from "../src/domain/Ids.ts"
import { baselineField, openTimeField, pendingField, tradeField, versionField } from "../src/store/internal/LiveStateDelta.ts"
import { defaultCompressionThreshold, gzip } from "../src/store/internal/PayloadCompression.ts"
import * as LiveTierScripts from "../src/store/internal/LiveTierScripts.ts"
import { fenceKey, sectionKey, writeMarkKey } from "../src/store/StateKeys.ts"

/** The positions hash's fields of the trades `ids` (each trade and its open time), serialised. */
const tradeFields = (state: EngineState, ids: Iterable<string>): Array<string> => {
  const fields: Array<string> = []
  const { activeTrades, positionOpenTimes } = state.positions as { activeTrades: Record<string, unknown>; positionOpenTimes: Record<string, number> }
  for (const id of ids) fields.push(tradeField(id), JSON.stringify(activeTrades[id]), openTimeField(id), String(positionOpenTimes[id]))
  return fields
}

/**
 * A whole live state as one MULTI: the string sections, the runner's own sections' key removed,
 * the ledger tail, the positions hash with every trade, trade in flight and the venues' baseline,
 * the mark; all serialised when called.
 */
export const rawLiveSaveWhole = (redis: Redis, env: Env, state: EngineState, mark: string) => {
  const id = state.session.sessionId
  const positions = state.positions
  const fields = [versionField, "3", ...tradeFields(state, Object.keys(positions.activeTrades))]
  for (const [tradeId, pending] of Object.entries(positions.pendingTrades ?? {})) fields.push(pendingField(tradeId), JSON.stringify(pending))
  if (positions.venueBaseline !== undefined) fields.push(baselineField, JSON.stringify(positions.venueBaseline))
  return redis.multi()
    .set(sectionKey(env, id, "session"), JSON.stringify(state.session))
    .set(sectionKey(env, id, "metrics"), JSON.stringify(state.metrics))
    .set(sectionKey(env, id, "riskGuard"), JSON.stringify(state.riskGuard))
    .del(sectionKey(env, id, "custom"))
    .set(sectionKey(env, id, "ledger"), JSON.stringify({ version: 1, durableUpTo: state.metrics.tradesClosed, entries: [] }))
    .del(sectionKey(env, id, "positions"))
    .hset(sectionKey(env, id, "positions"), ...fields)
    .set(writeMarkKey(env, id), mark)
    .exec()
}

/**
 * A loop's live save as one MULTI: the session section (its loop count), the trades `changed`
 * (none for a quiet loop), the metrics and risk counters when trades changed, the mark.
 */
export const rawLiveSaveLoop = (redis: Redis, env: Env, state: EngineState, changed: ReadonlyArray<string>, mark: string) => {
  const id = state.session.sessionId
  const multi = redis.multi().set(sectionKey(env, id, "session"), JSON.stringify(state.session))
  if (changed.length > 0) {
    multi
      .set(sectionKey(env, id, "metrics"), JSON.stringify(state.metrics))
      .set(sectionKey(env, id, "riskGuard"), JSON.stringify(state.riskGuard))
      .hset(sectionKey(env, id, "positions"), ...tradeFields(state, changed))
  }
  return multi.set(writeMarkKey(env, id), mark).exec()
}

/**
 * A durable snapshot as the one statement ours sends: the lease checked (FOR SHARE), the snapshot
 * row and its three section rows chained to it, positions gzipped above the same threshold; the
 * checksum a SHA-256 of the JSON text sent.
 */
export const rawSnapshot = (
  sql: pg.ClientBase | pg.Pool,
  env: Env,
  sessionId: SessionId,
  sequence: number,
  state: EngineState
) => {
  const session = JSON.stringify(state.session)
  const positions = JSON.stringify(state.positions)
  const metrics = JSON.stringify(state.metrics)
  const riskGuard = JSON.stringify(state.riskGuard)
  const checksum = `sha256:${createHash("sha256").update(session).update(positions).update(metrics).update(riskGuard).digest("hex")}`
  const compressed = positions.length > defaultCompressionThreshold
  return sql.query(
    `WITH lease AS (
       SELECT fencing_token, expires_at > now() AS live FROM session_leases WHERE env = $1 AND session_id = $2 FOR SHARE
     ), head AS (
       INSERT INTO session_snapshots (env, session_id, sequence, snapshot_type, envelope_version, fencing_token, created_at_ms,
         checksum, loop_count, session_status, session, custom)
       SELECT $1::text, $2::text, $3::bigint, 'trade', 1, 1, 0, $4::text, $5::bigint, 'running', $6::jsonb, NULL
        WHERE NOT EXISTS (SELECT 1 FROM lease WHERE fencing_token <> 1 OR NOT live)
       ON CONFLICT ON CONSTRAINT session_snapshots_sequence_unique DO NOTHING
       RETURNING snapshot_id, recorded_at
     ), p AS (
       INSERT INTO position_snapshots (snapshot_id, open_trade_count, ${compressed ? "positions_gzip" : "positions"})
       SELECT snapshot_id, $7::integer, $8${compressed ? "::bytea" : "::jsonb"} FROM head
     ), m AS (INSERT INTO metrics_snapshots (snapshot_id, metrics) SELECT snapshot_id, $9::jsonb FROM head
     ), r AS (INSERT INTO risk_guard_snapshots (snapshot_id, risk_guard) SELECT snapshot_id, $10::jsonb FROM head)
     SELECT head.snapshot_id, head.recorded_at, lease.fencing_token AS lease_token, lease.live AS lease_live
       FROM (SELECT 1) AS one LEFT JOIN head ON true LEFT JOIN lease ON true`,
    [
      env,
      sessionId,
      sequence,
      checksum,
      state.session.loopCount,
      session,
      Object.keys(state.positions.activeTrades).length,
      compressed ? gzip(positions) : positions,
      metrics,
      riskGuard
    ]
  )
}

/**
 * A restore's reads, all three at once as ours makes them (the live keys in one MULTI, the newest
 * snapshot with its sections, the lease), and what it reads parsed: every JSON string and hash field,
 * the gzipped positions inflated and parsed. Fails when either tier holds nothing.
 */
export const rawRestore = async (redis: Redis, pool: pg.Pool, env: Env, sessionId: SessionId) => {
  const [live, snapshot] = await Promise.all([
    redis.multi()
      .get(sectionKey(env, sessionId, "session"))
      .hgetall(sectionKey(env, sessionId, "positions"))
      .get(sectionKey(env, sessionId, "metrics"))
      .get(sectionKey(env, sessionId, "riskGuard"))
      .get(sectionKey(env, sessionId, "custom"))
      .get(sectionKey(env, sessionId, "ledger"))
      .get(writeMarkKey(env, sessionId))
      .exec(),
    pool.query(
      `SELECT s.snapshot_id, s.sequence, s.checksum, s.loop_count, s.session, p.positions, p.positions_gzip, m.metrics, r.risk_guard
         FROM session_snapshots s JOIN position_snapshots p USING (snapshot_id) JOIN metrics_snapshots m USING (snapshot_id)
         JOIN risk_guard_snapshots r USING (snapshot_id)
        WHERE s.env = $1 AND s.session_id = $2 ORDER BY s.sequence DESC LIMIT 1`,
      [env, sessionId]
    ),
    pool.query("SELECT fencing_token, expires_at FROM session_leases WHERE env = $1 AND session_id = $2", [env, sessionId])
  ])
  const [session, positions, metrics, riskGuard, , ledger] = (live ?? []).map(([, value]) => value) as [
    string | null,
    Record<string, string>,
    string | null,
    string | null,
    string | null,
    string | null
  ]
  if (session === null || metrics === null || riskGuard === null || ledger === null) throw new Error(`no live state of ${sessionId}`)
  const trades: Record<string, unknown> = {}
  for (const [field, value] of Object.entries(positions)) trades[field] = field.startsWith("o:") || field === versionField ? Number(value) : JSON.parse(value)
  const liveState = { session: JSON.parse(session), positions: trades, metrics: JSON.parse(metrics), riskGuard: JSON.parse(riskGuard), ledger: JSON.parse(ledger) }
  const row = snapshot.rows[0]
  if (row === undefined) throw new Error(`no snapshot of ${sessionId}`)
  const snapshotPositions = row.positions_gzip === null ? row.positions : JSON.parse(gunzipSync(row.positions_gzip).toString("utf8"))
  return { live: liveState, snapshot: { ...row, positions: snapshotPositions } }
}

/**
 * A loop's live save as our save script (`LiveTierScripts.save`) run by the raw driver: the same
 * server-side checks (fence, key types, the mark of the previous write) and writes as ours (the session section, the mark),
 * without our client side (planning, encoding, the Effect runtime). Between the raw MULTI and ours,
 * it says how much of the difference is the script's guarantees on the server.
 */
export const rawScriptLoop = (redis: Redis, env: Env, state: EngineState, previousMark: string, mark: string) => {
  const id = state.session.sessionId
  const script = LiveTierScripts.save
  const keys = [fenceKey(env, id), writeMarkKey(env, id), ...(["session", "positions", "metrics", "riskGuard", "custom", "ledger"] as const).map((part) => sectionKey(env, id, part))]
  return redis.evalsha(saveSha, keys.length, ...keys, "0", previousMark, mark, "S", String(script.keyIndex("session_key")), JSON.stringify(state.session))
    .then((reply) => {
      if (JSON.stringify(reply) !== JSON.stringify(["ok"])) throw new Error(`the save script answered ${JSON.stringify(reply)}`)
    })
}
const saveSha = createHash("sha1").update(LiveTierScripts.save.lua).digest("hex")

/** Loads the save script into `redis`'s script cache (as ours has, after its first save). */
export const loadSaveScript = (redis: Redis) => redis.script("LOAD", LiveTierScripts.save.lua)
