import { PGlite } from "@electric-sql/pglite"
import { PGLiteSocketServer } from "@electric-sql/pglite-socket"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import { SqlClient } from "effect/sql"
const t0 = performance.now()
const db = await PGlite.create({ dataDir: "/tmp/pglite-probe" })
const server = new PGLiteSocketServer({ db, port: 0, host: "127.0.0.1", maxConnections: 4 } as any)
await server.start()
const port = (server as any).server?.address()?.port ?? (server as any).port
console.log("started in", performance.now() - t0, "port", port, Object.keys(server))
const prog = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS t (id int primary key, data jsonb)`
  yield* sql.withTransaction(Effect.gen(function*() {
    yield* sql`INSERT INTO t VALUES (${Date.now() % 100000}, ${sql.json({ a: 1, b: [1, 2] })}) ON CONFLICT DO NOTHING`
  }))
  const rows = yield* sql`SELECT count(*) AS n, max(data::text) as d FROM t`
  console.log(rows)
  const r = yield* Effect.all([sql`SELECT pg_sleep(0.1), 1 as x`, sql`SELECT 2 as x`, sql`select version()`], { concurrency: 3 })
  console.log(JSON.stringify(r))
}).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(`postgres://postgres@127.0.0.1:${port}/postgres`), maxConnections: 3 })))
await Effect.runPromise(prog).catch((e) => console.error("ERR", e))
await server.stop(); await db.close()
console.log("done", performance.now() - t0)
