/**
 * Authenticated and encrypted state (STATE_KEYS, STATE_ENCRYPTION) on the real
 * PostgreSQL and Redis: what a writer without the keys can do to a session,
 * and what a restore then does. Every forgery here is one the checksums alone
 * let through (the same damage is shown restored by a store without keys);
 * with keys, the restore refuses it as "not authentic" and falls back to the
 * newest authentic state. Rotation and `rekey` are proven here at the store
 * level, and end to end through the CLI.
 */
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, Result } from "effect"
import { randomBytes } from "node:crypto"
import type { EngineState } from "../../src/domain/EngineState.ts"
import { type Env, SessionId } from "../../src/domain/Ids.ts"
import * as Restore from "../../src/recovery/Restore.ts"
import { describeReport } from "../../src/recovery/RestoreReport.ts"
import { planLiveWrite } from "../../src/store/internal/LiveStateDelta.ts"
import { readSnapshotRow } from "../../src/store/internal/SnapshotRows.ts"
import { LiveStateStore } from "../../src/store/LiveStateStore.ts"
import * as PgSessionLease from "../../src/store/PgSessionLease.ts"
import type { SessionLease } from "../../src/store/SessionLease.ts"
import * as PgSnapshotStore from "../../src/store/PgSnapshotStore.ts"
import { RedisClient } from "../../src/store/RedisClient.ts"
import * as RedisLiveStateStore from "../../src/store/RedisLiveStateStore.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import { sealKey, sectionKey, writeMarkKey } from "../../src/store/StateKeys.ts"
import type { StateProtection } from "../../src/store/StateProtection.ts"
import { redisClient, testPostgres } from "../support/Backings.ts"
import { runCli } from "../support/Cli.ts"
import { recomputeChecksums } from "../support/Forgery.ts"
import { freshProtection, protectionOf, stateKeysText } from "../support/Protection.ts"
import { expectRestored, withoutNegativeZero } from "../support/Results.ts"
import { testDatabaseUrl, testRedisUrl, uniqueEnv } from "../support/Services.ts"
import { sampleStates } from "../support/States.ts"

const env = uniqueEnv("authentic")
const keysText = stateKeysText("k1")
const sealed = protectionOf(keysText)

/** The stores of `stateEnv` (the test's `env` unless told) sealed under `protection` (none: neither sealed nor verified). */
const storesWith = (protection: StateProtection | undefined, stateEnv: Env = env) =>
  Layer.mergeAll(
    RedisLiveStateStore.layer(stateEnv, protection === undefined ? {} : { protection }),
    PgSnapshotStore.layer(stateEnv, protection === undefined ? {} : { protection }),
    PgSessionLease.layer(stateEnv)
  ).pipe(Layer.provide(Layer.mergeAll(redisClient, testPostgres)))

/** The test's services, and what it stored under its envs removed when it ends. */
const servicesCleaning = (envs: ReadonlyArray<Env>) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const redis = yield* RedisClient
    yield* Effect.addFinalizer(() =>
      Effect.forEach(envs, (name) =>
        Effect.all([
          sql`DELETE FROM session_snapshots WHERE env = ${name}`,
          sql`DELETE FROM session_leases WHERE env = ${name}`,
          sql`DELETE FROM session_events WHERE env = ${name}`,
          sql`DELETE FROM trade_ledger WHERE env = ${name}`,
          redis.use("SCAN+DEL", async (c) => {
            const keys = await c.keys(`arbitrage:state:${name}:*`)
            if (keys.length > 0) await c.del(...keys)
          })
        ])).pipe(Effect.ignore))
  })).pipe(Layer.provideMerge(Layer.mergeAll(redisClient, testPostgres)))

const cliStateEnv = uniqueEnv("rekeycli")
/** Retention runs over a whole env: its test has one of its own. */
const retainEnv = uniqueEnv("retain")
const base = servicesCleaning([env, cliStateEnv, retainEnv])

/** Runs `effect` on fresh stores of `stateEnv` sealed under `protection`. */
const withStores = <A, E>(
  protection: StateProtection | undefined,
  effect: Effect.Effect<A, E, LiveStateStore | SnapshotStore | SessionLease>,
  stateEnv: Env = env
) => effect.pipe(Effect.provide(Layer.fresh(storesWith(protection, stateEnv))))

/** `f` on the live tier (of `stateEnv`) sealed under `protection`. */
const onLive = <A, E>(protection: StateProtection | undefined, f: (live: LiveStateStore["Service"]) => Effect.Effect<A, E>, stateEnv: Env = env) =>
  withStores(protection, Effect.gen(function*() {
    return yield* f(yield* LiveStateStore)
  }), stateEnv)

/** `f` on the durable tier (of `stateEnv`) sealed under `protection`. */
const onSnapshots = <A, E>(protection: StateProtection | undefined, f: (snapshots: SnapshotStore["Service"]) => Effect.Effect<A, E>, stateEnv: Env = env) =>
  withStores(protection, Effect.gen(function*() {
    return yield* f(yield* SnapshotStore)
  }), stateEnv)

const newSession = (label: string) => SessionId.make(`sess_${label}${randomBytes(3).toString("hex")}`)

/** Four states of a session at loops 100, 200, 300 and 400, with open trades. */
const statesOf = (sessionId: SessionId) =>
  Effect.map(sampleStates(sessionId, { count: 4, seed: 21, minOpenTrades: 2, maxOpenTrades: 4 }), (sampled) =>
    sampled.map((state, i) => ({ ...state, session: { ...state.session, loopCount: (i + 1) * 100 } })))

/** Snapshots #1-#3 of the first three states under `protection`; their ids. */
const saveSnapshots = (protection: StateProtection | undefined, states: ReadonlyArray<EngineState>, stateEnv: Env = env) =>
  withStores(protection, Effect.gen(function*() {
    const snapshots = yield* SnapshotStore
    const ids: Array<number> = []
    for (const [i, state] of states.slice(0, 3).entries()) {
      ids.push((yield* snapshots.save({ sessionId: state.session.sessionId, snapshotType: "trade", sequence: i + 1, fencingToken: 0, createdAt: i }, state)).snapshotId)
    }
    return ids
  }), stateEnv)

/** What a writer with database access but no key does: change a row's metrics and recompute both checksums. */
const forgeRow = (snapshotId: number, changeMetrics: (metrics: any) => any) => recomputeChecksums(snapshotId, { changeMetrics, header: true })

/** The newest snapshot of `sessionId` verified by its checksums and Schemas alone, as a store without seals would. */
const checkedByChecksumsAlone = (sessionId: SessionId) =>
  Effect.gen(function*() {
    const [row] = yield* (yield* PgSnapshotStore.rows(env)).selectRecent(sessionId, { limit: 1 })
    return Result.getOrThrow(readSnapshotRow(row!))
  })

/** The restore of `sessionId` by stores sealed under `protection`. */
const restoreWith = (protection: StateProtection | undefined, sessionId: SessionId, stateEnv: Env = env) =>
  withStores(protection, Restore.run(sessionId), stateEnv)

const onRedis = <A>(f: (client: RedisClient["Service"]["client"]) => Promise<A>) =>
  Effect.gen(function*() {
    return yield* (yield* RedisClient).use("test", f)
  })

layer(base, { timeout: "120 seconds" })("authenticated state", (it) => {
  it.effect("a snapshot forged with recomputed checksums is restored without keys, and refused as not authentic with them: the restore falls back", () =>
    Effect.gen(function*() {
      const sessionId = newSession("forged")
      const states = yield* statesOf(sessionId)
      const ids = yield* saveSnapshots(sealed, states)
      yield* forgeRow(ids[2]!, (metrics) => ({ ...metrics, totalPnlUsd: metrics.totalPnlUsd + 1_000_000, portfolioEquityUsd: metrics.portfolioEquityUsd + 1_000_000 }))

      // Its checksums hold: what they verify, it passes.
      const trusting = yield* checkedByChecksumsAlone(sessionId)
      assert.strictEqual(trusting.sequence, 3)
      assert.strictEqual(trusting.state.metrics.totalPnlUsd, states[2]!.metrics.totalPnlUsd + 1_000_000)

      const report = expectRestored(yield* restoreWith(sealed, sessionId))
      assert.strictEqual(report.sequence, 2)
      assert.deepStrictEqual(report.state, withoutNegativeZero(states[1]!))
      const skipped = report.skipped.find((s) => s.sequence === 3)!
      assert.strictEqual(skipped.kind, "invalid")
      assert.include(skipped.reason, "is not authentic: its seal under key k1 does not match")
    }))

  it.effect("an older authentic snapshot replayed under a newer sequence is refused: the sequence is inside the seal", () =>
    Effect.gen(function*() {
      const sessionId = newSession("replay")
      const states = yield* statesOf(sessionId)
      const ids = yield* saveSnapshots(sealed, states)
      const sql = yield* PgClient.PgClient
      // Row #1, whole (its seal too), copied in as #4.
      const [copy] = yield* sql<{ snapshot_id: number }>`
        INSERT INTO session_snapshots (env, session_id, sequence, snapshot_type, envelope_version, fencing_token, created_at_ms,
                                       checksum, header_checksum, seal, loop_count, session_status, session, custom)
        SELECT env, session_id, 4, snapshot_type, envelope_version, fencing_token, created_at_ms, checksum, header_checksum, seal,
               loop_count, session_status, session, custom FROM session_snapshots WHERE snapshot_id = ${ids[0]!}
        RETURNING snapshot_id`
      const id = copy!.snapshot_id
      yield* sql`INSERT INTO position_snapshots (snapshot_id, open_trade_count, positions, positions_gzip)
                 SELECT ${id}, open_trade_count, positions, positions_gzip FROM position_snapshots WHERE snapshot_id = ${ids[0]!}`
      yield* sql`INSERT INTO metrics_snapshots (snapshot_id, metrics) SELECT ${id}, metrics FROM metrics_snapshots WHERE snapshot_id = ${ids[0]!}`
      yield* sql`INSERT INTO risk_guard_snapshots (snapshot_id, risk_guard) SELECT ${id}, risk_guard FROM risk_guard_snapshots WHERE snapshot_id = ${ids[0]!}`
      // Its checksum covers the sequence too: a replay that also rewrites it is the forgery above.
      yield* recomputeChecksums(id, { header: true })

      assert.strictEqual((yield* checkedByChecksumsAlone(sessionId)).sequence, 4)
      const report = expectRestored(yield* restoreWith(sealed, sessionId))
      assert.strictEqual(report.sequence, 3)
      assert.deepStrictEqual(report.state, withoutNegativeZero(states[2]!))
      assert.include(report.skipped.find((s) => s.sequence === 4)!.reason, "not authentic")
    }))

  it.effect("the live state: a trade removed, a part replayed from an earlier write, or a state written without keys never wins", () =>
    Effect.gen(function*() {
      const sessionId = newSession("live")
      const states = yield* statesOf(sessionId)
      yield* saveSnapshots(sealed, states)
      const positionsKey = sectionKey(env, sessionId, "positions")
      const metricsKey = sectionKey(env, sessionId, "metrics")
      const write = (state: EngineState) => onLive(sealed, (live) => live.save(state))

      // Authentic: the live state at loop 400 wins over snapshot #3.
      yield* write(states[3]!)
      assert.strictEqual(expectRestored(yield* restoreWith(sealed, sessionId)).source, "live")

      const expectSnapshot3 = (what: string) =>
        Effect.gen(function*() {
          const report = expectRestored(yield* restoreWith(sealed, sessionId))
          assert.strictEqual(report.source, "snapshot", what)
          assert.strictEqual(report.sequence, 3, what)
          assert.include(report.skipped.find((s) => s.source === "live")!.reason, "not authentic", what)
        })

      // One open trade taken out of the positions hash (its trade and its open time).
      const fields = yield* onRedis((c) => c.hgetall(positionsKey))
      const tradeField = Object.keys(fields).find((field) => field.startsWith("t:"))!
      yield* onRedis((c) => c.hdel(positionsKey, tradeField, `o:${tradeField.slice(2)}`))
      yield* expectSnapshot3("a trade removed")

      // An earlier write's authentic metrics put back over a later write's (by the same writer, in the same place).
      yield* write(states[3]!)
      const earlier = (yield* onRedis((c) => c.get(metricsKey)))!
      yield* write({ ...states[3]!, session: { ...states[3]!.session, loopCount: 401 }, metrics: { ...states[3]!.metrics, totalPnlUsd: states[3]!.metrics.totalPnlUsd + 5, portfolioEquityUsd: states[3]!.metrics.portfolioEquityUsd + 5 } })
      assert.notStrictEqual(yield* onRedis((c) => c.get(metricsKey)), earlier)
      yield* onRedis((c) => c.set(metricsKey, earlier))
      yield* expectSnapshot3("a part replayed")

      // A fresher state written without keys (or its seal taken away).
      yield* onLive(undefined, (live) => live.save({ ...states[3]!, session: { ...states[3]!.session, loopCount: 500 } }))
      assert.strictEqual(yield* onRedis((c) => c.exists(sealKey(env, sessionId))), 0)
      yield* expectSnapshot3("written without keys")
      // A process without keys restores nothing of a sealed session: not the sealed states it cannot
      // verify, nor, past them, the fresher one written without keys.
      const keyless = yield* restoreWith(undefined, sessionId)
      assert.strictEqual(keyless.outcome, "unrecoverable")
      assert.strictEqual(keyless.outcome === "unrecoverable" ? keyless.keyMissing : undefined, "k1")
      assert.include(describeReport(keyless), "not restored: its state is sealed or encrypted under key k1, which this process does not hold; set STATE_KEYS")
    }))

  it.effect("encrypted: no section's plaintext is stored in either tier; listings still read the metadata; a moved ciphertext, a wrong key or none is a typed cannot decrypt", () =>
    Effect.gen(function*() {
      const encrypted = { ...freshProtection(["e1"]), encrypt: true }
      const sessionId = newSession("encrypted")
      const states = yield* statesOf(sessionId)
      const ids = yield* saveSnapshots(encrypted, states)
      yield* onLive(encrypted, (live) => live.save(states[3]!))
      const sql = yield* PgClient.PgClient

      // Nothing a state holds appears in what is stored: not a trade id, a symbol or a venue.
      const tradeIds = states.flatMap((state) => Object.keys(state.positions.activeTrades))
      // (Words long enough that base64 does not hold them by chance.)
      const words = [...tradeIds, sessionId, ...states.flatMap((s) => Object.values(s.positions.activeTrades).flatMap((t) => [t.symbol, t.buyLeg.venue]))]
        .filter((word) => word.length >= 8)
      assert.isAbove(tradeIds.length, 0)
      const stored = yield* sql<{ text: string }>`
        SELECT s.session::text || coalesce(p.positions::text, '') || m.metrics::text || r.risk_guard::text AS text
          FROM session_snapshots s JOIN position_snapshots p USING (snapshot_id) JOIN metrics_snapshots m USING (snapshot_id)
          JOIN risk_guard_snapshots r USING (snapshot_id) WHERE s.env = ${env} AND s.session_id = ${sessionId}`
      assert.lengthOf(stored, 3)
      const redisValues = yield* onRedis(async (c) => {
        const out: Array<string> = []
        for (const part of ["session", "metrics", "riskGuard", "ledger"] as const) out.push((await c.get(sectionKey(env, sessionId, part)))!)
        const hash = await c.hgetall(sectionKey(env, sessionId, "positions"))
        return [...out, ...Object.values(hash)]
      })
      for (const value of redisValues) assert.match(value, /^aes-256-gcm:e1:/)
      for (const word of words) {
        for (const row of stored) assert.notInclude(row.text, word)
        for (const value of redisValues) assert.notInclude(value, word)
      }

      // The listing reads the metadata: sequence, loop, status, open trades.
      const listed = yield* onSnapshots(encrypted, (s) => s.listSnapshots(sessionId))
      assert.deepStrictEqual(listed.map((s) => [s.sequence, s.loopCount, s.status, s.openTrades]), [3, 2, 1].map((n) => {
        const state = states[n - 1]!
        return [n, state.session.loopCount, state.session.status, Object.keys(state.positions.activeTrades).length]
      }))
      // The same listing without keys, or with another key: metadata needs none.
      const unkeyed = yield* onSnapshots(undefined, (s) => s.listSnapshots(sessionId))
      assert.deepStrictEqual(unkeyed.map((s) => s.loopCount), listed.map((s) => s.loopCount))

      // Opened with the key: every state back as it was.
      assert.deepStrictEqual(expectRestored(yield* restoreWith(encrypted, sessionId)).state, withoutNegativeZero(states[3]!))

      // #2's metrics ciphertext moved onto #3: it does not open there.
      yield* sql`UPDATE metrics_snapshots SET metrics = (SELECT metrics FROM metrics_snapshots WHERE snapshot_id = ${ids[1]!}) WHERE snapshot_id = ${ids[2]!}`
      const moved = yield* onSnapshots(encrypted, (s) => s.loadRecent(sessionId, { limit: 1 }))
      const movedFailure = Result.isFailure(moved[0]!.result) ? moved[0]!.result.failure : undefined
      assert.strictEqual(movedFailure?.reason._tag, "CannotDecrypt")
      assert.include(movedFailure?.message, "cannot decrypt: key e1 does not open it")

      // Another secret under the same id, and no keys at all: typed, each candidate said, nothing decoded.
      for (const [protection, words] of [
        [{ ...freshProtection(["e1"]), encrypt: true }, "cannot decrypt: key e1 does not open it"],
        [undefined, "cannot decrypt: it is encrypted under key e1, and STATE_KEYS is not set"]
      ] as const) {
        const report = yield* restoreWith(protection, sessionId)
        assert.strictEqual(report.outcome, "unrecoverable")
        assert.isAtLeast(report.skipped.length, 4)
        for (const skipped of report.skipped) assert.include(skipped.reason, words)
      }
    }))

  it.effect("encrypted, the live tier refuses a positions hash that would be over the size a load reads, though its plaintext is not; what it takes loads back", () =>
    Effect.gen(function*() {
      const encrypted = { ...freshProtection(["e1"]), encrypt: true }
      const sessionId = newSession("encsize")
      const [state] = yield* sampleStates(sessionId, { count: 1, seed: 5, minOpenTrades: 40, maxOpenTrades: 40 })
      const plaintext = Result.getOrThrow(planLiveWrite(state!, [], undefined)).positionsBytes
      const liveWith = (protection: StateProtection | undefined, maxSectionBytes: number) =>
        Layer.fresh(RedisLiveStateStore.layer(env, { maxSectionBytes, ...(protection === undefined ? {} : { protection }) })).pipe(Layer.provide(redisClient))
      const save = (protection: StateProtection | undefined, maxSectionBytes: number) =>
        Effect.gen(function*() {
          const live = yield* LiveStateStore
          yield* live.delete(sessionId)
          return yield* Effect.result(live.save(state!))
        }).pipe(Effect.provide(liveWith(protection, maxSectionBytes)))
      const limit = Math.ceil(plaintext * 1.1)
      assert.isTrue(Result.isSuccess(yield* save(undefined, limit)))
      const refused = yield* save(encrypted, limit)
      assert.isTrue(Result.isFailure(refused) && refused.failure.message.includes("a restore reads; not written"))
      // With room for the ciphertexts: written, and read back whole under the same limit.
      const roomy = Math.ceil(plaintext * 1.6)
      assert.isTrue(Result.isSuccess(yield* save(encrypted, roomy)))
      const loaded = yield* Effect.gen(function*() {
        return yield* (yield* LiveStateStore).load(sessionId)
      }).pipe(Effect.provide(liveWith(encrypted, roomy)))
      assert.deepStrictEqual(Option.getOrThrow(loaded).state, withoutNegativeZero(state!))
    }))

  it.effect("retention never cuts what it cannot verify: without the keys it refuses; with keys that open nothing it keeps every snapshot", () =>
    Effect.gen(function*() {
      const encrypted = { ...freshProtection(["c1"]), encrypt: true }
      const sessionId = newSession("retain")
      const states = yield* statesOf(sessionId)
      yield* saveSnapshots(encrypted, states, retainEnv)
      const sql = yield* PgClient.PgClient
      const count = () => Effect.map(sql<{ n: string }>`SELECT count(*)::text AS n FROM session_snapshots WHERE env = ${retainEnv} AND session_id = ${sessionId}`, ([row]) => Number(row!.n))
      const cleanupWith = (protection: StateProtection | undefined) =>
        onSnapshots(protection, (s) => Effect.result(s.cleanup({ olderThanDays: 0, keepLatest: 1 })), retainEnv)
      const keyless = yield* cleanupWith(undefined)
      assert.isTrue(Result.isFailure(keyless) && keyless.failure.message.includes("cleanup cannot tell the valid snapshots of"))
      assert.include(Result.isFailure(keyless) ? keyless.failure.message : "", "under key c1, which this process does not hold")
      const wrongSecret = yield* cleanupWith({ ...freshProtection(["c1"]), encrypt: true })
      assert.isTrue(Result.isSuccess(wrongSecret))
      assert.deepStrictEqual(Result.isSuccess(wrongSecret) ? wrongSecret.success.filter((cut) => cut.sessionId === sessionId) : ["failed"], [])
      assert.strictEqual(yield* count(), 3)
      // With the keys: the two older ones go, the newest valid stays.
      yield* cleanupWith(encrypted)
      assert.strictEqual(yield* count(), 1)
      assert.strictEqual(expectRestored(yield* restoreWith(encrypted, sessionId, retainEnv)).sequence, 3)
    }))

  it.effect("a live seal that is there but unreadable (too long, another type) is judged, not taken for none: trust on first use does not take it", () =>
    Effect.gen(function*() {
      const sessionId = newSession("longseal")
      const [state] = yield* statesOf(sessionId)
      yield* onLive(sealed, (live) => live.save(state!))
      const writes: ReadonlyArray<(c: RedisClient["Service"]["client"]) => Promise<unknown>> = [
        (c) => c.set(sealKey(env, sessionId), `hmac-sha256:k1:${"0".repeat(300)}`),
        (c) => c.del(sealKey(env, sessionId)).then(() => c.rpush(sealKey(env, sessionId), "x"))
      ]
      for (const write of writes) {
        yield* onRedis(write)
        const trusting = yield* onLive({ ...sealed, trustUnsealed: true }, (live) => live.read(sessionId))
        const opened = Option.getOrThrow(trusting).open()
        assert.isTrue(Result.isFailure(opened) && opened.failure.message.includes("not authentic: its seal is not one this code writes"))
      }
    }))

  it.effect("rotation: old states stay readable while their key is configured, new ones use the newest; rekey re-seals the authentic ones and leaves a forgery", () =>
    Effect.gen(function*() {
      const k1 = stateKeysText("r1")
      const k2 = stateKeysText("r2")
      const old = protectionOf(k1)
      const both = protectionOf(`${k1},${k2}`)
      const newest = protectionOf(k2)
      const sessionId = newSession("rotate")
      const states = yield* statesOf(sessionId)
      const ids = yield* saveSnapshots(old, states.slice(0, 2))
      // #3 by a runner with both keys: sealed under the newest.
      yield* onSnapshots(both, (s) => s.save({ sessionId, snapshotType: "trade", sequence: 3, fencingToken: 0, createdAt: 3 }, states[2]!))
      const sql = yield* PgClient.PgClient
      const seals = () => sql<{ sequence: string; seal: string }>`SELECT sequence::text, seal FROM session_snapshots WHERE env = ${env} AND session_id = ${sessionId} ORDER BY sequence`
      assert.deepStrictEqual((yield* seals()).map((r) => r.seal.split(":")[1]), ["r1", "r1", "r2"])

      const verdicts = (protection: StateProtection) =>
        onSnapshots(protection, (s) =>
          Effect.map(s.loadRecent(sessionId, { limit: 10 }), (reads) => reads.map((read) => Result.isSuccess(read.result) ? "valid" : read.result.failure.message)))
      assert.deepStrictEqual(yield* verdicts(both), ["valid", "valid", "valid"])
      const withoutOld = yield* verdicts(newest)
      assert.strictEqual(withoutOld[0], "valid")
      for (const verdict of withoutOld.slice(1)) assert.include(verdict, "not authentic: sealed under key r1, which STATE_KEYS does not hold")

      // #1 forged (checksums recomputed): a rekey leaves it, and says why.
      yield* forgeRow(ids[0]!, (metrics) => ({ ...metrics, totalPnlUsd: metrics.totalPnlUsd + 1 }))
      const rekeyed = yield* onSnapshots(both, (s) => s.rekey(sessionId))
      assert.deepStrictEqual(rekeyed.map((r) => [r.sequence, r.outcome]), [[3, "current"], [2, "resealed"], [1, "refused"]])
      assert.include(rekeyed[2]!.reason, "not authentic")
      assert.deepStrictEqual((yield* seals()).map((r) => r.seal.split(":")[1]), ["r1", "r2", "r2"])
      // With the old key gone, what was re-sealed reads; the forgery does not.
      const after = yield* verdicts(newest)
      assert.deepStrictEqual(after.slice(0, 2), ["valid", "valid"])
      assert.include(after[2], "not authentic")
      // A second rekey changes nothing.
      const again = yield* onSnapshots(both, (s) => s.rekey(sessionId))
      assert.deepStrictEqual(again.map((r) => r.outcome), ["current", "current", "refused"])
    }))

  it.effect("keys set on a session written without them: unsealed states are not authentic until rekey --trust-unsealed seals those whose checksum holds", () =>
    Effect.gen(function*() {
      const sessionId = newSession("adopt")
      const states = yield* statesOf(sessionId)
      const ids = yield* saveSnapshots(undefined, states)
      const sql = yield* PgClient.PgClient
      // #2 damaged (a checksum that fails): trust on first use never seals it.
      yield* sql`UPDATE metrics_snapshots SET metrics = jsonb_set(metrics, '{totalPnlUsd}', '12345') WHERE snapshot_id = ${ids[1]!}`
      assert.strictEqual((yield* restoreWith(sealed, sessionId)).outcome, "unrecoverable")
      const plain = yield* onSnapshots(sealed, (s) => s.rekey(sessionId))
      assert.deepStrictEqual(plain.map((r) => r.outcome), ["refused", "refused", "refused"])
      const trusted = yield* onSnapshots(sealed, (s) => s.rekey(sessionId, { trustUnsealed: true }))
      assert.deepStrictEqual(trusted.map((r) => [r.sequence, r.outcome]), [[3, "resealed"], [2, "refused"], [1, "resealed"]])
      assert.include(trusted[1]!.reason, "fails its checksum")
      const report = expectRestored(yield* restoreWith(sealed, sessionId))
      assert.strictEqual(report.sequence, 3)
      assert.deepStrictEqual(report.state, withoutNegativeZero(states[2]!))
    }))
})

/** The environment of a CLI run on the test services under `env`. */
const cliEnv = (stateEnv: Env, extra: Record<string, string>) => ({
  DATABASE_URL: Redacted.value(testDatabaseUrl),
  REDIS_URL: Redacted.value(testRedisUrl),
  STATE_ENV: stateEnv,
  ...extra
})

layer(base, { timeout: "120 seconds" })("rekey, through the CLI", (it) => {
  it.effect("a run under one key, another key added: rekey seals everything under it (exit 0), and the old key can go; a forgery makes it exit 3", () =>
    Effect.gen(function*() {
      const stateEnv = cliStateEnv
      const sessionId = newSession("cli")
      const k1 = stateKeysText("c1")
      const k2 = stateKeysText("c2")
      const run = runCli(["run", "--mode", "clean", "--session", sessionId, "--loops", "120", "--seed", "3"], cliEnv(stateEnv, { STATE_KEYS: k1 }))
      assert.strictEqual(run.status, 0, run.stderr)

      const unkeyed = runCli(["rekey", "--session", sessionId], cliEnv(stateEnv, {}))
      assert.strictEqual(unkeyed.status, 2)
      assert.include(unkeyed.stderr, "rekey needs STATE_KEYS")

      const rekeyed = runCli(["rekey", "--session", sessionId, "--json"], cliEnv(stateEnv, { STATE_KEYS: `${k1},${k2}`, STATE_ENCRYPTION: "aes-256-gcm" }))
      assert.strictEqual(rekeyed.status, 0, rekeyed.stderr)
      const outcome = JSON.parse(rekeyed.stdout)
      assert.strictEqual(outcome.keyId, "c2")
      assert.isAbove(outcome.snapshots.length, 0)
      for (const snapshot of outcome.snapshots) assert.strictEqual(snapshot.outcome, "resealed")
      assert.strictEqual(outcome.live.outcome, "resealed")
      // The listing says under which key each snapshot is, and that it is encrypted: what step 3 of a rotation waits on.
      const listed = runCli(["snapshots", "--session", sessionId, "--json"], cliEnv(stateEnv, { STATE_KEYS: `${k1},${k2}` }))
      const sealedAs = (JSON.parse(listed.stdout).snapshots as Array<{ sealKey: string | null; encrypted: boolean; verdict: string }>)
        .map((s) => [s.sealKey, s.encrypted, s.verdict])
      assert.deepStrictEqual(sealedAs, outcome.snapshots.map(() => ["c2", true, "valid"]))

      // The old key gone: the session restores, from its live state.
      const restored = runCli(["restore", "--session", sessionId, "--dry-run", "--json"], cliEnv(stateEnv, { STATE_KEYS: k2 }))
      assert.strictEqual(restored.status, 0, restored.stderr)
      const report = JSON.parse(restored.stdout)
      assert.strictEqual(report.outcome, "restored")
      assert.strictEqual(report.state.session.loopCount, 120)

      // A row forged below the store: rekey leaves it, says it, exits 3; the text names the snapshot.
      const sql = yield* PgClient.PgClient
      const [newest] = yield* sql<{ snapshot_id: number }>`SELECT snapshot_id FROM session_snapshots WHERE env = ${stateEnv} AND session_id = ${sessionId} ORDER BY sequence DESC LIMIT 1`
      yield* sql`UPDATE session_snapshots SET seal = 'hmac-sha256:c2:00' WHERE snapshot_id = ${newest!.snapshot_id}`
      const refused = runCli(["rekey", "--session", sessionId], cliEnv(stateEnv, { STATE_KEYS: k2, STATE_ENCRYPTION: "aes-256-gcm" }))
      assert.strictEqual(refused.status, 3, refused.stderr)
      assert.match(refused.stdout, /snapshot #\d+: left as it is: not authentic: its seal under key c2 does not match/)
      assert.include(refused.stdout, "1 left as it was")

      // Trust on first use is for what was written before the keys: a seal stripped from a row newer
      // than a sealed one, and a live state written without keys beside sealed snapshots, stay refused.
      yield* sql`UPDATE session_snapshots SET seal = NULL WHERE snapshot_id = ${newest!.snapshot_id}`
      const live = yield* onLive(protectionOf(k2, true), (store) => store.load(sessionId), stateEnv)
      const { fencingToken, ledgerTail, state } = Option.getOrThrow(live)
      yield* onLive(undefined, (store) => store.save(state, fencingToken ?? 0, ledgerTail), stateEnv)
      const trusting = runCli(["rekey", "--session", sessionId, "--trust-unsealed"], cliEnv(stateEnv, { STATE_KEYS: k2, STATE_ENCRYPTION: "aes-256-gcm" }))
      assert.strictEqual(trusting.status, 3, trusting.stderr)
      assert.match(trusting.stdout, /snapshot #\d+: left as it is: not authentic: it carries no seal .*, and newer than snapshot #1, which is sealed/)
      assert.include(trusting.stdout, "live state: left as it is: not authentic: it carries no seal, while snapshot #")
      assert.include(trusting.stdout, "1 left as it was; live state left as it was")
    }))

  it.effect("rekey leaves a stale live state as it is: an older writer's, put back, would otherwise win under the rekey's token", () =>
    Effect.gen(function*() {
      const sessionId = newSession("stale")
      const keys = { STATE_KEYS: stateKeysText("s1") }
      const first = runCli(["run", "--mode", "clean", "--session", sessionId, "--loops", "80", "--seed", "4"], cliEnv(cliStateEnv, keys))
      assert.strictEqual(first.status, 0, first.stderr)
      // The first writer's live state (token 1), kept byte for byte; a second writer (token 2) goes on.
      const parts = ["session", "positions", "metrics", "riskGuard", "custom", "ledger"] as const
      const names = [...parts.map((part) => sectionKey(cliStateEnv, sessionId, part)), writeMarkKey(cliStateEnv, sessionId), sealKey(cliStateEnv, sessionId)]
      const kept = yield* onRedis((c) => Promise.all(names.map((name) => c.dumpBuffer(name))))
      const second = runCli(["run", "--mode", "resume", "--session", sessionId, "--loops", "120"], cliEnv(cliStateEnv, keys))
      assert.strictEqual(second.status, 0, second.stderr)
      yield* onRedis(async (c) => {
        for (const [i, name] of names.entries()) {
          await c.del(name)
          if (kept[i] !== null) await c.restore(name, 0, kept[i]!)
        }
      })
      const restoreSource = () => JSON.parse(runCli(["restore", "--session", sessionId, "--dry-run", "--json"], cliEnv(cliStateEnv, keys)).stdout)
      const before = restoreSource()
      assert.strictEqual(before.source, "snapshot")
      assert.include(JSON.stringify(before.skipped), "stale")

      const rekeyed = runCli(["rekey", "--session", sessionId], cliEnv(cliStateEnv, keys))
      assert.strictEqual(rekeyed.status, 3, rekeyed.stderr)
      assert.include(rekeyed.stdout, "live state: left as it is: stale: written with token 1, older than token 2 of snapshot #")
      const after = restoreSource()
      assert.strictEqual(after.source, "snapshot")
      assert.strictEqual(after.loopCount, 120)
    }))
})
