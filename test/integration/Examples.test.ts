/**
 * The examples run as a user would run them, with the command the README and
 * each example's header give (`npm run example -- <name>`), on the embedded
 * default (no DATABASE_URL, no REDIS_URL), and say what they promise.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const projectRoot = fileURLToPath(new URL("../..", import.meta.url))
const examplesDir = join(projectRoot, "examples")
const exampleNames = readdirSync(examplesDir).filter((file) => file.endsWith(".ts")).map((file) => file.slice(0, -3)).sort()

/** `npm run example -- <args>` in the project, as the README says. */
const npmExample = (args: ReadonlyArray<string>, dataDir?: string) => {
  const { DATABASE_URL: _d, REDIS_URL: _r, ...env } = process.env
  const result = spawnSync("npm", ["run", "example", "--", ...args], {
    cwd: projectRoot,
    env: { ...env, ...(dataDir === undefined ? {} : { PGLITE_DATA_DIR: dataDir }), STATE_ENV: "examples" },
    encoding: "utf8",
    timeout: 150_000
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

const runExample = (name: string, dataDir: string) => npmExample([name], dataDir)

/** `name` run on an embedded database of its own, removed afterwards. */
const runOnOwnDatabase = (name: string) => {
  const dataDir = mkdtempSync(join(tmpdir(), "arbitrage-state-examples-"))
  try {
    return runExample(name, dataDir)
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
}

describe("examples", () => {
  it("each example's header gives the command that runs it: npm run example -- <name>", () => {
    assert.includeMembers(exampleNames, ["compose-layers", "custom-section", "demo", "inspect-snapshots", "live-venue", "own-runner", "resume-session"])
    for (const name of exampleNames) {
      assert.include(readFileSync(join(examplesDir, `${name}.ts`), "utf8"), ` *   npm run example -- ${name}`, name)
    }
  })

  it("each example imports the package by its name, as a user's program would, and nothing of the checkout", () => {
    for (const name of exampleNames) {
      const text = readFileSync(join(examplesDir, `${name}.ts`), "utf8")
      assert.include(text, `from "arbitrage-state"`, name)
      const relative = [...text.matchAll(/(?:from|import\() ?"(\.[^"]*)"/g)].map((m) => m[1])
      assert.deepStrictEqual(relative, [], `${name} imports files of the checkout`)
    }
  })

  it("an unknown or missing name is refused (exit 2) with the names there are, and nothing runs", () => {
    for (const args of [["no-such-example"], [], ["../src/cli/main"]]) {
      const run = npmExample(args)
      assert.strictEqual(run.status, 2, `${args.join(" ")}: ${run.stderr}`)
      assert.include(run.stderr, `examples: ${exampleNames.join(", ")}`)
      // Only npm's own banner ("> arbitrage-state@... example", "> exec sh examples/run.sh ...") is on stdout.
      assert.deepStrictEqual(run.stdout.split("\n").filter((line) => line !== "" && !line.startsWith("> ")), [])
    }
  })

  it("the demo behind npm start: killed mid-run, resumed from the embedded database, ends exactly where the run left alone does", () => {
    // The demo keeps its embedded database in a folder of its own under .data/ and removes it.
    const unused = mkdtempSync(join(tmpdir(), "arbitrage-state-demo-"))
    const run = runExample("demo", unused)
    rmSync(unused, { recursive: true, force: true })
    assert.strictEqual(run.status, 0, `${run.stdout}\n${run.stderr}`)
    assert.match(run.stdout, /1\. killed the runner with SIGKILL at loop \d+, holding [1-9]\d* open position/)
    assert.match(run.stdout, /2\. restore: restored loop \d+ from snapshot/)
    assert.include(run.stdout, "verdict: PASS")
  }, 180_000)

  it("compose-layers, resume-session and inspect-snapshots run on the embedded default and say what they promise", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "arbitrage-state-examples-"))
    try {
      const composed = runExample("compose-layers", dataDir)
      assert.strictEqual(composed.status, 0, composed.stderr)
      assert.match(composed.stdout, /ran to loop 200/)
      const resumed = runExample("resume-session", dataDir)
      assert.strictEqual(resumed.status, 0, resumed.stderr)
      assert.match(resumed.stdout, /restored loop 300 from the live tier/)
      assert.include(resumed.stdout, "metrics carried over: yes")
      assert.include(resumed.stdout, "trades what it recorded: campaign aggressive, seed 2")
      const inspected = runExample("inspect-snapshots", dataDir)
      assert.strictEqual(inspected.status, 0, inspected.stderr)
      assert.match(inspected.stdout, /2 session\(s\) with snapshots/)
      assert.notInclude(inspected.stdout, "invalid")
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 120_000)

  it("own-runner trades its own venues with a section of its own, and a resume gives back exactly what it persisted", () => {
    const run = runOnOwnDatabase("own-runner")
    assert.strictEqual(run.status, 0, run.stderr)
    assert.match(run.stdout, /loop 24, 2 trade\(s\) opened, 1 closed, one open: buy on binance, sell on upbit, BTC\/KRW/)
    const ledger = /ledger: 1 close\(s\), PnL (-?\d+\.\d\d) USD; metrics: PnL (-?\d+\.\d\d) USD/.exec(run.stdout)
    assert.isNotNull(ledger, run.stdout)
    assert.strictEqual(ledger![1], ledger![2], "the ledger's PnL is the metrics'")
    assert.match(run.stdout, /restored loop 24 from the \w+ tier, cooldown until loop \d+/)
    assert.include(run.stdout, "the same state as persisted: yes")
  }, 120_000)

  it("live-venue trades through the simulator, dies with orders in flight, resumes reconciled, and ends with the venues agreeing", () => {
    const run = runOnOwnDatabase("live-venue")
    assert.strictEqual(run.status, 0, run.stderr)
    const died = /died at loop (\d+) right after a send, \d+ trades opened, \d+ closed, ([1-9]\d*) order\(s\) in flight at the crash/.exec(run.stdout)
    assert.isNotNull(died, run.stdout)
    const loop = Number(died![1])
    // The order sent before the crash is found at its venue: at least it moved.
    assert.match(run.stdout, new RegExp(`resumed at loop ${loop}: [1-9]\\d* order\\(s\\) moved while it was down, 0 orphan\\(s\\), venues agree`))
    assert.match(run.stdout, /stopped at loop \d+: [1-9]\d* trades closed, PnL -?\d+\.\d\d USD; venues agree with the state/)
  }, 120_000)

  it("custom-section stores its own section with the session, resumes it upgraded from v1, and refuses a future or damaged one", () => {
    const run = runOnOwnDatabase("custom-section")
    assert.strictEqual(run.status, 0, run.stderr)
    assert.include(run.stdout, "stored v1, resumed: {\"venue\":\"upbit\",\"makerBps\":4,\"takerBps\":4}")
    assert.include(run.stdout, "written now: {\"version\":2,\"venue\":\"upbit\",\"makerBps\":2,\"takerBps\":5}")
    assert.match(run.stdout, /from the future: refused \(custom\.fees has version 3/)
    assert.match(run.stdout, /damaged: refused \(.*custom\.fees\.makerBps/)
  }, 120_000)
})
