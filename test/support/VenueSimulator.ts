/**
 * The venue simulator as the tests run it: a real, separate process
 * (`cli venue serve`) on a loopback port of its own, with a data folder of
 * its own; stopped (SIGKILL or SIGTERM) and restarted on the same folder and
 * port at will, killed when the scope closes.
 */
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { FetchHttpClient } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { readLines } from "../../src/supervisor/LineReader.ts"
import { SimApi, type SimFaultsChange } from "../../src/venue-sim/SimApi.ts"
import { freePort } from "./Ports.ts"

const cliMain = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url))

/** A running simulator and how to drive it. */
export interface RunningSimulator {
  readonly url: string
  readonly port: number
  readonly dataDir: string
  /** Kills the process (SIGKILL unless told). */
  readonly stop: (signal?: NodeJS.Signals) => Effect.Effect<void>
  /** Starts it again on the same folder and port. */
  readonly start: Effect.Effect<void>
  /** Sets fault switches. */
  readonly faults: (change: SimFaultsChange) => Effect.Effect<void>
  /** Its admin client (every order ever, positions, a position changed by hand). */
  readonly admin: Effect.Effect<HttpApiClient.ForApi<typeof SimApi>["admin"]>
}

/** Starts a simulator with `args` (besides --port and --data), killed and its folder removed when the scope closes. */
export const startSimulator = (args: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const port = yield* Effect.promise(freePort)
    const dataDir = mkdtempSync(join(tmpdir(), "venue-sim-"))
    const url = `http://127.0.0.1:${port}`
    let child: ChildProcess | undefined
    const start = Effect.promise(() =>
      new Promise<void>((resolve, reject) => {
        const process_ = spawn(process.execPath, [cliMain, "venue", "serve", "--port", String(port), "--data", dataDir, ...args], {
          stdio: ["ignore", "pipe", "pipe"]
        })
        child = process_
        let stderr = ""
        process_.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
          stderr += chunk
        })
        readLines(process_.stdout!, (line) => {
          if (line.startsWith("venue simulator listening on ")) resolve()
        })
        process_.once("exit", (code) => reject(new Error(`the venue simulator exited (${code}) before it listened: ${stderr}`)))
      })
    )
    const stop = (signal: NodeJS.Signals = "SIGKILL") =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          if (child === undefined || child.exitCode !== null || child.signalCode !== null) return resolve()
          child.once("exit", () => resolve())
          child.kill(signal)
        })
      )
    yield* Effect.acquireRelease(start, () => stop().pipe(Effect.andThen(Effect.sync(() => rmSync(dataDir, { recursive: true, force: true })))))
    const client = HttpApiClient.make(SimApi, { baseUrl: url }).pipe(Effect.provide(FetchHttpClient.layer), Effect.orDie)
    return {
      url,
      port,
      dataDir,
      stop,
      start,
      // A connection kept alive across a restart of the simulator fails once: asked again on a new one.
      faults: (change) => Effect.flatMap(client, (c) => c.admin.faults({ payload: change })).pipe(Effect.retry({ times: 3 }), Effect.orDie, Effect.asVoid),
      admin: Effect.map(client, (c) => c.admin)
    } satisfies RunningSimulator
  })
