/**
 * Loopback ports for servers a test starts itself, and for "nothing listens here".
 */
import { createServer } from "node:net"

/** A loopback port that was free a moment ago (bound, then released). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
