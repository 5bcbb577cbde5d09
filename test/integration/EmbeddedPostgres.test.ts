/**
 * The lock of the embedded database's directory, on a real PGlite: honoured
 * only while it belongs to a live holder. A lock left by a process that is
 * gone, by a process whose PID another one now has (a container restart: PID
 * 1 again), or by this very process when no stack of it holds the lock any
 * more, is taken over; a live holder's lock is not, and the error names it.
 */
import { afterAll, assert, describe, it, vi } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { spawn } from "node:child_process"
import fs, { existsSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { EngineState } from "../../src/index.ts"
import { CampaignId, Env, SessionId } from "../../src/domain/Ids.ts"
import * as EmbeddedPostgres from "../../src/store/EmbeddedPostgres.ts"
import { durableOn } from "../../src/store/Persistence.ts"
import { SnapshotStore } from "../../src/store/SnapshotStore.ts"
import { lockFileOf, recordOf } from "../../src/store/internal/DataDirLock.ts"
import { runCliUntil } from "../support/Cli.ts"
import { isRunning } from "../support/Processes.ts"

// One directory for the file: PGlite creates its database on the first open (seconds), and every
// test writes the lock file it starts from.
const dataDir = mkdtempSync(join(tmpdir(), "arbitrage-state-lock-"))
const lockFile = lockFileOf(dataDir)
const realFsync = fs.fsyncSync
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

/** Opens a stack of its own on the directory, queries it, and closes it (the lock released). */
const openAndClose = SqlClient.SqlClient.pipe(
  Effect.flatMap((sql) => sql`SELECT 1 AS one`),
  Effect.asVoid,
  Effect.provide(Layer.fresh(EmbeddedPostgres.layer({ dataDir })))
)

/** Opens the directory over the lock file `text`, and checks the lock was taken over and then released. */
const opensOver = (text: string) =>
  Effect.gen(function*() {
    writeFileSync(lockFile, text)
    yield* openAndClose
    assert.isFalse(existsSync(lockFile), "the lock is released when the stack closes")
  })

/** The message of the refusal to open the directory (a failure: an open that succeeds fails the test). */
const refusal = openAndClose.pipe(
  Effect.match({
    onSuccess: () => assert.fail("the directory was opened"),
    onFailure: (error) => error.message
  })
)

/** The message of the refusal to open the directory over the lock file `text` (the lock left in place). */
const refusedOver = (text: string) =>
  Effect.gen(function*() {
    writeFileSync(lockFile, text)
    const message = yield* refusal
    assert.strictEqual(readFileSync(lockFile, "utf8"), text, "a refused start leaves the holder's lock alone")
    assert.notInclude(message, "    at ")
    return message
  })

/** A live process that does not hold the lock: `sleep`, killed when the scope closes. */
const otherProcess = Effect.acquireRelease(
  Effect.callback<number>((resume) => {
    const child = spawn("sleep", ["60"], { stdio: "ignore" })
    child.once("spawn", () => resume(Effect.succeed(child.pid!)))
  }),
  (pid) => Effect.sync(() => process.kill(pid, "SIGKILL"))
)

const anHourAgo = () => new Date(Date.now() - 3_600_000)

describe("the embedded database's lock", () => {
  it.live("a lock naming this process that no stack of it holds (an older version's bare PID, or a record) does not block", () =>
    Effect.gen(function*() {
      yield* opensOver(String(process.pid))
      yield* opensOver(JSON.stringify(recordOf(process.pid)))
    }), { timeout: 60_000 })

  it.live("a lock naming a live process that is not its writer (its PID reused) does not block", () =>
    Effect.scoped(Effect.gen(function*() {
      const pid = yield* otherProcess
      // An older version's lock, written before this process started.
      writeFileSync(lockFile, String(pid))
      utimesSync(lockFile, anHourAgo(), anHourAgo())
      yield* openAndClose
      assert.isFalse(existsSync(lockFile))
      // Records naming a live process that started at another time than the one recorded.
      yield* opensOver(JSON.stringify({ ...recordOf(pid), startTime: "1" }))
      yield* opensOver(JSON.stringify({ ...recordOf(1), startTime: "1" }))
    })), { timeout: 60_000 })

  it.live("a lock of a live holder blocks, and the error names the holder (another process, or another stack of this one)", () =>
    Effect.scoped(Effect.gen(function*() {
      const pid = yield* otherProcess
      assert.include(yield* refusedOver(JSON.stringify(recordOf(pid))), `is in use by process ${pid}`)
      // An older version's lock written after the process started: nothing tells it is not its holder.
      const older = yield* refusedOver(String(pid))
      assert.include(older, `is in use by process ${pid}`)
      assert.include(older, `remove ${lockFile}`)
      // A record from another host: that host's processes cannot be checked from here.
      const foreign = yield* refusedOver(JSON.stringify({ ...recordOf(pid), hostname: "elsewhere.example" }))
      assert.include(foreign, "on host elsewhere.example")
      assert.include(foreign, `remove ${lockFile}`)

      rmSync(lockFile)
      const second = yield* SqlClient.SqlClient.pipe(
        Effect.andThen(refusal),
        Effect.provide(Layer.fresh(EmbeddedPostgres.layer({ dataDir })))
      )
      assert.include(second, `is in use by process ${process.pid} (this process: another stack holds it)`)
      assert.isFalse(existsSync(lockFile), "the holding stack released its lock")
    })), { timeout: 60_000 })

  it.live("a lock file it cannot read is not taken over, and the error says which file to remove; an empty one is", () =>
    Effect.gen(function*() {
      const message = yield* refusedOver("{\"holder\":\"someone\"}")
      assert.include(message, `the lock file ${lockFile} is not one this version can read`)
      assert.include(message, "remove it")
      // Empty: left by a process that died between creating the file and writing it.
      yield* opensOver("")
    }), { timeout: 60_000 })

  it.live("a holder killed with SIGKILL leaves its lock, and the next start takes it over", () =>
    Effect.gen(function*() {
      if (existsSync(lockFile)) rmSync(lockFile)
      const run = yield* Effect.promise(() =>
        runCliUntil(
          ["run", "--mode", "clean", "--loops", "1000000", "--seed", "1", "--pace", "--tick-ms", "20", "--json", "--status-every", "1"],
          { PGLITE_DATA_DIR: dataDir, STATE_ENV: "locks" },
          (line) => line.startsWith("{\"loop\":")
        )
      )
      assert.isTrue(run.killed, run.stderr)
      const left = JSON.parse(readFileSync(lockFile, "utf8")) as { readonly pid: number }
      assert.notStrictEqual(left.pid, process.pid)
      assert.isFalse(isRunning(left.pid))
      yield* openAndClose
      assert.isFalse(existsSync(lockFile))
    }), { timeout: 60_000 })
  it.live("a snapshot saved on the embedded database is on the disk when its save returns: fsync is on, and its commit fsyncs the WAL", () =>
    Effect.gen(function*() {
      const synced: Array<string> = []
      const spy = vi.spyOn(fs, "fsyncSync").mockImplementation(function(this: unknown, fd: number) {
        synced.push(readlinkSync(`/proc/self/fd/${fd}`))
        return realFsync(fd)
      })
      const settings = yield* SqlClient.SqlClient.pipe(
        Effect.flatMap((sql) => sql<{ fsync: string; wal_sync_method: string }>`SELECT current_setting('fsync') AS fsync, current_setting('wal_sync_method') AS wal_sync_method`),
        Effect.provide(Layer.fresh(EmbeddedPostgres.layer({ dataDir })))
      )
      assert.deepStrictEqual(settings[0], { fsync: "on", wal_sync_method: "fsync" })
      const wal = join(realpathSync(dataDir), "pg_wal")
      yield* Effect.gen(function*() {
        const store = yield* SnapshotStore
        const sessionId = SessionId.make("sess_embeddedsync1")
        const state = EngineState.empty({ sessionId, startTime: 1_700_000_000_000, campaignId: CampaignId.make("balanced"), initialCapitalUsd: 10_000 })
        for (let sequence = 1; sequence <= 5; sequence++) {
          synced.length = 0
          yield* store.save({ sessionId, snapshotType: "periodic", sequence, fencingToken: 0, createdAt: 0 }, { ...state, session: { ...state.session, loopCount: sequence } })
          assert.isTrue(synced.some((path) => path.startsWith(wal)), `snapshot #${sequence}: its WAL was fsynced before the save returned (${synced.join(", ")})`)
        }
      }).pipe(
        Effect.provide(Layer.fresh(durableOn(Env.make("embeddedsync"), EmbeddedPostgres.layer({ dataDir })))),
        Effect.ensuring(Effect.sync(() => spy.mockRestore()))
      )
    }), 60_000)
})
