/**
 * The demo behind `npm start`: a paper arbitrage session is killed mid-run
 * and comes back exactly. It needs no services: without DATABASE_URL and
 * REDIS_URL the stack uses the embedded PostgreSQL (files under .data/) and
 * keeps live state in memory, which dies with the process, so the resume
 * rests on the durable snapshots alone.
 *
 * 1. start a clean session in a child process and SIGKILL it while it holds
 *    an open position;
 * 2. run the restore pipeline (dry run) and print what it found and from where;
 * 3. resume the session in a new process (once the dead runner's lease has
 *    expired) and run it to the end;
 * 4. compare with the same run left alone, computed here; print a verdict.
 *
 *   npm run example -- demo    (or npm start)
 */
import { Result } from "effect"
import { spawn, spawnSync } from "node:child_process"
import { randomBytes, randomInt } from "node:crypto"
import { mkdirSync, rmSync } from "node:fs"
import { dirname, extname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { createInterface } from "node:readline"
import { ArbitrageStrategy, Campaign, Checksum, Ids, StateCodec } from "arbitrage-state"

// The package's command line, beside its entry point: its sources in this checkout, its build when installed.
const entry = fileURLToPath(import.meta.resolve("arbitrage-state"))
const cli = join(dirname(entry), "cli", `main${extname(entry)}`)
const dataDir = fileURLToPath(new URL(`../.data/demo-${Date.now()}`, import.meta.url))
const sessionId = Ids.SessionId.make(`sess_demo${randomBytes(3).toString("hex")}`)
const loops = 1_500
const seed = 7
const campaign = Campaign.campaigns.balanced!
const { DATABASE_URL: _db, REDIS_URL: _redis, ...inherited } = process.env
// A short lease, so that the killed runner's session is free again two seconds after its death.
const env = { ...inherited, PGLITE_DATA_DIR: dataDir, STATE_ENV: "demo", LEASE_TTL: "2 seconds" }
const args = ["--session", sessionId, "--loops", String(loops), "--seed", String(seed)]
const say = (text: string) => process.stdout.write(`${text}\n`)

/** Runs the session in a child process and SIGKILLs it past `killAfter` while a position is open. */
const runUntilKilled = (killAfter: number) =>
  new Promise<{ readonly loop: number; readonly openTrades: number } | undefined>((resolve) => {
    const child = spawn(process.execPath, [cli, "run", "--mode", "clean", ...args, "--json", "--status-every", "1"], {
      env,
      stdio: ["ignore", "pipe", "ignore"]
    })
    let killedAt: { loop: number; openTrades: number } | undefined
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (killedAt !== undefined || !line.startsWith("{\"loop\":")) return
      const status = JSON.parse(line) as { loop: number; openTrades: number }
      if (status.loop >= killAfter && status.openTrades > 0) {
        killedAt = status
        child.kill("SIGKILL")
      }
    })
    child.once("close", () => resolve(killedAt))
  })

const runCli = (command: ReadonlyArray<string>) => {
  const result = spawnSync(process.execPath, [cli, ...command], { env, encoding: "utf8" })
  return { status: result.status, lastLine: result.stdout.trim().split("\n").at(-1) ?? "", stderr: result.stderr.trim() }
}

mkdirSync(dataDir, { recursive: true })
let verdict = false
try {
  say(`arbitrage-state demo: session ${sessionId}, campaign ${campaign.id}, seed ${seed}, ${loops} loops`)
  say("storage: embedded PostgreSQL (PGlite) for snapshots, live state in memory (no services needed)")
  const killed = await runUntilKilled(randomInt(300, 1_000))
  if (killed === undefined) throw new Error("the session ended before it could be killed")
  say(`1. killed the runner with SIGKILL at loop ${killed.loop}, holding ${killed.openTrades} open position(s)`)

  const restore = runCli(["restore", "--session", sessionId, "--dry-run", "--json"])
  if (restore.status !== 0) throw new Error(`restore failed: ${restore.stderr}`)
  const report = JSON.parse(restore.lastLine)
  say(`2. restore: ${report.outcome} loop ${report.loopCount} from ${report.source} #${report.sequence}` +
    ` with ${Object.keys(report.state.positions.activeTrades).length} open position(s)` +
    (report.skipped.length === 0 ? "" : `; passed over: ${report.skipped.map((s: { source: string; reason: string }) => `${s.source} (${s.reason})`).join("; ")}`))

  const resumed = runCli(["run", "--mode", "resume", ...args, "--json", "--wait-lease", "10"])
  if (resumed.status !== 0) throw new Error(`resume failed: ${resumed.stderr}`)
  const final = JSON.parse(resumed.lastLine)
  say(`3. resumed and ran to loop ${final.session.loopCount}: ${final.metrics.tradesOpened} trades, ` +
    `PnL ${final.metrics.totalPnlUsd.toFixed(2)} USD, equity ${final.metrics.portfolioEquityUsd.toFixed(2)} USD`)

  let alone = ArbitrageStrategy.newSessionState({ sessionId, campaign, startTime: ArbitrageStrategy.simulatedStart, market: { seed, tickMs: 1000 } })
  while (alone.session.loopCount < loops) alone = ArbitrageStrategy.runLoop(alone, campaign, { seed, tickMs: 1000 }).state
  alone = { ...alone, session: { ...alone.session, status: "stopped" } }
  const expected = JSON.parse(JSON.stringify(Result.getOrThrow(StateCodec.encodeEngineState(alone))))
  // Compared as canonical JSON (keys sorted): the same state, whatever order its records were read back in.
  verdict = Checksum.canonicalJson(final) === Checksum.canonicalJson(expected)
  say(`4. the same run left alone: ${alone.metrics.tradesOpened} trades, PnL ${alone.metrics.totalPnlUsd.toFixed(2)} USD`)
} catch (error) {
  say(`demo failed: ${(error as Error).message}`)
} finally {
  rmSync(dataDir, { recursive: true, force: true })
}
say(verdict
  ? "verdict: PASS: the killed and resumed session ended in exactly the state of the uninterrupted run"
  : "verdict: FAIL: the resumed session did not end where the uninterrupted run did")
process.exit(verdict ? 0 : 1)
