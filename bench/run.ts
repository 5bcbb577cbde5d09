/**
 * `npm run bench` (`-- --json` for machine-readable results): our persistence
 * next to the raw drivers doing the same work (`RawDrivers.ts`: the same values
 * serialised inside the timed region, the same bytes in the same round trips,
 * the same one statement for a snapshot, both tiers read at once for a
 * restore and parsed), side by side in one process and one fiber, same data,
 * same servers, warm-up first; p50, p99 and the ratio ours / raw; then what
 * bounds the live save (our script by the raw driver, the planning alone), the
 * live save by open trades, and 100 sessions in one process.
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
import { Env, SessionId, TradeId } from "../src/domain/Ids.ts"
import { encodeEngineState } from "../src/domain/StateCodec.ts"
import * as Restore from "../src/recovery/Restore.ts"
import { newSessionState, simulatedStart } from "../src/runner/ArbitrageStrategy.ts"
import { campaigns } from "../src/runner/Campaign.ts"
import * as Runner from "../src/runner/Runner.ts"
import * as Session from "../src/session/Session.ts"
import { planLiveWrite } from "../src/store/internal/LiveStateDelta.ts"
import { rowOfSnapshot } from "../src/store/internal/SnapshotRows.ts"
import { LiveStateStore } from "../src/store/LiveStateStore.ts"
import { durableOn, postgresLayer, redisLiveLayer, type Stores } from "../src/store/Persistence.ts"
import * as RedisClient from "../src/store/RedisClient.ts"
import * as RedisLiveStateStore from "../src/store/RedisLiveStateStore.ts"
import { SnapshotStore } from "../src/store/SnapshotStore.ts"
import { engineStateArbitrary } from "../test/support/StateArbitrary.ts"
import { alternate, alternateEffects, type Comparison, formatTable, percentile, time } from "./Harness.ts"
import { freshProtection } from "../test/support/Protection.ts"
import { intentBench, reconcileBench } from "./OrderIntents.ts"
import { loadSaveScript, rawLiveSaveLoop, rawLiveSaveWhole, rawRestore, rawScriptLoop, rawSnapshot } from "./RawDrivers.ts"

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
// As many connections as ours has, so that the raw restore's reads overlap as ours do.
const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 })

const stateWith = async (sessionId: SessionId, trades: number): Promise<EngineState> => {
  const [state] = await Effect.runPromise(
    Arbitrary.sampleEffect(engineStateArbitrary({ minOpenTrades: trades, maxOpenTrades: trades }), { count: 1, seed: trades })
  )
  return { ...state!, session: { ...state!.session, sessionId } }
}
const encoded = (state: EngineState) => Result.getOrThrow(encodeEngineState(state)) as Record<string, any>
/** The state a loop later: its loop count moved on, nothing else changed (the same objects). */
const nextLoop = (state: EngineState, i: number): EngineState => ({ ...state, session: { ...state.session, loopCount: state.session.loopCount + i + 1 } })
/** The state with the trade `id` replaced by a copy of itself: one trade changed. */
const withTradeCopied = (state: EngineState, id: string): EngineState => ({
  ...state,
  positions: { ...state.positions, activeTrades: { ...state.positions.activeTrades, [id]: { ...state.positions.activeTrades[id as TradeId]! } } }
})

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
  const rawLive = { ...live, session: { ...live.session, sessionId: rawId } }
  const liveCopies = [live, structuredClone(live)] // different objects each save: every part is written
  results.push(await run(alternate("1. live save, whole state (10 trades)", 2_000, 200, () => rawLiveSaveWhole(redis, env, rawLive, "raw"), (i) =>
    hotStore.save(liveCopies[i % 2]!))))

  // 1b. A loop that changed no trade: our incremental save vs a raw MULTI of the session section and the mark.
  results.push(await run(alternate(
    "1b. live save, quiet loop (10 trades)",
    2_000,
    200,
    (i) => rawLiveSaveLoop(redis, env, nextLoop(rawLive, i), [], "raw"),
    (i) => hotStore.save(nextLoop(live, i))
  )))

  // 1c. What bounds the quiet loop: the same writes through our save script by the raw driver (the
  // server-side checks without our client side), and our client side alone (planning and encoding).
  await loadSaveScript(redis)
  const scriptId = SessionId.make("sess_benchlivs1")
  const scripted = { ...live, session: { ...live.session, sessionId: scriptId } }
  await rawLiveSaveWhole(redis, env, scripted, "0:s-1")
  const quietScript = await run(alternate("1c. quiet loop: raw MULTI vs raw run of our script", 2_000, 200, (i) =>
    rawLiveSaveLoop(redis, env, nextLoop(rawLive, i), [], "raw"), (i) => Effect.promise(() => rawScriptLoop(redis, env, nextLoop(scripted, i), `0:s${i - 1}`, `0:s${i}`))))
  results.push(quietScript)
  const planCache = Result.getOrThrow(planLiveWrite(live, [], undefined)).cache
  const planTimes: Array<number> = []
  for (let i = 0; i < 20_000; i++) {
    const t = performance.now()
    planLiveWrite(nextLoop(live, i), [], planCache)
    if (i >= 2_000) planTimes.push((performance.now() - t) * 1000)
  }
  notes.push({ benchmark: "1c", quietLoopPlanP50Us: +time(planTimes).p50.toFixed(2), note: "planning and encoding a quiet loop's save, CPU only" })

  // 2. A durable snapshot: ours (encode, checksum, the lease check, one statement) vs the same one raw statement.
  const snapId = SessionId.make("sess_benchsnap1")
  const snapState = await stateWith(snapId, 10)
  const rawSnapId = SessionId.make("sess_benchsnapr")
  const rawSnapState = { ...snapState, session: { ...snapState.session, sessionId: rawSnapId } }
  results.push(await run(alternate("2. durable snapshot (10 trades)", 1_000, 100, (i) => rawSnapshot(pool, env, rawSnapId, i + 1, rawSnapState), (i) =>
    snapshotStore.save({ sessionId: snapId, snapshotType: "trade", sequence: i + 1, fencingToken: 1, createdAt: 0 }, snapState))))

  const sealTimes: Array<number> = []
  for (let i = 0; i < 3_000; i++) {
    const t = performance.now()
    rowOfSnapshot({ sessionId: snapId, snapshotType: "trade", sequence: i + 1, fencingToken: 1, createdAt: 0 }, snapState)
    if (i >= 300) sealTimes.push((performance.now() - t) * 1000)
  }
  notes.push({ benchmark: "2", sealP50Us: +time(sealTimes).p50.toFixed(1), note: "encoding and the canonical checksum of the snapshot, CPU only (the raw side hashes its bytes instead)" })

  // 3. Restore (read both tiers and the lease at once, verify, decode, choose) vs the same three reads, parsed.
  await run(hotStore.save(snapState))
  await run(hotStore.save(rawSnapState))
  results.push(await run(alternate("3. restore (10 trades)", 1_000, 100, () => rawRestore(redis, pool, env, rawSnapId), () => Restore.run(snapId))))

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
    // The live state written by the same writer as the snapshot (token 1), as a runner writes both.
    await run(Effect.flatMap(LiveStateStore, (s) => Effect.andThen(s.raiseFence(id, 1), s.save(state, 1))))
    const bytes = await sql.query(
      `SELECT pg_column_size(s.session) + coalesce(pg_column_size(p.positions), 0) + coalesce(pg_column_size(p.positions_gzip), 0)
              + pg_column_size(m.metrics) + pg_column_size(r.risk_guard) AS stored,
              octet_length(coalesce(p.positions::text, '')) AS positions_jsonb_text
         FROM session_snapshots s JOIN position_snapshots p USING (snapshot_id) JOIN metrics_snapshots m USING (snapshot_id)
         JOIN risk_guard_snapshots r USING (snapshot_id) WHERE s.snapshot_id = $1`,
      [saved.snapshotId]
    )
    /** p50 of `runs` restores of the session as it stands (each one must restore). */
    const restoreP50 = async () => {
      const times: Array<number> = []
      for (let i = 0; i < (trades >= 10_000 ? 7 : 21); i++) {
        const t = performance.now()
        const report = await run(Restore.run(id))
        times.push(performance.now() - t)
        if (report.outcome !== "restored") throw new Error(`restore of ${trades} trades: ${report.outcome}`)
      }
      return +percentile(times.sort((a, b) => a - b), 50).toFixed(2)
    }
    const fromSnapshot: Array<number> = []
    for (let i = 0; i < (trades >= 10_000 ? 7 : 21); i++) {
      const t = performance.now()
      await run(Effect.flatMap(SnapshotStore, (s) => s.loadLatest(id)).pipe(Effect.map(Option.getOrThrow)))
      fromSnapshot.push(performance.now() - t)
    }
    // Both tiers at the same loop: the snapshot wins the tie, and only it is decoded.
    const restoreTieP50 = await restoreP50()
    // The live tier a loop ahead (a runner's usual case between snapshots): only the live state is decoded.
    await run(Effect.flatMap(LiveStateStore, (s) => s.save(nextLoop(state, 0), 1)))
    const restoreLiveAheadP50 = await restoreP50()
    const jsonBytes = Buffer.byteLength(JSON.stringify(encoded(state)))
    scaling.push({
      openTrades: trades,
      stateJsonBytes: jsonBytes,
      snapshotStoredBytes: Number(bytes.rows[0].stored),
      restoreSnapshotChosenP50Ms: restoreTieP50,
      restoreLiveAheadP50Ms: restoreLiveAheadP50,
      snapshotReadP50Ms: +percentile([...fromSnapshot].sort((a, b) => a - b), 50).toFixed(2)
    })
  }

  // 5b. 100 concurrent sessions, each saving its live state every loop, for 3 seconds: on one connection
  // without auto-pipelining (one write syscall per save, as before) and with it (the default).
  const manySessions = async (autoPipelining: boolean) => {
    const layer = RedisLiveStateStore.layer(env).pipe(Layer.provide(RedisClient.layer({ url: Redacted.make(redisUrl), autoPipelining })))
    const tag = autoPipelining ? "p" : "n"
    const sessions = await Promise.all(Array.from({ length: 100 }, (_, i) => stateWith(SessionId.make(`sess_benchmany${tag}${i}`), 3)))
    return Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const store = yield* LiveStateStore
      const latencies: Array<number> = []
      const deadline = Date.now() + 3_000
      const cpu = process.cpuUsage()
      yield* Effect.forEach(sessions, (start) =>
        Effect.gen(function*() {
          let state = start
          while (Date.now() < deadline) {
            state = { ...state, session: { ...state.session, loopCount: state.session.loopCount + 1 } }
            const t = performance.now()
            yield* store.save(state)
            latencies.push((performance.now() - t) * 1000)
          }
        }), { concurrency: "unbounded", discard: true })
      const used = process.cpuUsage(cpu)
      const timing = time(latencies)
      return {
        autoPipelining,
        savesPerSecond: Math.round(latencies.length / 3),
        p50Us: +timing.p50.toFixed(0),
        p99Us: +timing.p99.toFixed(0),
        cpuUserMsPerSecond: Math.round(used.user / 1000 / 3),
        cpuSystemMsPerSecond: Math.round(used.system / 1000 / 3)
      }
    })).pipe(Effect.provide(layer)))
  }
  const concurrentSessions = [await manySessions(false), await manySessions(true)]

  // 5c. A snapshot of 10,000 open trades while a runner loops: how long the save takes, how long it blocks
  // the event loop at most, and the p99 of a quiet loop's live save running beside it, against the same loop alone.
  const bigId = SessionId.make("sess_benchbigsnap")
  const bigState = await stateWith(bigId, 10_000)
  const loopId = SessionId.make("sess_benchbigloop")
  const looping = await stateWith(loopId, 10)
  await run(hotStore.save(looping))
  /** Quiet-loop live saves, one after another, until `stop` says so (and at least `count`); their timing. */
  const loopUntil = (stop: () => boolean, count: number) =>
    run(Effect.gen(function*() {
      const times: Array<number> = []
      let state = looping
      for (let i = 0; i < count || !stop(); i++) {
        state = nextLoop(state, 0)
        const t = performance.now()
        yield* hotStore.save(state)
        times.push((performance.now() - t) * 1000)
      }
      return { ...time(times), max: Math.max(...times) }
    }))
  const alone = await loopUntil(() => true, 2_000)
  const bigSnapshots: Array<Record<string, unknown>> = []
  for (let i = 1; i <= 5; i++) {
    // The longest the event loop went without running a 1 ms timer, while the snapshot was saved.
    let last = performance.now()
    let longestGap = 0
    const ticker = setInterval(() => {
      const now = performance.now()
      longestGap = Math.max(longestGap, now - last)
      last = now
    }, 1)
    let saved = false
    const beside = loopUntil(() => saved, 0)
    await new Promise((resolve) => setTimeout(resolve, 20))
    longestGap = 0
    last = performance.now()
    const t = performance.now()
    await run(snapshotStore.save({ sessionId: bigId, snapshotType: "trade", sequence: i, fencingToken: 1, createdAt: 0 }, bigState))
    const took = performance.now() - t
    saved = true
    const loop = await beside
    clearInterval(ticker)
    bigSnapshots.push({ saveMs: +took.toFixed(1), eventLoopLongestGapMs: +longestGap.toFixed(1), loopSaveP99Us: +loop.p99.toFixed(0), loopSaveMaxMs: +(loop.max / 1000).toFixed(1) })
  }
  notes.push({ benchmark: "5c", quietLoopAloneP99Us: +alone.p99.toFixed(0), quietLoopAloneMaxMs: +(alone.max / 1000).toFixed(1), snapshotsOf10000Trades: bigSnapshots })

  // 1d. Scaling of the live save by open trades (last: its large states weigh on the heap): a quiet loop, a loop that changed one trade, a loop that changed them all.
  const saveScaling: Array<Record<string, unknown>> = []
  for (const trades of [1, 10, 100, 1_000, 10_000]) {
    const id = SessionId.make(`sess_benchsave${trades}`)
    const twin = SessionId.make(`sess_benchsavr${trades}`)
    const state = await stateWith(id, trades)
    const rawState = { ...state, session: { ...state.session, sessionId: twin } }
    const runs = trades >= 10_000 ? 60 : trades >= 1_000 ? 300 : 1_000
    await run(hotStore.save(state))
    await rawLiveSaveWhole(redis, env, rawState, "raw")
    const firstId = Object.keys(state.positions.activeTrades)[0]!
    // The states are made before the clock starts: copying a record of 10,000 trades is the runner's work, not the save's.
    const loops = (from: EngineState, count: number, change: (s: EngineState, i: number) => EngineState = (s) => s) =>
      Array.from({ length: count }, (_, i) => change(nextLoop(from, i), i))
    const quietStates = [loops(rawState, runs + 20), loops(state, runs + 20)] as const
    const quiet = await run(alternate("quiet", runs, 20, (i) => rawLiveSaveLoop(redis, env, quietStates[0][i]!, [], "raw"), (i) => hotStore.save(quietStates[1][i]!)))
    const copied = (s: EngineState) => withTradeCopied(s, firstId)
    const oneStates = [loops(rawState, runs + 20, copied), loops(state, runs + 20, copied)] as const
    const one = await run(alternate("one trade", runs, 20, (i) => rawLiveSaveLoop(redis, env, oneStates[0][i]!, [firstId], "raw"), (i) => hotStore.save(oneStates[1][i]!)))
    const copies = [state, structuredClone(state)]
    const rawCopies = [rawState, structuredClone(rawState)]
    const everyTrade = Object.keys(state.positions.activeTrades)
    const all = await run(alternate("all trades", Math.max(20, runs / 5), 5, (i) => rawLiveSaveLoop(redis, env, nextLoop(rawCopies[i % 2]!, i), everyTrade, "raw"), (i) =>
      hotStore.save(nextLoop(copies[i % 2]!, i))))
    const cell = (c: Comparison) => ({ oursP50Us: +c.ours.p50.toFixed(1), rawP50Us: +c.baseline.p50.toFixed(1), ratio: +c.ratio.toFixed(2) })
    saveScaling.push({ openTrades: trades, quiet: cell(quiet), oneTrade: cell(one), allTrades: cell(all) })
    // What the store remembers of the session is let go (a large one would weigh on what is measured after it).
    await run(hotStore.delete(id))
  }

  // 8. What sealing (STATE_KEYS) and encryption (STATE_ENCRYPTION) cost: our stores with them against
  // our stores without, the same calls alternated in one fiber (its baseline is ours, not a raw driver's).
  const protectedStores = (encrypt: boolean) =>
    ManagedRuntime.make(Layer.mergeAll(
      redisLiveLayer(env, Redacted.make(redisUrl), undefined, undefined, freshProtection(["bench"], encrypt)),
      durableOn(env, postgresLayer(Redacted.make(databaseUrl), { maxConnections: 4 }), { migrate: false, protection: freshProtection(["bench"], encrypt) })
    ))
  const plainContext = await runtime.runPromise(Effect.context<Stores>())
  const sealing: Array<Comparison> = []
  for (const encrypt of [false, true]) {
    const label = encrypt ? "sealed and encrypted" : "sealed"
    const tag = encrypt ? "e" : "s"
    const sealedRuntime = protectedStores(encrypt)
    try {
      const sealedContext = await sealedRuntime.runPromise(Effect.context<Stores>())
      const inContext = <A, E>(effect: Effect.Effect<A, E, Stores>, context: typeof plainContext) => Effect.provideContext(effect, context)
      for (const trades of [10, 10_000]) {
        const plainId = SessionId.make(`sess_benchplain${tag}${trades}`)
        const sealedId = SessionId.make(`sess_benchseal${tag}${trades}`)
        const plainState = await stateWith(plainId, trades)
        const sealedState = { ...plainState, session: { ...plainState.session, sessionId: sealedId } }
        const runs = trades >= 10_000 ? 300 : 1_000
        const plainLoops = Array.from({ length: runs + 50 }, (_, i) => nextLoop(plainState, i))
        const sealedLoops = Array.from({ length: runs + 50 }, (_, i) => nextLoop(sealedState, i))
        await sealedRuntime.runPromise(Effect.flatMap(LiveStateStore, (s) => s.save(sealedState)))
        await run(Effect.flatMap(LiveStateStore, (s) => s.save(plainState)))
        sealing.push(await run(alternateEffects(`8. live save, quiet loop (${trades} trades): ${label} vs not`, runs, 50, (i) =>
          inContext(Effect.flatMap(LiveStateStore, (s) => s.save(plainLoops[i]!)), plainContext), (i) =>
          inContext(Effect.flatMap(LiveStateStore, (s) => s.save(sealedLoops[i]!)), sealedContext))))
        if (trades === 10) {
          sealing.push(await run(alternateEffects(`8. durable snapshot (10 trades): ${label} vs not`, 500, 50, (i) =>
            inContext(Effect.flatMap(SnapshotStore, (s) => s.save({ sessionId: plainId, snapshotType: "trade", sequence: i + 1, fencingToken: 0, createdAt: 0 }, plainState)), plainContext), (i) =>
            inContext(Effect.flatMap(SnapshotStore, (s) => s.save({ sessionId: sealedId, snapshotType: "trade", sequence: i + 1, fencingToken: 0, createdAt: 0 }, sealedState)), sealedContext))))
        }
        // Restore: both tiers read, the seals of both verified (the live one over every part), the fresher decoded.
        sealing.push(await run(alternateEffects(`8. restore (${trades} trades): ${label} vs not`, trades >= 10_000 ? 15 : 300, 5, () =>
          inContext(Restore.run(plainId), plainContext), () => inContext(Restore.run(sealedId), sealedContext))))
        await run(Effect.flatMap(LiveStateStore, (s) => s.delete(plainId)))
        await sealedRuntime.runPromise(Effect.flatMap(LiveStateStore, (s) => s.delete(sealedId)))
      }
    } finally {
      await sealedRuntime.dispose()
    }
  }

  if (json) {
    process.stdout.write(`${JSON.stringify({ node: process.version, env, results, notes, scaling, saveScaling, concurrentSessions, sealing }, null, 2)}\n`)
  } else {
    process.stdout.write(`${formatTable(results)}\n\n`)
    for (const note of notes) process.stdout.write(`${JSON.stringify(note)}\n`)
    process.stdout.write("\nscaling (restore = both tiers read, the fresher by their headers verified and decoded; snapshot chosen on a tie, or the live tier a loop ahead):\n")
    for (const row of scaling) process.stdout.write(`${JSON.stringify(row)}\n`)
    process.stdout.write("\nlive save by open trades (p50 µs, ours / raw in the same run):\n")
    for (const row of saveScaling) process.stdout.write(`${JSON.stringify(row)}\n`)
    process.stdout.write("\n100 concurrent sessions saving live state every loop, 3 s, one connection:\n")
    for (const row of concurrentSessions) process.stdout.write(`${JSON.stringify(row)}\n`)
    process.stdout.write("\nsealed state (STATE_KEYS) and encrypted (STATE_ENCRYPTION), ours with them vs ours without:\n")
    process.stdout.write(`${formatTable(sealing)}\n`)
  }
} finally {
  await sql.query("DELETE FROM session_snapshots WHERE env = $1", [env]).catch(() => undefined)
  for (const table of ["session_leases", "session_events", "trade_ledger"]) await sql.query(`DELETE FROM ${table} WHERE env = $1`, [env]).catch(() => undefined)
  const keys = await redis.keys(`arbitrage:state:${env}:*`)
  if (keys.length > 0) await redis.del(...keys)
  await sql.end()
  await pool.end()
  redis.disconnect()
  await runtime.dispose()
}
