/**
 * A Redis Cluster of a test file's own: three masters on loopback ports,
 * started from the installed redis-server in cluster mode and joined with
 * `redis-cli --cluster create`. Started once per test file (the first time
 * it is asked for); the file stops it with `stopSharedRedisCluster` after
 * its tests.
 */
import { Effect, Redacted } from "effect"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "./Ports.ts"

/** `redis-cli` against one node, its output. */
const cli = (port: number, ...args: ReadonlyArray<string>) =>
  spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], { encoding: "utf8", timeout: 10_000 }).stdout ?? ""

/** Starts the cluster; its node URLs, ready (cluster_state:ok on every node). */
const startCluster = Effect.gen(function*() {
  const dir = mkdtempSync(join(tmpdir(), "arbitrage-state-cluster-"))
  const ports = [yield* Effect.promise(freePort), yield* Effect.promise(freePort), yield* Effect.promise(freePort)]
  const children: Array<ChildProcess> = []
  stop = () => {
    for (const child of children) child.kill("SIGKILL")
    rmSync(dir, { recursive: true, force: true })
  }
  for (const port of ports) {
    children.push(spawn("redis-server", [
      "--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
      "--cluster-config-file", `nodes-${port}.conf`, "--dir", dir, "--save", "", "--appendonly", "no"
    ], { stdio: "ignore" }))
  }
  const waitFor = (what: string, ready: () => boolean) =>
    Effect.gen(function*() {
      for (let attempt = 0; attempt < 200; attempt++) {
        if (ready()) return
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
      }
      return yield* Effect.die(new Error(`private redis cluster: ${what} did not happen`))
    })
  yield* waitFor("the nodes answering", () => ports.every((port) => cli(port, "PING").trim() === "PONG"))
  const created = spawnSync(
    "redis-cli",
    ["--cluster", "create", ...ports.map((port) => `127.0.0.1:${port}`), "--cluster-replicas", "0", "--cluster-yes"],
    { encoding: "utf8", timeout: 30_000 }
  )
  if (created.status !== 0) return yield* Effect.die(new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`))
  yield* waitFor("cluster_state:ok", () => ports.every((port) => cli(port, "CLUSTER", "INFO").includes("cluster_state:ok")))
  return { ports, nodes: ports.map((port) => Redacted.make(`redis://127.0.0.1:${port}`)) }
})

let stop = () => {}

/** Kills the cluster's servers and removes their files. */
export const stopSharedRedisCluster = () => stop()

let started: Promise<{ readonly ports: ReadonlyArray<number>; readonly nodes: ReadonlyArray<Redacted.Redacted<string>> }> | undefined

/** The cluster of this test process, started on first use. */
export const sharedRedisCluster = Effect.promise(() => (started ??= Effect.runPromise(startCluster)))
