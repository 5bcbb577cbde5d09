/**
 * HeadlessChromium: the browser the report test renders pages in, shipped
 * inside an npm package (`@sparticuz/chromium`, a headless Chromium compressed
 * into the tarball) and driven by `playwright-core`. After `npm install` a
 * fresh clone has it: no system package, no download, and never a browser
 * found on the PATH (the launcher only ever runs the binary it unpacked).
 *
 * The binary is unpacked once per package version into
 * `node_modules/.cache/`, written under a private name and renamed into place,
 * so two test processes unpacking at once never run a half-written file, and
 * a browser of another version is never picked up. (The package's own
 * `executablePath()` unpacks into a shared, unversioned `/tmp/chromium`, which
 * offers neither.)
 */
import { Effect, Schema } from "effect"
import { randomBytes } from "node:crypto"
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join, sep } from "node:path"
import { pipeline } from "node:stream/promises"
import { createBrotliDecompress } from "node:zlib"
import { pathToFileURL } from "node:url"
import { type Browser, chromium, type Page } from "playwright-core"

const packageDir = dirname(dirname(createRequire(import.meta.url).resolve("@sparticuz/chromium")))

/** The version of the npm package, whose major is the version of the Chromium it ships. */
export const packageVersion: string = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")).version

const nodeModulesOf = (dir: string) => dir.slice(0, dir.lastIndexOf(`${sep}node_modules${sep}`) + `${sep}node_modules`.length)

/** The unpacked binary of this package version (unpacking it on first use). */
export const executable = Effect.promise(async () => {
  const dir = join(nodeModulesOf(packageDir), ".cache", "arbitrage-state", `chromium-${packageVersion}`)
  const binary = join(dir, "chromium")
  if (existsSync(binary)) return binary
  mkdirSync(dir, { recursive: true })
  const partial = `${binary}.${process.pid}-${randomBytes(4).toString("hex")}`
  try {
    await pipeline(
      createReadStream(join(packageDir, "bin", "chromium.br")),
      createBrotliDecompress(),
      createWriteStream(partial, { mode: 0o755 })
    )
    renameSync(partial, binary)
  } finally {
    rmSync(partial, { force: true })
  }
  return binary
})

/** A headless Chromium of the npm package, closed when the scope closes. */
export const launch = Effect.acquireRelease(
  Effect.flatMap(executable, (executablePath) =>
    Effect.tryPromise({
      try: () => chromium.launch({ executablePath, headless: true }),
      catch: (cause) => new Error(`cannot start the npm package's headless Chromium (${executablePath}): ${String(cause)}`)
    })).pipe(Effect.orDie),
  (browser: Browser) => Effect.promise(() => browser.close())
)

/** The HTML file `file` open in a new page `width` CSS pixels wide, closed when the scope closes. */
export const openPage = (browser: Browser, file: string, width: number) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const page = await browser.newPage({ viewport: { width, height: 900 } })
      await page.goto(pathToFileURL(file).href)
      return page
    }),
    (page) => Effect.promise(() => page.close())
  )

const DocumentSize = Schema.Struct({ viewportWidth: Schema.Finite, scrollWidth: Schema.Finite, height: Schema.Finite })

/** The viewport's width, and the laid-out document's width and height (CSS pixels). */
export const documentSize = (page: Page) =>
  Effect.promise(() =>
    // A string, run in the page: this project's TypeScript has no DOM types.
    page.evaluate(`({ viewportWidth: window.innerWidth, scrollWidth: document.documentElement.scrollWidth,
                      height: document.documentElement.scrollHeight })`)
  ).pipe(Effect.flatMap(Schema.decodeUnknownEffect(DocumentSize)), Effect.orDie)

/** How many elements matching `selector` hold content wider than themselves (cut off, or scrolling on their own). */
export const overflowingCount = (page: Page, selector: string) =>
  Effect.promise(() =>
    page.evaluate(`[...document.querySelectorAll(${JSON.stringify(selector)})].filter((e) => e.scrollWidth > e.clientWidth).length`)
  ).pipe(Effect.flatMap(Schema.decodeUnknownEffect(Schema.Int)), Effect.orDie)

/** A rendered element's box (CSS pixels, from the page's top left). */
export interface Box {
  readonly x: number
  readonly y: number
  readonly width: number
  readonly height: number
}

/** Every element matching `selector` that is rendered: its text, the attributes asked for, and its box. */
export const renderedElements = (page: Page, selector: string, attributes: ReadonlyArray<string> = []) =>
  Effect.promise(async () => {
    const found: Array<{ readonly text: string; readonly attributes: Record<string, string | null>; readonly box: Box }> = []
    for (const element of await page.locator(selector).all()) {
      const box = await element.boundingBox()
      if (box === null) continue
      const values = await Promise.all(attributes.map(async (name) => [name, await element.getAttribute(name)] as const))
      found.push({ text: (await element.textContent()) ?? "", attributes: Object.fromEntries(values), box })
    }
    return found
  })

/** Whether two boxes share any area (touching edges do not count). */
export const overlap = (a: Box, b: Box): boolean =>
  a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
