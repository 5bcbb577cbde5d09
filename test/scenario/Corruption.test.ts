/**
 * Corruption, all of it: 35 kinds of damage written straight into Redis or
 * PostgreSQL as a real fault (or a buggy writer) would leave it. For each,
 * the restore does not fail, does not restore the damaged data, falls back
 * to the newest good state, and its report names the reason.
 *
 * Every session starts the same way: snapshots #1-#3 (loops 100-300) and a
 * live state ahead of them (loop 400). A live-tier case damages the live
 * state (expect snapshot #3); a durable-tier case removes the live state and
 * damages snapshot #3 (expect snapshot #2). Every state also holds a
 * runner's own sections, which the restore is told of and verifies. Then
 * damage to a snapshot's sealed header (its loop count, its token, its seal),
 * by which a restore decodes only the fresher candidate: the restore chooses
 * what decoding everything would.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Result } from "effect"
import { randomBytes } from "node:crypto"
import { gzipSync } from "node:zlib"
import type { EngineState } from "../../src/domain/EngineState.ts"
import { SessionId } from "../../src/domain/Ids.ts"
import { encodeEngineState } from "../../src/domain/StateCodec.ts"
import * as Restore from "../../src/recovery/Restore.ts"
import { LiveStateStore } from "../../src/store/LiveStateStore.ts"
import * as PgSessionLease from "../../src/store/PgSessionLease.ts"
import * as PgSnapshotStore from "../../src/store/PgSnapshotStore.ts"
import { migrated } from "../../src/store/Persistence.ts"
import { RedisClient } from "../../src/store/RedisClient.ts"
import * as RedisLiveStateStore from "../../src/store/RedisLiveStateStore.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import { type LivePart, sectionKey } from "../../src/store/StateKeys.ts"
import { redisClient, testPostgres } from "../support/Backings.ts"
import { declared, withValues } from "../support/CustomSections.ts"
import { recomputeChecksums } from "../support/Forgery.ts"
import { withoutNegativeZero, expectRestored } from "../support/Results.ts"
import { uniqueEnv } from "../support/Services.ts"
import { sampleStates } from "../support/States.ts"

const env = uniqueEnv("corruption")
/** Small, so that an oversized value is cheap to make. */
const maxSectionBytes = 256 * 1024

const stack = Layer.mergeAll(
  RedisLiveStateStore.layer(env, { maxSectionBytes }),
  PgSnapshotStore.layer(env, { maxSectionBytes }),
  PgSessionLease.layer(env)
).pipe(Layer.provideMerge(Layer.mergeAll(redisClient, migrated(testPostgres))))

interface Damage {
  readonly sessionId: SessionId
  readonly states: ReadonlyArray<EngineState>
  /** The stored (encoded) form of the live state. */
  readonly liveJson: Record<string, any>
  /** Snapshot ids of #1..#3. */
  readonly snapshotIds: ReadonlyArray<number>
}

type Services = RedisClient | PgClient.PgClient | LiveStateStore | SnapshotStore

interface Case {
  readonly name: string
  readonly tier: "live" | "durable" | "both"
  readonly damage: (d: Damage) => Effect.Effect<void, unknown, Services>
  /** Text the report's reason for the damaged candidate contains. */
  readonly reason: string
  /** The snapshot the restore should end on (default: #3 for live damage, #2 otherwise). */
  readonly expectSequence?: number
}

/** Runs `f` on the test's Redis connection, below the store. */
const onRedis = (command: string, f: (client: RedisClient["Service"]["client"]) => Promise<unknown>) =>
  Effect.gen(function*() {
    yield* (yield* RedisClient).use(command, f)
  })

const setRaw = (d: Damage, section: LivePart, text: string | Buffer) =>
  onRedis("SET", (c) => c.set(sectionKey(env, d.sessionId, section), text))


const setLiveJson = (d: Damage, section: LivePart, change: (json: Record<string, any>) => void) => {
  const json = structuredClone(d.liveJson[section])
  change(json)
  return setRaw(d, section, JSON.stringify(json)).pipe(Effect.asVoid)
}

const sectionColumn = {
  custom: ["session_snapshots", "custom"],
  session: ["session_snapshots", "session"],
  positions: ["position_snapshots", "positions"],
  metrics: ["metrics_snapshots", "metrics"],
  riskGuard: ["risk_guard_snapshots", "risk_guard"]
} as const

/** Runs `change` on the stored JSON of one section of snapshot #3 and writes it back. */
const setSnapshotJson = (d: Damage, section: keyof typeof sectionColumn, change: (json: any) => any, reseal = false) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const [table, column] = sectionColumn[section]
    const id = d.snapshotIds[2]!
    const [row] = yield* sql<{ value: unknown }>`SELECT ${sql(column)} AS value FROM ${sql(table)} WHERE snapshot_id = ${id}`
    const changed = change(structuredClone(row!.value))
    yield* section === "positions"
      ? sql`UPDATE position_snapshots SET positions = ${sql.json(changed)}, positions_gzip = NULL WHERE snapshot_id = ${id}`
      : sql`UPDATE ${sql(table)} SET ${sql(column)} = ${sql.json(changed)} WHERE snapshot_id = ${id}`
    if (reseal) yield* resealSnapshot(id)
  })

/** What a buggy writer does: recompute the checksum over whatever is stored now. */
const resealSnapshot = (id: number) => recomputeChecksums(id, { header: false })

type Sql = Effect.Success<typeof PgClient.PgClient>

/** A damage done with raw SQL. */
const sqlOn = (run: (sql: Sql, d: Damage) => Effect.Effect<unknown, unknown, PgClient.PgClient>) => (d: Damage) =>
  Effect.gen(function*() {
    yield* run(yield* PgClient.PgClient, d)
  })

const symbolWithOpenTrade = (d: Damage) => Object.values(d.states[3]!.positions.activeTrades)[0]!.symbol

const cases: ReadonlyArray<Case> = [
  // The live tier (Redis).
  { name: "truncated JSON", tier: "live", damage: (d) => setRaw(d, "positions", JSON.stringify(d.liveJson.positions).slice(0, 40)), reason: "positions is not valid JSON" },
  { name: "binary garbage", tier: "live", damage: (d) => setRaw(d, "metrics", randomBytes(300)), reason: "metrics is not valid JSON" },
  { name: "a NaN literal", tier: "live", damage: (d) => setRaw(d, "metrics", JSON.stringify(d.liveJson.metrics).replace(/"totalPnlUsd":[^,}]+/, "\"totalPnlUsd\":NaN")), reason: "metrics is not valid JSON" },
  { name: "a wrong type", tier: "live", damage: (d) => setLiveJson(d, "session", (j) => (j.loopCount = "many")), reason: "session.loopCount" },
  { name: "a negative count", tier: "live", damage: (d) => setLiveJson(d, "metrics", (j) => (j.tradesClosed = -1)), reason: "metrics.tradesClosed" },
  { name: "a missing section", tier: "live", damage: (d) => onRedis("DEL", (c) => c.del(sectionKey(env, d.sessionId, "riskGuard"))), reason: "lacks section riskGuard" },
  { name: "a section from another session", tier: "live", damage: (d) => setLiveJson(d, "session", (j) => (j.sessionId = "sess_intruder1")), reason: "holds the session section of sess_intruder1" },
  {
    name: "a Redis key of the wrong type",
    tier: "live",
    damage: (d) =>
      onRedis("DEL+LPUSH", async (c) => {
        await c.del(sectionKey(env, d.sessionId, "metrics"))
        await c.lpush(sectionKey(env, d.sessionId, "metrics"), "x")
      }),
    reason: "metrics key holds a Redis list"
  },
  { name: "an unknown future version", tier: "live", damage: (d) => setLiveJson(d, "positions", (j) => (j.version = 99)), reason: "positions has version 99" },
  { name: "an emptied version field", tier: "live", damage: (d) => setLiveJson(d, "metrics", (j) => delete j.version), reason: "metrics has version missing" },
  {
    name: "a broken invariant (an open trade not counted)",
    tier: "live",
    damage: (d) => setLiveJson(d, "riskGuard", (j) => (j.perSymbol[symbolWithOpenTrade(d)].positionCount += 1)),
    reason: "positionCount"
  },
  { name: "an oversized value", tier: "live", damage: (d) => setRaw(d, "positions", "x".repeat(maxSectionBytes + 1)), reason: "over the limit" },
  {
    // Few bytes, many fields: refused by its size in Redis's memory before a field is read, so that
    // millions of them cannot hold Redis (and every other client) while they are gathered.
    name: "a positions hash of very many tiny fields",
    tier: "live",
    damage: (d) =>
      onRedis("DEL+HSET", async (c) => {
        const key = sectionKey(env, d.sessionId, "positions")
        await c.del(key)
        const fields: Array<string> = []
        for (let i = 0; i < 20_000; i++) fields.push(`t:${i}`, "1")
        await c.hset(key, ...fields)
      }),
    reason: "over the limit"
  },
  // The durable tier (PostgreSQL), snapshot #3.
  { name: "a changed value (checksum mismatch)", tier: "durable", damage: (d) => setSnapshotJson(d, "metrics", (j) => ({ ...j, tradesOpened: j.tradesOpened + 1 })), reason: "fails its checksum" },
  { name: "an emptied campaign (the original S5)", tier: "durable", damage: (d) => setSnapshotJson(d, "session", (j) => ({ ...j, campaignId: "" })), reason: "fails its checksum" },
  { name: "a snapshot missing one of its four tables", tier: "durable", damage: sqlOn((sql, d) => sql`DELETE FROM risk_guard_snapshots WHERE snapshot_id = ${d.snapshotIds[2]!}`), reason: "missing its riskGuard section" },
  {
    name: "section rows swapped between snapshots",
    tier: "durable",
    damage: sqlOn((sql, d) =>
      sql`UPDATE metrics_snapshots SET metrics = (SELECT metrics FROM metrics_snapshots WHERE snapshot_id = ${d.snapshotIds[1]!})
           WHERE snapshot_id = ${d.snapshotIds[2]!}`),
    reason: "fails its checksum"
  },
  { name: "a rewritten sequence number", tier: "durable", damage: sqlOn((sql, d) => sql`UPDATE session_snapshots SET sequence = 99 WHERE snapshot_id = ${d.snapshotIds[2]!}`), reason: "fails its checksum" },
  { name: "a rewritten creation time", tier: "durable", damage: sqlOn((sql, d) => sql`UPDATE session_snapshots SET created_at_ms = 1 WHERE snapshot_id = ${d.snapshotIds[2]!}`), reason: "fails its checksum" },
  {
    name: "a duplicated sequence number (refused by the schema; the good snapshots stay)",
    tier: "durable",
    damage: sqlOn((sql, d) =>
      sql`INSERT INTO session_snapshots (env, session_id, sequence, snapshot_type, envelope_version, fencing_token,
            created_at_ms, checksum, loop_count, session_status, session)
          SELECT env, session_id, sequence, snapshot_type, envelope_version, fencing_token, created_at_ms, 'sha256:0',
                 loop_count, session_status, session FROM session_snapshots WHERE snapshot_id = ${d.snapshotIds[2]!}`.pipe(
        Effect.flip,
        Effect.map((error) => assert.include(String(error.reason._tag), "UniqueViolation"))
      )),
    reason: "",
    expectSequence: 3
  },
  { name: "an unknown envelope version", tier: "durable", damage: sqlOn((sql, d) => sql`UPDATE session_snapshots SET envelope_version = 9 WHERE snapshot_id = ${d.snapshotIds[2]!}`), reason: "envelope has version 9" },
  { name: "a JSONB section of the wrong type", tier: "durable", damage: (d) => setSnapshotJson(d, "metrics", () => "metrics"), reason: "fails its checksum" },
  {
    name: "a broken invariant with a recomputed checksum (a buggy writer)",
    tier: "durable",
    damage: (d) => setSnapshotJson(d, "metrics", (j) => ({ ...j, tradesClosed: j.tradesOpened + 1 }), true),
    reason: "metrics.tradesClosed"
  },
  {
    name: "a number beyond double range with a recomputed checksum",
    tier: "durable",
    damage: sqlOn((sql, d) =>
      sql`UPDATE metrics_snapshots SET metrics = jsonb_set(metrics, '{totalPnlUsd}', '1e400'::jsonb)
           WHERE snapshot_id = ${d.snapshotIds[2]!}`.pipe(Effect.andThen(resealSnapshot(d.snapshotIds[2]!)))),
    reason: "metrics.totalPnlUsd"
  },
  {
    name: "another session's state with a recomputed checksum",
    tier: "durable",
    damage: (d) => setSnapshotJson(d, "session", (j) => ({ ...j, sessionId: "sess_intruder2" }), true),
    reason: "found in a snapshot of"
  },
  {
    name: "an oversized JSONB section",
    tier: "durable",
    damage: (d) => setSnapshotJson(d, "positions", (j) => ({ ...j, padding: "x".repeat(maxSectionBytes) })),
    reason: "over the limit"
  },
  {
    name: "a gzip bomb in the compressed positions",
    tier: "durable",
    damage: sqlOn((sql, d) =>
      sql`UPDATE position_snapshots SET positions = NULL, positions_gzip = ${gzipSync(Buffer.alloc(maxSectionBytes * 8, 32))}
           WHERE snapshot_id = ${d.snapshotIds[2]!}`),
    reason: "inflates past the limit"
  },
  {
    name: "damaged compressed positions",
    tier: "durable",
    damage: sqlOn((sql, d) =>
      sql`UPDATE position_snapshots SET positions = NULL, positions_gzip = ${randomBytes(64)} WHERE snapshot_id = ${d.snapshotIds[2]!}`),
    reason: "not valid gzip data"
  },
  // A runner's own sections, in either tier.
  { name: "a custom section that is not valid JSON", tier: "live", damage: (d) => setRaw(d, "custom", "{\"cooldown\""), reason: "custom is not valid JSON" },
  { name: "a custom section its Schema refuses", tier: "live", damage: (d) => setLiveJson(d, "custom", (j) => (j.cooldown.until = -1)), reason: "custom.cooldown.until" },
  { name: "a custom section of a future version", tier: "live", damage: (d) => setLiveJson(d, "custom", (j) => (j.indicators.version = 9)), reason: "custom.indicators has version 9" },
  { name: "a changed custom section (checksum mismatch)", tier: "durable", damage: (d) => setSnapshotJson(d, "custom", (j) => ({ ...j, cooldown: { ...j.cooldown, until: j.cooldown.until + 1 } })), reason: "fails its checksum" },
  {
    name: "a custom section its Schema refuses with a recomputed checksum (a buggy writer)",
    tier: "durable",
    damage: (d) => setSnapshotJson(d, "custom", (j) => ({ ...j, book_cursor: { ...j.book_cursor, sequence: -3 } }), true),
    reason: "custom.book_cursor.sequence"
  },
  { name: "an oversized custom section", tier: "durable", damage: (d) => setSnapshotJson(d, "custom", (j) => ({ ...j, padding: { version: 1, x: "x".repeat(maxSectionBytes) } })), reason: "over the limit" },
  // Both tiers at once.
  {
    name: "the live state and the latest snapshot both damaged",
    tier: "both",
    damage: (d) =>
      setRaw(d, "session", "{").pipe(Effect.andThen(setSnapshotJson(d, "metrics", (j) => ({ ...j, winningTrades: j.winningTrades + 1 })))),
    reason: "fails its checksum"
  }
]

layer(stack, { timeout: "120 seconds" })("corruption suite", (it) => {
  it("has at least 20 kinds of damage", () => {
    assert.isAtLeast(cases.length, 20)
  })

  it.effect("a section over the limit a restore reads is refused when written, by both tiers, and what was stored stays", () =>
    Effect.gen(function*() {
      const liveStore = yield* LiveStateStore
      const snapshots = yield* SnapshotStore
      const sessionId = SessionId.make(`sess_toolarge${randomBytes(2).toString("hex")}`)
      const [first] = yield* sampleStates(sessionId, { count: 1, seed: 99 })
      yield* snapshots.save({ sessionId, snapshotType: "trade", sequence: 1, fencingToken: 0, createdAt: 0 }, first!)
      yield* liveStore.save(first!)
      const huge = withValues({ ...first!, session: { ...first!.session, loopCount: first!.session.loopCount + 1 } }, {
        cooldown: { until: 1, symbols: Array.from({ length: 5 }, () => "x".repeat(20)) },
        indicators: { emaFast: 1, emaSlow: 1, window: [] }
      })
      const oversized = { ...huge, custom: { ...huge.custom, padding: { version: 1, text: "x".repeat(maxSectionBytes) } } }
      for (const refused of [
        yield* Effect.flip(liveStore.save(oversized)),
        yield* Effect.flip(snapshots.save({ sessionId, snapshotType: "trade", sequence: 2, fencingToken: 0, createdAt: 1 }, oversized))
      ]) {
        assert.strictEqual(refused._tag, "StateCodecError")
        assert.include(refused.message, `over the limit of ${maxSectionBytes} a restore reads; not written`)
      }
      // Measured as each tier measures it when it reads: 1,000 numbers of 1e300 are 7 KB of JSON, which
      // Redis keeps as is, and 300 KB in PostgreSQL's text form (301 digits each), which is over its limit.
      const dense = { ...huge, custom: { ...huge.custom, dense: { version: 1, xs: Array.from({ length: 1_000 }, () => 1e300) } } }
      yield* liveStore.save(dense)
      const denseRefused = yield* Effect.flip(snapshots.save({ sessionId, snapshotType: "trade", sequence: 2, fencingToken: 0, createdAt: 1 }, dense))
      assert.include(denseRefused.message, "custom is")
      assert.include(denseRefused.message, "a restore reads; not written")
      yield* liveStore.save(first!)
      // Positions too: a hash of many trades (its fields summed, as a load sums them) over the limit.
      const [crowded] = yield* sampleStates(sessionId, { count: 1, seed: 98, minOpenTrades: 500, maxOpenTrades: 500 })
      const many = { ...crowded!, session: { ...crowded!.session, loopCount: first!.session.loopCount + 2 } }
      for (const refused of [
        yield* Effect.flip(liveStore.save(many)),
        yield* Effect.flip(snapshots.save({ sessionId, snapshotType: "trade", sequence: 2, fencingToken: 0, createdAt: 2 }, many))
      ]) {
        assert.strictEqual(refused._tag, "StateCodecError")
        assert.include(refused.message, "positions is")
        assert.include(refused.message, "a restore reads; not written")
      }
      const report = expectRestored(yield* Restore.run(sessionId, { sections: declared }))
      assert.deepStrictEqual(report.state, withoutNegativeZero(first!))
      // Nothing unreadable was left behind in either tier.
      assert.deepStrictEqual(report.skipped.filter((skipped) => skipped.kind === "invalid"), [])
    }))

  /**
   * Snapshots #1-#3 (at `snapshotLoops`, 100-300 unless told, written with `snapshotToken`) and a
   * live state at `liveLoop` written with `liveToken`, then `damage` to snapshot #3's row: a
   * restore, and the states.
   */
  const headerCase = (
    name: string,
    options: {
      readonly liveLoop: number
      readonly snapshotToken: number
      readonly liveToken: number
      readonly snapshotLoops?: readonly [number, number, number]
    },
    damage: (sql: PgClient.PgClient, snapshotId: number) => Effect.Effect<unknown, unknown>
  ) =>
    Effect.gen(function*() {
      const liveStore = yield* LiveStateStore
      const snapshots = yield* SnapshotStore
      const sql = yield* PgClient.PgClient
      const sessionId = SessionId.make(`sess_header${name}${randomBytes(2).toString("hex")}`)
      const sampled = yield* sampleStates(sessionId, { count: 4, seed: 7, minOpenTrades: 1, maxOpenTrades: 4 })
      const loops = [...(options.snapshotLoops ?? [100, 200, 300]), options.liveLoop]
      const states = sampled.map((state, i) => ({ ...state, session: { ...state.session, loopCount: loops[i]! } }))
      const snapshotIds: Array<number> = []
      for (const [i, state] of states.slice(0, 3).entries()) {
        snapshotIds.push((yield* snapshots.save({ sessionId, snapshotType: "trade", sequence: i + 1, fencingToken: options.snapshotToken, createdAt: i }, state)).snapshotId)
      }
      yield* liveStore.raiseFence(sessionId, options.liveToken)
      yield* liveStore.save(states[3]!, options.liveToken)
      yield* damage(sql, snapshotIds[2]!)
      return { report: expectRestored(yield* Restore.run(sessionId)), states }
    })

  it.effect("the live state ahead of an intact header: the snapshot is passed over undecoded, by its header", () =>
    Effect.gen(function*() {
      const { report, states } = yield* headerCase("intact", { liveLoop: 400, snapshotToken: 1, liveToken: 1 }, () => Effect.void)
      assert.strictEqual(report.source, "live")
      assert.deepStrictEqual(report.state, withoutNegativeZero(states[3]!))
      assert.deepStrictEqual(report.skipped.map((s) => [s.sequence, s.kind]), [[3, "superseded"]])
      assert.include(report.skipped[0]!.reason, "by its sealed header; not decoded")
    }))

  it.effect("a damaged header seal, or none (a row from before headers): both candidates decoded, the same state chosen", () =>
    Effect.gen(function*() {
      for (const seal of ["sha256:0", null]) {
        const { report, states } = yield* headerCase("seal", { liveLoop: 400, snapshotToken: 1, liveToken: 1 }, (sql, id) =>
          sql`UPDATE session_snapshots SET header_checksum = ${seal} WHERE snapshot_id = ${id}`)
        assert.strictEqual(report.source, "live")
        assert.deepStrictEqual(report.state, withoutNegativeZero(states[3]!))
        assert.deepStrictEqual(report.skipped.map((s) => [s.sequence, s.kind]), [[3, "superseded"]])
        assert.include(report.skipped[0]!.reason, "valid but at loop 300")
      }
    }))

  it.effect("a loop count column lowered below the live state's: the header does not hold, and the fresher snapshot still wins", () =>
    Effect.gen(function*() {
      const { report, states } = yield* headerCase("loop", { liveLoop: 250, snapshotToken: 1, liveToken: 1 }, (sql, id) =>
        sql`UPDATE session_snapshots SET loop_count = 10 WHERE snapshot_id = ${id}`)
      assert.strictEqual(report.source, "snapshot")
      assert.strictEqual(report.sequence, 3)
      assert.deepStrictEqual(report.state, withoutNegativeZero(states[2]!))
    }))

  it.effect("a damaged payload under an intact header, an older snapshot fresher than the live state: it still wins, as decoding everything chooses", () =>
    Effect.gen(function*() {
      // A history a resume fell back from: #2 is at loop 500, #3 (the newest) at 300, the live state at 400.
      const { report, states } = yield* headerCase("older", { liveLoop: 400, snapshotToken: 1, liveToken: 1, snapshotLoops: [100, 500, 300] }, (sql, id) =>
        sql`UPDATE metrics_snapshots SET metrics = jsonb_set(metrics, '{totalPnlUsd}', to_jsonb((metrics->>'totalPnlUsd')::float8 + 1)) WHERE snapshot_id = ${id}`)
      assert.strictEqual(report.source, "snapshot")
      assert.strictEqual(report.sequence, 2)
      assert.deepStrictEqual(report.state, withoutNegativeZero(states[1]!))
      assert.deepStrictEqual(report.skipped.map((s) => [s.source, s.sequence, s.kind]).sort(), [["live", null, "superseded"], ["snapshot", 3, "invalid"]])
    }))

  it.effect("the live state ahead of every snapshot's header, the newest's payload damaged: the live state, without decoding the snapshots", () =>
    Effect.gen(function*() {
      const { report, states } = yield* headerCase("olderbehind", { liveLoop: 400, snapshotToken: 1, liveToken: 1 }, (sql, id) =>
        sql`UPDATE metrics_snapshots SET metrics = jsonb_set(metrics, '{totalPnlUsd}', to_jsonb((metrics->>'totalPnlUsd')::float8 + 1)) WHERE snapshot_id = ${id}`)
      assert.strictEqual(report.source, "live")
      assert.deepStrictEqual(report.state, withoutNegativeZero(states[3]!))
      assert.include(report.skipped[0]!.reason, "by its sealed header; not decoded")
    }))

  it.effect("a fencing token column lowered to a stale live writer's: the header does not hold, and the live state stays stale", () =>
    Effect.gen(function*() {
      const { report, states } = yield* headerCase("token", { liveLoop: 400, snapshotToken: 2, liveToken: 1 }, (sql, id) =>
        sql`UPDATE session_snapshots SET fencing_token = 1 WHERE snapshot_id = ${id}`)
      // Snapshot #3 fails its checksum (the token is in its metadata); #2, written with token 2, shows the live writer had lost the session.
      assert.strictEqual(report.source, "snapshot")
      assert.strictEqual(report.sequence, 2)
      assert.deepStrictEqual(report.state, withoutNegativeZero(states[1]!))
      assert.deepStrictEqual(report.skipped.map((s) => [s.source, s.kind]).sort(), [["live", "stale"], ["snapshot", "invalid"]])
    }))

  cases.forEach((testCase, index) => {
    it.effect(`${testCase.name}: not restored; falls back to the newest good state and says why`, () =>
      Effect.gen(function*() {
        const liveStore = yield* LiveStateStore
        const snapshots = yield* SnapshotStore
        const sessionId = SessionId.make(`sess_corrupt${index}x${randomBytes(2).toString("hex")}`)
        const sampled = yield* sampleStates(sessionId, { count: 4, seed: 100 + index, minOpenTrades: 1, maxOpenTrades: 4 })
        const states = sampled.map((state, i) =>
          withValues({ ...state, session: { ...state.session, loopCount: 100 * (i + 1) } }, {
            indicators: { emaFast: i, emaSlow: i / 2, window: [i, i + 1] },
            cooldown: { until: 1_000 * i, symbols: ["BTC/KRW"] },
            bookCursor: { venue: "upbit", sequence: 10 * i, stale: false, note: null }
          })
        )
        const snapshotIds: Array<number> = []
        for (const [i, state] of states.slice(0, 3).entries()) {
          const saved = yield* snapshots.save({ sessionId, snapshotType: "trade", sequence: i + 1, fencingToken: 1, createdAt: i }, state)
          snapshotIds.push(saved.snapshotId)
        }
        yield* liveStore.raiseFence(sessionId, 1)
        yield* liveStore.save(states[3]!, 1)
        if (testCase.tier === "durable") yield* liveStore.delete(sessionId, 1)
        const liveJson = Result.getOrThrow(encodeEngineState(states[3]!)) as Record<string, any>
        yield* testCase.damage({ sessionId, states, liveJson, snapshotIds })

        const report = expectRestored(yield* Restore.run(sessionId, { sections: declared }))
        const expected = testCase.expectSequence ?? (testCase.tier === "live" ? 3 : 2)
        assert.strictEqual(report.outcome, "restored")
        assert.strictEqual(report.source, "snapshot")
        assert.strictEqual(report.sequence, expected)
        assert.deepStrictEqual(report.state, withoutNegativeZero(states[expected - 1]!))
        if (testCase.reason !== "") {
          const invalid = report.skipped.filter((s) => s.kind === "invalid")
          assert.isTrue(
            invalid.some((s) => s.reason.includes(testCase.reason)),
            `no skipped candidate says "${testCase.reason}": ${JSON.stringify(report.skipped)}`
          )
        }
      }))
  })
})
