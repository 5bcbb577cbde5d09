/**
 * The package as published: `tsc -p tsconfig.build.json` compiles to
 * JavaScript with declarations, and the compiled entry point loads with its
 * namespaces (migrations included).
 */
import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))

describe("build", () => {
  it("compiles to JavaScript with declarations, and the compiled API loads", async () => {
    const outDir = mkdtempSync(join(root, ".build-test-"))
    try {
      const tsc = spawnSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", outDir], {
        cwd: root,
        encoding: "utf8",
        timeout: 120_000
      })
      assert.strictEqual(tsc.status, 0, tsc.stdout + tsc.stderr)
      assert.isTrue(existsSync(join(outDir, "src/index.d.ts")))
      assert.isTrue(existsSync(join(outDir, "migrations/0001_snapshot_tables.js")))
      const api = await import(pathToFileURL(join(outDir, "src/index.js")).href)
      for (const name of ["Persistence", "Session", "Restore", "SnapshotStore", "LiveStateStore", "Runner", "Supervisor", "StateCodec"]) {
        assert.property(api, name)
      }
      // Backings, scripts, row helpers and codecs' internals are not the API: the stack is built through Persistence.
      for (const name of ["PgSnapshotStore", "RedisLiveStateStore", "RedisClient", "EmbeddedPostgres", "Migrations", "PayloadCompression", "StateLimits", "ExactShape", "SessionReport"]) {
        assert.notProperty(api, name)
      }
      const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"))
      assert.deepStrictEqual(Object.keys(manifest.exports), ["."], "only the entry point is exported: nothing deeper can be imported")
    } finally {
      rmSync(outDir, { recursive: true, force: true })
    }
  }, 180_000)
})

