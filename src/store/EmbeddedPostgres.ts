/**
 * EmbeddedPostgres: a real PostgreSQL inside this process, for when no
 * DATABASE_URL is given.
 *
 * PGlite (PostgreSQL compiled to WebAssembly) keeps its files in a directory,
 * so snapshots survive a restart; pglite-socket serves it on a loopback port
 * so that the same `@effect/sql-pg` client and the same migrations are used as
 * with a server. PGlite is single-session, so the pool holds one connection
 * (transactions must not interleave), and a lock file keeps a second process
 * (or a second stack of this one) from opening the same directory while its
 * holder lives (`internal/DataDirLock.ts`).
 *
 * Durable as a server is: PGlite starts PostgreSQL with `fsync` off, and its
 * file system under Node (Emscripten's NODEFS) has no fsync at all, so a
 * commit would survive a killed process but not an OS crash or a power loss.
 * Here PostgreSQL runs with `fsync=on` and `wal_sync_method=fsync`, and
 * NODEFS is given the fsync it lacks (Node's `fsyncSync` on the file): every
 * commit's WAL reaches the disk before the commit returns, and checkpoints
 * sync the data files, as on a server. (An in-memory database has nothing to
 * sync.)
 */
import { PGlite } from "@electric-sql/pglite"
import fs from "node:fs"
import { Server as NetServer } from "node:net"
import { PGLiteSocketServer } from "@electric-sql/pglite-socket"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer } from "effect"
import type { SqlClient } from "effect/sql"
import { maxSnapshotBytes } from "./internal/StateLimits.ts"
import * as DataDirLock from "./internal/DataDirLock.ts"
import { StoreError } from "./StoreError.ts"

/** Settings of the embedded database. */
export interface EmbeddedPostgresOptions {
  /** Where PGlite keeps its files; `undefined` keeps them in memory (gone with the process). */
  readonly dataDir: string | undefined
}

/** PGlite's start parameters, with fsync on (its default `-F` turns it off), the WAL flushed by fsync. */
const durableStartParams = [...PGlite.defaultStartParams.filter((param) => param !== "-F"), "-c", "fsync=on", "-c", "wal_sync_method=fsync"]

/** The stream operations of PGlite's Node file system (Emscripten's NODEFS), which lack `fsync`. */
interface NodeFsStreams {
  fsync?: (stream: { readonly nfd: number }) => number
}

/** The object under `path` in `root`, followed one property at a time (PGlite's internals are not typed), if it is one. */
const objectAt = (root: object, path: ReadonlyArray<string>): object | undefined => {
  let current: unknown = root
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined
    current = Reflect.get(current, key)
  }
  return current !== null && typeof current === "object" ? current : undefined
}

/** Gives the NODEFS of `db` an fsync: the file's own, through Node (its descriptor is a real one). */
const syncToDisk = (db: PGlite) => {
  const streams: NodeFsStreams | undefined = objectAt(db, ["mod", "FS", "filesystems", "NODEFS", "stream_ops"])
  if (streams === undefined) throw new Error("this PGlite does not expose its Node file system: it cannot be made to fsync")
  streams.fsync = (stream) => {
    fs.fsyncSync(stream.nfd)
    return 0
  }
}

/** Starts PGlite and its socket server; both stop when the scope closes. */
const serve = (dataDir: string | undefined) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const db = await PGlite.create(dataDir === undefined ? {} : { dataDir, startParams: durableStartParams })
        if (dataDir !== undefined) {
          try {
            syncToDisk(db)
          } catch (error) {
            await db.close()
            throw error
          }
        }
        const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0 })
        await server.start()
        const port = listeningPort(server)
        if (port === undefined) {
          await server.stop()
          await db.close()
          throw new Error("the socket server did not report its port")
        }
        return { db, server, port }
      },
      catch: (cause) => StoreError.failure("postgres", `embedded database did not start: ${(cause as Error).message}`)
    }),
    ({ db, server }) => Effect.promise(async () => {
      await server.stop()
      await db.close()
    }).pipe(Effect.ignore)
  )

/** A `PgClient` (and `SqlClient`) on an embedded PostgreSQL. */

/**
 * The port the socket server chose (it was asked for port 0): its `net.Server` is a private field,
 * walked to at run time with every step checked, so that a release that moves it fails here, loudly.
 */
const listeningPort = (socketServer: object): number | undefined => {
  const inner: unknown = Reflect.get(socketServer, "server")
  if (!(inner instanceof NetServer)) return undefined
  const address = inner.address()
  return address !== null && typeof address === "object" ? address.port : undefined
}

export const layer = (options: EmbeddedPostgresOptions): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, StoreError> =>
  Layer.unwrap(Effect.gen(function*() {
    if (options.dataDir !== undefined) yield* DataDirLock.acquire(options.dataDir)
    const { port } = yield* serve(options.dataDir)
    return PgClient.layerFrom(
      PgClient.make({
        host: "127.0.0.1",
        port,
        username: "postgres",
        database: "postgres",
        maxConnections: 1,
        maxMessageSize: maxSnapshotBytes
      }).pipe(
        Effect.mapError((error) => StoreError.unreachable("postgres", `embedded database: ${error.message}`))
      )
    )
  }))
