/**
 * The package as published: `tsc -p tsconfig.build.json` compiles to
 * JavaScript with declarations, and the compiled entry point loads with its
 * namespaces (migrations included). And installed: `npm pack` (which builds
 * it), then `npm install` of the tarball into a project of its own, gives
 * the `arbitrage-state` command, and the examples, importing the package by
 * its name, run there on the built package.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
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

  it("installed from its tarball: the arbitrage-state command runs, and the examples run on the built package", () => {
    const project = mkdtempSync(join(tmpdir(), "arbitrage-state-installed-"))
    const npm = (args: ReadonlyArray<string>, cwd: string) =>
      spawnSync("npm", [...args], { cwd, encoding: "utf8", timeout: 240_000, env: { ...process.env, npm_config_audit: "false", npm_config_fund: "false" } })
    try {
      // `npm pack` builds first (prepack), and packs what package.json's `files` name.
      const packed = npm(["pack", "--pack-destination", project, "--json"], root)
      assert.strictEqual(packed.status, 0, packed.stderr)
      const { filename, files } = (JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>)[0]!
      const paths = files.map((file) => file.path)
      assert.includeMembers(paths, ["dist/src/index.js", "dist/src/index.d.ts", "dist/src/cli/main.js", "package.json"])
      assert.isFalse(paths.some((path) => path.startsWith("src/") || path.startsWith("test/")), "sources and tests are not shipped")

      writeFileSync(join(project, "package.json"), JSON.stringify({ name: "a-user-project", private: true, type: "module" }))
      // From npm's cache where it can (the project's own install filled it), else the registry.
      const installed = npm(["install", "--prefer-offline", "--no-save", join(project, filename)], project)
      assert.strictEqual(installed.status, 0, installed.stderr)

      const bin = join(project, "node_modules/.bin/arbitrage-state")
      const help = spawnSync(bin, ["--help"], { cwd: project, encoding: "utf8", timeout: 60_000 })
      assert.strictEqual(help.status, 0, help.stderr)
      assert.include(help.stdout, "arbitrage-state <subcommand>")
      const { DATABASE_URL: _d, REDIS_URL: _r, ...inherited } = process.env
      const env = { ...inherited, PGLITE_DATA_DIR: join(project, ".data"), STATE_ENV: "installed" }
      const migrated = spawnSync(bin, ["migrate", "--json"], { cwd: project, encoding: "utf8", env, timeout: 120_000 })
      assert.strictEqual(migrated.status, 0, migrated.stderr)

      // The examples as a user copies them: plain node, the package by its name, no condition.
      for (const [name, says] of [["own-runner", "the same state as persisted: yes"], ["custom-section", "stored v1, resumed:"]] as const) {
        copyFileSync(join(root, "examples", `${name}.ts`), join(project, `${name}.ts`))
        const run = spawnSync(process.execPath, [join(project, `${name}.ts`)], { cwd: project, encoding: "utf8", env, timeout: 120_000 })
        assert.strictEqual(run.status, 0, `${name}: ${run.stderr}`)
        assert.include(run.stdout, says, name)
      }
    } finally {
      rmSync(project, { recursive: true, force: true })
    }
  }, 400_000)
})

