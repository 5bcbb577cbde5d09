/**
 * Supervisor: automatic resume after a crash.
 *
 * Runs a session in a child process (the CLI's `run`) and, when the child
 * dies abnormally, starts it again with RESUME_FROM_STATE, after a backoff
 * and up to a restart limit (the restart runs AUTO on the session's id: a
 * child that died before its first snapshot is started clean). What counts
 * as abnormal: death by a signal other than SIGINT/SIGTERM (SIGKILL, SIGSEGV,
 * the OOM killer), or exit code 1 or 4 (an unexpected failure, a store that
 * did not answer). A clean stop (exit 0, ended by SIGINT/SIGTERM, or exit
 * 130/143: a runner that handled one after taking its shutdown snapshot) is
 * not restarted, and neither is a failure a restart cannot mend: bad
 * arguments (2), invalid state (3), a session held by another live runner
 * (5).
 *
 * @module
 */
import { Duration, Effect, Schema } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { SessionId } from "../domain/Ids.ts"
import { readLines } from "./LineReader.ts"
import * as RunnerExit from "./RunnerExit.ts"

/** The CLI beside this module: `.ts` when run from source, `.js` when run from the build. */
const cliMain = fileURLToPath(new URL(`../cli/main${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url))

/** What to run, and how hard to try. */
export interface SuperviseOptions {
  readonly sessionId: SessionId
  /** Arguments of `run` besides --session and --mode (loops, seed, campaign, tick...). */
  readonly runArgs: ReadonlyArray<string>
  /** Environment of the children (DATABASE_URL, REDIS_URL, STATE_ENV, LEASE_TTL...). */
  readonly env?: Record<string, string | undefined>
  /** Restarts after abnormal deaths before giving up (default 10). */
  readonly maxRestarts?: number
  /** First backoff (default 200 ms); it doubles after each consecutive crash, up to `maxBackoff`. */
  readonly initialBackoff?: Duration.Input
  readonly maxBackoff?: Duration.Input
  /** How long a restarted runner waits for the dead runner's lease to expire, in seconds (default 30). */
  readonly leaseWaitSeconds?: number
  /** Called when a child starts; tests use it to inject crashes. */
  readonly onStart?: (child: { readonly attempt: number; readonly pid: number }) => void
  /** Runs between a crash and the restart (checks, metrics). */
  readonly beforeRestart?: (death: Death) => Effect.Effect<void, unknown>
  /** Called with every line a child writes to stdout. */
  readonly onLine?: (line: string) => void
  /** Called when a child has ended, also the last one, stopped because the supervisor was. */
  readonly onDeath?: (death: Death) => void
}

/** How one child ended. */
export interface Death {
  readonly attempt: number
  readonly pid: number
  readonly exitCode: number | null
  readonly signal: string | null
  readonly abnormal: boolean
}

/** The account of a supervision. */
export interface SupervisionReport {
  readonly outcome: "completed" | "stopped" | "gave_up" | "failed"
  readonly restarts: number
  readonly deaths: ReadonlyArray<Death>
  /** The last stdout line of the last child (with `--json`, its final state). */
  readonly lastLine: string | null
}

/** The children could not be started at all. */
export class SupervisorError extends Schema.TaggedError<SupervisorError>()("SupervisorError", {
  message: Schema.String
}) {}

/**
 * Whether a child was stopped on purpose: killed by SIGINT/SIGTERM, or exited with the code the CLI
 * gives after handling one (128 + 2 = 130, 128 + 15 = 143) once its shutdown snapshot was taken.
 */
export const isCleanStop = (exitCode: number | null, signal: string | null): boolean =>
  signal !== null ? signal === "SIGINT" || signal === "SIGTERM" : exitCode !== null && RunnerExit.cleanStops.has(exitCode)

/** Whether a child's end calls for a restart. */
export const isAbnormal = (exitCode: number | null, signal: string | null): boolean =>
  !isCleanStop(exitCode, signal) && (signal !== null || (exitCode !== null && RunnerExit.restartable.has(exitCode)))

/** Runs one child to its end. */
const runChild = (attempt: number, args: ReadonlyArray<string>, options: SuperviseOptions) =>
  Effect.callback<{ readonly death: Death; readonly lastLine: string | null }, SupervisorError>((resume) => {
    let child: ChildProcess
    try {
      child = spawn(process.execPath, [cliMain, ...args], {
        env: { ...process.env, ...options.env },
        stdio: ["ignore", "pipe", "inherit"]
      })
    } catch (error) {
      resume(Effect.fail(new SupervisorError({ message: `cannot start the runner: ${(error as Error).message}` })))
      return
    }
    let lastLine: string | null = null
    if (child.stdout !== null) {
      readLines(child.stdout, (line) => {
        if (line.length === 0) return
        lastLine = line
        options.onLine?.(line)
      })
    }
    child.once("error", (error) => resume(Effect.fail(new SupervisorError({ message: `runner failed to start: ${error.message}` }))))
    child.once("spawn", () => options.onStart?.({ attempt, pid: child.pid! }))
    child.once("close", (exitCode, signal) => {
      const death = { attempt, pid: child.pid ?? -1, exitCode, signal, abnormal: isAbnormal(exitCode, signal) }
      options.onDeath?.(death)
      resume(Effect.succeed({ death, lastLine }))
    })
    // Interruption (the supervisor itself told to stop): stop the child gracefully, so it takes its
    // shutdown snapshot, and wait until it has: whoever stopped the supervisor takes its exit for
    // the end of the session, and a runner still writing then would hold the lease a new supervisor
    // needs. No SIGKILL after a grace period: a process manager has its own stop timeout.
    return Effect.callback<void>((stopped) => {
      if (child.exitCode !== null || child.signalCode !== null) return stopped(Effect.void)
      child.once("close", () => stopped(Effect.void))
      child.kill("SIGTERM")
    })
  })

/** Supervises the session until it completes, stops, fails for good, or crashes more than allowed. */
export const supervise = Effect.fn("Supervisor.supervise")(function*(options: SuperviseOptions) {
  const maxRestarts = options.maxRestarts ?? 10
  const initial = Duration.toMillis(Duration.fromInputUnsafe(options.initialBackoff ?? "200 millis"))
  const max = Duration.toMillis(Duration.fromInputUnsafe(options.maxBackoff ?? "10 seconds"))
  const deaths: Array<Death> = []
  let backoff = initial
  for (let attempt = 0;; attempt++) {
    // AUTO with the session's id: resume what is there, or start it clean if it died before its first
    // snapshot. After a crash, wait for the dead runner's lease to expire.
    const mode = attempt === 0 ? ["--mode", "auto"] : ["--mode", "auto", "--wait-lease", String(options.leaseWaitSeconds ?? 30)]
    const { death, lastLine } = yield* runChild(attempt, ["run", "--session", options.sessionId, ...mode, ...options.runArgs], options)
    deaths.push(death)
    if (!death.abnormal) {
      const outcome = death.exitCode === 0 ? "completed" : isCleanStop(death.exitCode, death.signal) ? "stopped" : "failed"
      return { outcome, restarts: attempt, deaths, lastLine } satisfies SupervisionReport
    }
    if (attempt >= maxRestarts) return { outcome: "gave_up", restarts: attempt, deaths, lastLine } satisfies SupervisionReport
    yield* Effect.logWarning(
      `runner ${death.pid} of ${options.sessionId} died (${death.signal ?? `exit ${death.exitCode}`}); resuming in ${backoff} ms`
    )
    if (options.beforeRestart !== undefined) yield* options.beforeRestart(death).pipe(Effect.orDie)
    yield* Effect.sleep(Duration.millis(backoff))
    backoff = Math.min(max, backoff * 2)
  }
})
