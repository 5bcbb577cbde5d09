/**
 * A fault-injecting TCP proxy on loopback, between a client and a real
 * server: `cut` drops every connection and refuses new ones (the server
 * "goes down" for the client without being touched), `restore` lets
 * connections through again.
 *
 * For PostgreSQL it can also lose one reply: `loseNextReply` arms it, and the
 * next statement a ready connection sends reaches the server, which runs it
 * to the end (its ReadyForQuery, sent after the commit, is the proof), but
 * not a byte of the reply reaches the client: the proxy drops that
 * connection instead. That is "committed, but the acknowledgement was lost",
 * made to happen on purpose rather than by luck.
 */
import { Deferred, Effect, Redacted } from "effect"
import { createConnection, createServer, type Socket } from "node:net"
import { testDatabaseUrl } from "./Services.ts"

/** A running proxy and its switches. */
export interface TcpProxy {
  readonly port: number
  readonly cut: Effect.Effect<void>
  readonly restore: Effect.Effect<void>
  /**
   * PostgreSQL only: the reply to the next statement sent on an established connection is lost
   * after the server has completed it. The returned effect waits until that has happened.
   */
  readonly loseNextReply: Effect.Effect<Effect.Effect<void>>
  /**
   * PostgreSQL only: the reply to the next statement sent on an established connection is held back
   * (the server has completed the statement once `completed` succeeds) until `release` sends it on.
   */
  readonly holdNextReply: Effect.Effect<{ readonly completed: Effect.Effect<void>; readonly release: Effect.Effect<void> }>
}

/** What the proxy does to the reply of the statement it targets. */
interface ReplyFault {
  readonly kind: "lose" | "hold"
  /** Done once the server has completed the statement (its ReadyForQuery arrived). */
  readonly completed: Deferred.Deferred<void>
  /** For `hold`: sends the withheld reply on. */
  release?: () => void
}

/** The server side of a PostgreSQL connection, read message by message: type byte, then int32 length. */
class PgReplyReader {
  private buffer = Buffer.alloc(0)
  /** Bytes still to skip before the first message (the one-byte answer to an SSLRequest). */
  private skip = 0
  /** Whether the server has said ReadyForQuery at least once (the connection is past its start-up). */
  ready = false

  expectSingleByteAnswer(): void {
    this.skip++
  }

  /** Feeds server bytes; returns whether a ReadyForQuery ended in them. */
  feed(chunk: Buffer): boolean {
    this.buffer = Buffer.concat([this.buffer, chunk])
    let sawReady = false
    while (true) {
      if (this.skip > 0) {
        if (this.buffer.length === 0) break
        this.buffer = this.buffer.subarray(1)
        this.skip--
        continue
      }
      if (this.buffer.length < 5) break
      const length = this.buffer.readInt32BE(1)
      if (this.buffer.length < 1 + length) break
      if (this.buffer[0] === 0x5a /* Z */) {
        sawReady = true
        this.ready = true
      }
      this.buffer = this.buffer.subarray(1 + length)
    }
    return sawReady
  }
}

const sslRequestCode = 80877103
const gssEncRequestCode = 80877104

/** Starts a proxy to `targetHost:targetPort`; it is closed when the scope closes. */
export const tcpProxy = (targetHost: string, targetPort: number) =>
  Effect.gen(function*() {
    const sockets = new Set<Socket>()
    let down = false
    /** The fault waiting for a statement to target. */
    let armed: ReplyFault | undefined

    const server = createServer((client) => {
      if (down) return client.destroy()
      const upstream = createConnection({ host: targetHost, port: targetPort })
      const reader = new PgReplyReader()
      let firstClientBytes = true
      let faulted: ReplyFault | undefined
      const withheld: Array<Buffer> = []
      const drop = () => {
        client.destroy()
        upstream.destroy()
      }
      for (const socket of [client, upstream]) {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
        socket.on("error", drop)
      }
      client.on("data", (chunk: Buffer) => {
        if (firstClientBytes && chunk.length >= 8) {
          const code = chunk.readInt32BE(4)
          if (code === sslRequestCode || code === gssEncRequestCode) reader.expectSingleByteAnswer()
        }
        firstClientBytes = false
        if (armed !== undefined && faulted === undefined && reader.ready) {
          faulted = armed
          armed = undefined
          faulted.release = () => {
            for (const bytes of withheld.splice(0)) client.write(bytes)
            faulted = undefined
          }
        }
        upstream.write(chunk)
      })
      upstream.on("data", (chunk: Buffer) => {
        const completed = reader.feed(chunk)
        if (faulted === undefined) {
          client.write(chunk)
          return
        }
        // The reply is withheld; once the server has finished the statement, the connection goes
        // (lose), or the reply waits to be released (hold).
        withheld.push(chunk)
        if (!completed) return
        Deferred.doneUnsafe(faulted.completed, Effect.void)
        if (faulted.kind === "lose") drop()
      })
      client.on("end", () => upstream.end())
      upstream.on("end", () => client.end())
    })

    const port = yield* Effect.acquireRelease(
      Effect.callback<number>((resume) => {
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
        })
      }),
      () =>
        Effect.callback<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )

    return {
      port,
      cut: Effect.sync(() => {
        down = true
        for (const socket of sockets) socket.destroy()
      }),
      restore: Effect.sync(() => {
        down = false
      }),
      loseNextReply: Effect.gen(function*() {
        const completed = yield* Deferred.make<void>()
        armed = { kind: "lose", completed }
        return Deferred.await(completed)
      }),
      holdNextReply: Effect.gen(function*() {
        const completed = yield* Deferred.make<void>()
        const fault: ReplyFault = { kind: "hold", completed }
        armed = fault
        return { completed: Deferred.await(completed), release: Effect.sync(() => fault.release?.()) }
      })
    } satisfies TcpProxy
  })

/** A proxy in front of the test PostgreSQL, and the URL that reaches the server through it. */
export const testPostgresProxy = Effect.gen(function*() {
  const target = new URL(Redacted.value(testDatabaseUrl))
  const proxy = yield* tcpProxy(target.hostname, Number(target.port || 5432))
  target.port = String(proxy.port)
  return { proxy, url: Redacted.make(target.toString()) }
})
