/**
 * Runs the CLI as an operator would: a real process, its exit code, its output.
 */
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const cliMain = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url))

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
