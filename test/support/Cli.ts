/**
 * Runs the CLI as an operator would: a real process, its exit code, its output.
 */
import { spawn, spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { readLines } from "../../src/supervisor/LineReader.ts"

/** The CLI entry point the tests run. */
export const cliMain = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url))

/** The result of one CLI run. */
export interface CliRun {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `node src/cli/main.ts ...args` with `env` added to a clean environment. */
export const runCli = (args: ReadonlyArray<string>, env: Record<string, string> = {}): CliRun => {
  const { DATABASE_URL: _d, REDIS_URL: _r, ...inherited } = process.env
  const result = spawnSync(process.execPath, [cliMain, ...args], {
    env: { ...inherited, ...env },
    encoding: "utf8",
    timeout: 60_000
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

/**
 * A CLI process started in the background, sent `signal` (SIGKILL unless told) once `killWhen` is
 * true of a stdout line; resolves when it has ended, with how it ended.
 */
export const runCliUntil = (
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  killWhen: (line: string) => boolean,
  signal: NodeJS.Signals = "SIGKILL"
): Promise<{
  readonly killed: boolean
  readonly lines: ReadonlyArray<string>
  readonly stderr: string
  readonly status: number | null
  readonly signal: NodeJS.Signals | null
}> =>
  new Promise((resolve, reject) => {
    const { DATABASE_URL: _d, REDIS_URL: _r, ...inherited } = process.env
    const child = spawn(process.execPath, [cliMain, ...args], { env: { ...inherited, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    const lines: Array<string> = []
    let stderr = ""
    let killed = false
    readLines(child.stdout, (line) => {
      lines.push(line)
      if (!killed && killWhen(line)) killed = child.kill(signal)
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    child.once("error", reject)
    child.once("close", (status, endedBy) => resolve({ killed, lines, stderr, status, signal: endedBy }))
  })
