/**
 * EmbeddedPostgres: a real PostgreSQL inside this process, for when no
 * DATABASE_URL is given.
 *
 * PGlite (PostgreSQL compiled to WebAssembly) keeps its files in a directory,
 * so snapshots survive a restart; pglite-socket serves it on a loopback port
 * so that the same `@effect/sql-pg` client and the same migrations are used as
 * with a server. PGlite is single-session, so the pool holds one connection
 * (transactions must not interleave), and a lock file keeps a second process
 * from opening the same directory.
 */
import { PGlite } from "@electric-sql/pglite"
import { PGLiteSocketServer } from "@electric-sql/pglite-socket"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer } from "effect"
import type { SqlClient } from "effect/sql"
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs"
import { join } from "node:path"
import { defaultMaxSectionBytes } from "../domain/StateLimits.ts"
import { StoreError } from "./StoreError.ts"

/** Settings of the embedded database. */
export interface EmbeddedPostgresOptions {
  /** Where PGlite keeps its files; `undefined` keeps them in memory (gone with the process). */
  readonly dataDir: string | undefined
}

const processIsAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Takes `<dataDir>/arbitrage-state.lock` for this process; fails if a live process holds it. */
const lockDataDir = (dataDir: string) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        mkdirSync(dataDir, { recursive: true })
        const lockFile = join(dataDir, "arbitrage-state.lock")
        for (let attempt = 0; attempt < 2; attempt++) {
          try {
            const fd = openSync(lockFile, "wx")
            writeSync(fd, String(process.pid))
            closeSync(fd)
            return lockFile
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
            const holder = Number(readFileSync(lockFile, "utf8"))
            if (Number.isInteger(holder) && holder > 0 && processIsAlive(holder)) {
              throw new Error(`the embedded database in ${dataDir} is in use by process ${holder}`)
            }
            rmSync(lockFile, { force: true }) // left behind by a process that died
          }
        }
        throw new Error(`cannot take the lock of ${dataDir}`)
      },
      catch: (cause) => StoreError.failure("postgres", `embedded database: ${(cause as Error).message}`)
    }),
    (lockFile) => Effect.sync(() => rmSync(lockFile, { force: true }))
  )

/** Starts PGlite and its socket server; both stop when the scope closes. */
const serve = (dataDir: string | undefined) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const db = await PGlite.create(dataDir === undefined ? {} : { dataDir })
        const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0 })
        await server.start()
        const address = (server as unknown as { server?: { address(): { port: number } | string | null } }).server?.address()
        if (address === null || address === undefined || typeof address === "string") {
          await server.stop()
          await db.close()
          throw new Error("the socket server did not report its port")
        }
        return { db, server, port: address.port }
      },
      catch: (cause) => StoreError.failure("postgres", `embedded database did not start: ${(cause as Error).message}`)
    }),
    ({ db, server }) => Effect.promise(async () => {
      await server.stop()
      await db.close()
    }).pipe(Effect.ignore)
  )

/** A `PgClient` (and `SqlClient`) on an embedded PostgreSQL. */
export const layer = (options: EmbeddedPostgresOptions): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, StoreError> =>
  Layer.unwrap(Effect.gen(function*() {
    if (options.dataDir !== undefined) yield* lockDataDir(options.dataDir)
    const { port } = yield* serve(options.dataDir)
    return PgClient.layerFrom(
      PgClient.make({
        host: "127.0.0.1",
        port,
        username: "postgres",
        database: "postgres",
        maxConnections: 1,
        maxMessageSize: 4 * defaultMaxSectionBytes + 1024 * 1024
      }).pipe(
        Effect.mapError((error) => StoreError.unreachable("postgres", `embedded database: ${error.message}`))
      )
    )
  }))
