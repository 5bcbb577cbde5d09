/**
 * The README's smallest complete program runs as written: the `ts` block of
 * its "Using the library" section, importing the package by its name, on the
 * embedded default. Run twice, the second run
 * resumes (AUTO) nothing, since the first stopped cleanly, and starts anew.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))

/** The first `ts` block after the heading `## Using the library`. */
const readmeProgram = (): string => {
  const readme = readFileSync(join(root, "README.md"), "utf8")
  const section = readme.slice(readme.indexOf("## Using the library"))
  const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1]
  assert.isDefined(block, "the README has the program")
  return block!
}

describe("the README's program", () => {
  it("runs as written on the embedded default and persists 100 loops", () => {
    const program = readmeProgram()
    assert.include(program, `from "arbitrage-state"`)
    // Inside the checkout the package's name resolves to its sources (the arbitrage-state-source
    // condition of package.json's exports, as npm run example uses it).
    const file = join(root, "test", `.readme-program-${process.pid}.ts`)
    const dataDir = mkdtempSync(join(tmpdir(), "arbitrage-state-readme-"))
    writeFileSync(file, program)
    try {
      const { DATABASE_URL: _d, REDIS_URL: _r, ...inherited } = process.env
      const run = () =>
        spawnSync(process.execPath, ["--conditions=arbitrage-state-source", file], { env: { ...inherited, PGLITE_DATA_DIR: dataDir, STATE_ENV: "readme" }, encoding: "utf8", timeout: 90_000 })
      // What the program prints (the stack's own log lines aside).
      const said = (stdout: string) => stdout.split("\n").filter((line) => line.startsWith("sess_"))
      const first = run()
      assert.strictEqual(first.status, 0, first.stderr)
      assert.lengthOf(said(first.stdout), 1, first.stdout)
      assert.match(said(first.stdout)[0]!, /^sess_\w+: loop 100 persisted$/)
      const second = run()
      assert.strictEqual(second.status, 0, second.stderr)
      assert.match(said(second.stdout)[0] ?? "", /^sess_\w+: loop 100 persisted$/)
      assert.notStrictEqual(said(second.stdout)[0], said(first.stdout)[0], "a cleanly stopped session is not resumed by AUTO")
    } finally {
      rmSync(file, { force: true })
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 120_000)
})
