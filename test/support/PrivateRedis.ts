/**
 * A redis-server of a test's own, on its own loopback port, so that a test
 * can stop and restart it without disturbing the shared one.
 */
import { Effect, Redacted } from "effect"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { connect } from "node:net"
import { freePort } from "./Ports.ts"

/** A running private Redis and how to stop or restart it. */
export interface PrivateRedis {
  readonly port: number
  readonly url: Redacted.Redacted<string>
  readonly stop: Effect.Effect<void>
  readonly start: Effect.Effect<void>
  /** Runs one command with redis-cli (below the store: to damage keys, or to change the server's settings); its reply. */
  readonly command: (...args: ReadonlyArray<string>) => Effect.Effect<string>
}

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.write("PING\r\n")
    })
    socket.once("data", (data) => {
      socket.destroy()
      resolve(data.toString().startsWith("+PONG"))
    })
    socket.once("error", () => resolve(false))
  })

/** Starts a private redis-server (no persistence); it is killed when the scope closes. */
export const privateRedis = Effect.gen(function*() {
  const port = yield* Effect.promise(freePort)
  let child: ChildProcess | undefined
  const start = Effect.gen(function*() {
    child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdio: "ignore"
    })
    for (let attempt = 0; attempt < 200; attempt++) {
      if (yield* Effect.promise(() => answers(port))) return
      yield* Effect.sleep("50 millis")
    }
    return yield* Effect.die(new Error(`private redis-server on ${port} did not start`))
  })
  const stop = Effect.promise(() =>
    new Promise<void>((resolve) => {
      if (child === undefined || child.exitCode !== null) return resolve()
      child.once("exit", () => resolve())
      child.kill("SIGKILL")
    })
  )
  yield* Effect.acquireRelease(start, () => stop)
  const command = (...args: ReadonlyArray<string>) =>
    Effect.sync(() =>
      (spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], { encoding: "utf8", timeout: 10_000 }).stdout ?? "").trim()
    )
  return { port, url: Redacted.make(`redis://127.0.0.1:${port}/0`), stop, start, command } satisfies PrivateRedis
})
