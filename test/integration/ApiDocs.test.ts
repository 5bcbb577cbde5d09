/**
 * The API reference is generated from the doc comments of what `src/index.ts`
 * exports (TypeDoc, `npm run docs`), and it is complete: every exported
 * module, function, value, class, interface and type has its documentation,
 * and every `{@link}` resolves. TypeDoc runs with warnings as errors
 * (`typedoc.json`), so any gap fails here.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))

describe("API reference", () => {
  it("generates from the doc comments with no warning: nothing exported undocumented, no broken link", () => {
    const run = spawnSync(process.execPath, [join(root, "node_modules/typedoc/bin/typedoc"), "--emit", "none"], {
      cwd: root,
      encoding: "utf8",
      timeout: 120_000
    })
    const output = `${run.stdout}${run.stderr}`.replace(/\x1b\[[0-9;]*m/g, "")
    assert.strictEqual(run.status, 0, output)
    assert.notMatch(output, /\[warning\]|\[error\]/, output)
  }, 150_000)
})
