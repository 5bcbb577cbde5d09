/**
 * `npm run bench` (`-- --json` for machine-readable results): our persistence
 * next to the raw drivers doing the same I/O, side by side in one process,
 * same data, same servers, warm-up first; p50, p99 and the ratio ours / raw.
 *
 * Needs the PostgreSQL and Redis of the machine (BENCH_DATABASE_URL,
 * BENCH_REDIS_URL; defaults: the local ones, database `test`). Writes into a
 * namespace of its own and removes it at the end. Benchmarks 6 and 7 (an order
 * intent made durable before its send, a reconciliation of 100 intents) also
 * start the venue simulator as a process of its own.
 */
import { Arbitrary, Effect, Layer, ManagedRuntime, Option, Redacted, Result } from "effect"
import { Redis } from "ioredis"
import { randomBytes } from "node:crypto"
import pg from "pg"
import type { EngineState } from "../src/domain/EngineState.ts"
import { Env, SessionId } from "../src/domain/Ids.ts"
import { encodeEngineState } from "../src/domain/StateCodec.ts"
import * as Restore from "../src/recovery/Restore.ts"
import { newSessionState, simulatedStart } from "../src/runner/ArbitrageStrategy.ts"
import { campaigns } from "../src/runner/Campaign.ts"
import * as Runner from "../src/runner/Runner.ts"
import * as Session from "../src/session/Session.ts"
import { LiveStateStore } from "../src/store/LiveStateStore.ts"
import { baselineField, openTimeField, pendingField, tradeField, versionField } from "../src/store/internal/LiveStateDelta.ts"
import { durableOn, postgresLayer, redisLiveLayer, type Stores } from "../src/store/Persistence.ts"
import { SnapshotStore } from "../src/store/SnapshotStore.ts"
import { sectionKey, writeMarkKey } from "../src/store/StateKeys.ts"
import { engineStateArbitrary } from "../test/support/StateArbitrary.ts"
import { compare, type Comparison, formatTable, percentile, time } from "./Harness.ts"
import { intentBench, reconcileBench } from "./OrderIntents.ts"

const databaseUrl = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const redisUrl = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379/0"
const json = process.argv.includes("--json")
const env = Env.make(`bench-${randomBytes(3).toString("hex")}`)
const log = (text: string) => (json ? undefined : process.stderr.write(`${text}\n`))

const runtime = ManagedRuntime.make(
  Layer.mergeAll(redisLiveLayer(env, Redacted.make(redisUrl)), durableOn(env, postgresLayer(Redacted.make(databaseUrl), { maxConnections: 4 })))
)
const run = <A, E>(effect: Effect.Effect<A, E, Stores>) => runtime.runPromise(effect)
const redis = new Redis(redisUrl)
const sql = new pg.Client({ connectionString: databaseUrl })
await sql.connect()

const stateWith = async (sessionId: SessionId, trades: number): Promise<EngineState> => {
  const [state] = await Effect.runPromise(
    Arbitrary.sampleEffect(engineStateArbitrary({ minOpenTrades: trades, maxOpenTrades: trades }), { count: 1, seed: trades })
  )
  return { ...state!, session: { ...state!.session, sessionId } }
}
const encoded = (state: EngineState) => Result.getOrThrow(encodeEngineState(state)) as Record<string, any>

/**
 * The raw writes of a whole live state: what our full save sends, as a plain MULTI (the string
 * sections, the runner's own sections' key removed, the ledger tail, the positions hash with every
 * trade, trade in flight and the venues' baseline, the mark).
 */
const rawLiveSave = (state: EngineState, mark: string) => {
  const e = encoded(state)
  const { activeTrades, pendingTrades, positionOpenTimes, venueBaseline, version } = e.positions
  const fields: Array<string> = [versionField, String(version)]
  for (const id of Object.keys(activeTrades)) fields.push(tradeField(id), JSON.stringify(activeTrades[id]), openTimeField(id), String(positionOpenTimes[id]))
  for (const id of Object.keys(pendingTrades ?? {})) fields.push(pendingField(id), JSON.stringify(pendingTrades[id]))
  if (venueBaseline !== undefined) fields.push(baselineField, JSON.stringify(venueBaseline))
  const id = state.session.sessionId
  const texts = [JSON.stringify(e.session), JSON.stringify(e.metrics), JSON.stringify(e.riskGuard)]
  const tail = JSON.stringify({ version: 1, durableUpTo: state.metrics.tradesClosed, entries: [] })
  return () =>
    redis.multi()
      .set(sectionKey(env, id, "session"), texts[0]!)
      .set(sectionKey(env, id, "metrics"), texts[1]!)
      .set(sectionKey(env, id, "riskGuard"), texts[2]!)
      .del(sectionKey(env, id, "custom"))
      .set(sectionKey(env, id, "ledger"), tail)
      .del(sectionKey(env, id, "positions"))
      .hset(sectionKey(env, id, "positions"), ...fields)
      .set(writeMarkKey(env, id), mark)
      .exec()
}

const hotStore = await runtime.runPromise(Effect.gen(function*() {
  return yield* LiveStateStore
}))
const snapshotStore = await runtime.runPromise(Effect.gen(function*() {
  return yield* SnapshotStore
}))
const results: Array<Comparison> = []
const notes: Array<Record<string, unknown>> = []
try {
  log(`benchmarking in env ${env} against ${databaseUrl.replace(/\/\/[^@]*@/, "//")} and ${redisUrl.replace(/\/\/[^@]*@/, "//")}`)

  // 1. A whole live state (10 open trades): our save vs the same writes as one raw MULTI.
  // The raw side writes the same bytes under a twin session of its own: were it to write over our
  // keys, its mark would make every one of our incremental saves find the session changed under it
  // and write twice (a resync), which is what a first version of this benchmark measured.
  const liveId = SessionId.make("sess_benchlive1")
  const rawId = SessionId.make("sess_benchlivr1")
  const live = await stateWith(liveId, 10)
  const liveCopies = [live, structuredClone(live)] // different objects each save: every part is written
  const rawFull = rawLiveSave({ ...live, session: { ...live.session, sessionId: rawId } }, "raw")
  let flip = 0
  results.push(await compare("1. live save, whole state (10 trades)", rawFull, () => run(hotStore.save(liveCopies[flip++ % 2]!))))

  // 1b. A loop that changed no trade: our incremental save vs a raw MULTI of the same bytes.
  let loopState = live
  const sessionText = JSON.stringify(encoded(loopState).session)
  results.push(await compare(
    "1b. live save, quiet loop (10 trades)",
    () => redis.multi().set(sectionKey(env, rawId, "session"), sessionText).set(writeMarkKey(env, rawId), "raw").exec(),
    () => {
      loopState = { ...loopState, session: { ...loopState.session, loopCount: loopState.session.loopCount + 1 } }
      return run(hotStore.save(loopState))
    }
  ))

  // 2. A durable snapshot: ours (encode, checksum, lease check, one transaction) vs the four raw inserts.
  const snapId = SessionId.make("sess_benchsnap1")
  const snapState = await stateWith(snapId, 10)
  const e = encoded(snapState)
  let rawSequence = 1_000_000
  let ourSequence = 0
  const rawSnapshot = async () => {
    await sql.query("BEGIN")
    const head = await sql.query(
      `INSERT INTO session_snapshots (env, session_id, sequence, snapshot_type, envelope_version, fencing_token, created_at_ms,
         checksum, loop_count, session_status, session) VALUES ($1,$2,$3,'trade',1,1,0,'raw',0,'running',$4) RETURNING snapshot_id`,
      [env, "sess_benchraw01", rawSequence++, JSON.stringify(e.session)]
    )
    const id = head.rows[0].snapshot_id
    await sql.query("INSERT INTO position_snapshots (snapshot_id, open_trade_count, positions) VALUES ($1, 10, $2)", [id, JSON.stringify(e.positions)])
    await sql.query("INSERT INTO metrics_snapshots (snapshot_id, metrics) VALUES ($1, $2)", [id, JSON.stringify(e.metrics)])
    await sql.query("INSERT INTO risk_guard_snapshots (snapshot_id, risk_guard) VALUES ($1, $2)", [id, JSON.stringify(e.riskGuard)])
    await sql.query("COMMIT")
  }
  results.push(await compare("2. durable snapshot (10 trades)", rawSnapshot, () =>
    run(snapshotStore.save({ sessionId: snapId, snapshotType: "trade", sequence: ++ourSequence, fencingToken: 1, createdAt: 0 }, snapState)), { runs: 1_000 }))

  // 3. Restore (read, verify, decode, choose) vs the raw reads of the same keys and row.
  await run(Effect.flatMap(LiveStateStore, (s) => s.save(snapState)))
  const rawRestore = async () => {
    await redis.multi()
      .get(sectionKey(env, snapId, "session")).hgetall(sectionKey(env, snapId, "positions"))
      .get(sectionKey(env, snapId, "metrics")).get(sectionKey(env, snapId, "riskGuard")).exec()
    await sql.query(
      `SELECT s.*, p.positions, m.metrics, r.risk_guard FROM session_snapshots s
         JOIN position_snapshots p USING (snapshot_id) JOIN metrics_snapshots m USING (snapshot_id)
         JOIN risk_guard_snapshots r USING (snapshot_id)
        WHERE s.env = $1 AND s.session_id = $2 ORDER BY s.sequence DESC LIMIT 1`,
      [env, snapId]
    )
  }
  results.push(await compare("3. restore (10 trades)", rawRestore, () => run(Restore.run(snapId)), { runs: 1_000 }))

  // 4. The runner loop with persistence on (real Redis and PostgreSQL) and off.
  const campaign = campaigns.aggressive!
  const market = { seed: 7, tickMs: 1000 }
  const loopSessionId = SessionId.make("sess_benchloop1")
  const perLoop = await run(Effect.scoped(Effect.gen(function*() {
    const session = yield* Session.initialize({
      mode: "CLEAN_RESET",
      sessionId: loopSessionId,
      newState: (id) => newSessionState({ sessionId: id, campaign, startTime: simulatedStart }),
      policy: { snapshotInterval: "5 minutes" }
    })
    let on = session.initialState
    let off = session.initialState
    const onTimes: Array<number> = []
    const offTimes: Array<number> = []
    let trades = 0
    for (let i = 0; i < 3_000; i++) {
      const t0 = performance.now()
      off = yield* Runner.run(Runner.withoutPersistence, off, { campaign, market, targetLoops: off.session.loopCount + 1 })
      const t1 = performance.now()
      const before = on.metrics.tradesOpened + on.metrics.tradesClosed
      on = yield* Runner.run(session, on, { campaign, market, targetLoops: on.session.loopCount + 1 })
      const t2 = performance.now()
      if (i >= 300) {
        offTimes.push((t1 - t0) * 1000)
        onTimes.push((t2 - t1) * 1000)
        if (on.metrics.tradesOpened + on.metrics.tradesClosed !== before) trades++
      }
    }
    return { onTimes, offTimes, trades }
  })))
  const loopOn = time(perLoop.onTimes)
  const loopOff = time(perLoop.offTimes)
  results.push({ name: "4. runner loop, persistence on vs off", baseline: loopOff, ours: loopOn, ratio: loopOn.p50 / loopOff.p50 })
  notes.push({
    benchmark: "4",
    persistenceCostPerLoopP50Ms: (loopOn.p50 - loopOff.p50) / 1000,
    persistenceCostPerLoopMeanMs: (loopOn.mean - loopOff.mean) / 1000,
    loopsWithATrade: `${perLoop.trades} of ${perLoop.onTimes.length}`,
    onP99Ms: loopOn.p99 / 1000
  })

  // 6. An order intent made durable before its legs are sent; 7. reconciling 100 intents (bench/OrderIntents.ts).
  const intentState = await stateWith(SessionId.make("sess_benchintent1"), 10)
  results.push(await run(intentBench({ env, base: intentState, sql, redis, runs: 1_000 })))
  results.push(await runtime.runPromise(reconcileBench({ base: await stateWith(SessionId.make("sess_benchrecon1"), 0), runs: 40 })))

  // 5a. Scaling: restore time and snapshot size by open trades.
  const scaling: Array<Record<string, unknown>> = []
  for (const trades of [10, 100, 1_000, 10_000]) {
    const id = SessionId.make(`sess_benchscale${trades}`)
    const state = await stateWith(id, trades)
    const saved = await run(Effect.flatMap(SnapshotStore, (s) => s.save({ sessionId: id, snapshotType: "trade", sequence: 1, fencingToken: 1, createdAt: 0 }, state)))
    await run(Effect.flatMap(LiveStateStore, (s) => s.save(state)))
    const bytes = await sql.query(
      `SELECT pg_column_size(s.session) + coalesce(pg_column_size(p.positions), 0) + coalesce(pg_column_size(p.positions_gzip), 0)
              + pg_column_size(m.metrics) + pg_column_size(r.risk_guard) AS stored,
              octet_length(coalesce(p.positions::text, '')) AS positions_jsonb_text
         FROM session_snapshots s JOIN position_snapshots p USING (snapshot_id) JOIN metrics_snapshots m USING (snapshot_id)
         JOIN risk_guard_snapshots r USING (snapshot_id) WHERE s.snapshot_id = $1`,
      [saved.snapshotId]
    )
    const restoreTimes: Array<number> = []
    const fromSnapshot: Array<number> = []
    for (let i = 0; i < (trades >= 10_000 ? 7 : 21); i++) {
      let t = performance.now()
      const report = await run(Restore.run(id))
      restoreTimes.push(performance.now() - t)
      if (report.outcome !== "restored") throw new Error(`restore of ${trades} trades: ${report.outcome}`)
      t = performance.now()
      await run(Effect.flatMap(SnapshotStore, (s) => s.loadLatest(id)).pipe(Effect.map(Option.getOrThrow)))
      fromSnapshot.push(performance.now() - t)
    }
    const jsonBytes = Buffer.byteLength(JSON.stringify(encoded(state)))
    scaling.push({
      openTrades: trades,
      stateJsonBytes: jsonBytes,
      snapshotStoredBytes: Number(bytes.rows[0].stored),
      restoreP50Ms: +percentile([...restoreTimes].sort((a, b) => a - b), 50).toFixed(2),
      snapshotReadP50Ms: +percentile([...fromSnapshot].sort((a, b) => a - b), 50).toFixed(2)
    })
  }

  // 5b. 100 concurrent sessions, each saving its live state every loop, for 3 seconds.
  const sessions = await Promise.all(Array.from({ length: 100 }, (_, i) => stateWith(SessionId.make(`sess_benchmany${i}`), 3)))
  const throughput = await run(Effect.gen(function*() {
    const store = yield* LiveStateStore
    let saves = 0
    const deadline = Date.now() + 3_000
    yield* Effect.forEach(sessions, (start) =>
      Effect.gen(function*() {
        let state = start
        while (Date.now() < deadline) {
          state = { ...state, session: { ...state.session, loopCount: state.session.loopCount + 1 } }
          yield* store.save(state)
          saves++
        }
      }), { concurrency: "unbounded", discard: true })
    return saves / 3
  }))

  if (json) {
    process.stdout.write(`${JSON.stringify({ node: process.version, env, results, notes, scaling, concurrentSessions: { sessions: 100, savesPerSecond: Math.round(throughput) } }, null, 2)}\n`)
  } else {
    process.stdout.write(`${formatTable(results)}\n\n`)
    for (const note of notes) process.stdout.write(`${JSON.stringify(note)}\n`)
    process.stdout.write("\nscaling (restore = live tier + newest snapshot read, verified, decoded, chosen):\n")
    for (const row of scaling) process.stdout.write(`${JSON.stringify(row)}\n`)
    process.stdout.write(`\n100 concurrent sessions saving live state every loop: ${Math.round(throughput)} saves/s sustained over 3 s\n`)
  }
} finally {
  await sql.query("DELETE FROM session_snapshots WHERE env = $1", [env]).catch(() => undefined)
  for (const table of ["session_leases", "session_events", "trade_ledger"]) await sql.query(`DELETE FROM ${table} WHERE env = $1`, [env]).catch(() => undefined)
  const keys = await redis.keys(`arbitrage:state:${env}:*`)
  if (keys.length > 0) await redis.del(...keys)
  await sql.end()
  redis.disconnect()
  await runtime.dispose()
}
