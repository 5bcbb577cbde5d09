/**
 * A fault-injecting TCP proxy on loopback, between a client and a real
 * server: `cut` drops every connection and refuses new ones (the server
 * "goes down" for the client without being touched), `restore` lets
 * connections through again.
 */
import { Effect } from "effect"
import { createConnection, createServer, type Socket } from "node:net"

/** A running proxy and its switches. */
export interface TcpProxy {
  readonly port: number
  readonly cut: Effect.Effect<void>
  readonly restore: Effect.Effect<void>
}

/** Starts a proxy to `targetHost:targetPort`; it is closed when the scope closes. */
export const tcpProxy = (targetHost: string, targetPort: number) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ proxy: TcpProxy; close: () => Promise<void> }>((resolve) => {
        const sockets = new Set<Socket>()
        let down = false
        const server = createServer((client) => {
          if (down) return client.destroy()
          const upstream = createConnection({ host: targetHost, port: targetPort })
          for (const socket of [client, upstream]) {
            sockets.add(socket)
            socket.on("close", () => sockets.delete(socket))
            socket.on("error", () => {
              client.destroy()
              upstream.destroy()
            })
          }
          client.pipe(upstream)
          upstream.pipe(client)
        })
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          const port = typeof address === "object" && address !== null ? address.port : 0
          const proxy: TcpProxy = {
            port,
            cut: Effect.sync(() => {
              down = true
              for (const socket of sockets) socket.destroy()
            }),
            restore: Effect.sync(() => {
              down = false
            })
          }
          resolve({
            proxy,
            close: () =>
              new Promise<void>((done) => {
                for (const socket of sockets) socket.destroy()
                server.close(() => done())
              })
          })
        })
      })
    ),
    ({ close }) => Effect.promise(close)
  ).pipe(Effect.map(({ proxy }) => proxy))
