/**
 * Reads committed fixtures: stored forms of past versions that must decode forever.
 */
import { readFileSync } from "node:fs"

/** The parsed JSON of `test/fixtures/<path>`. */
export const fixtureJson = (path: string): any =>
  JSON.parse(readFileSync(new URL(`../fixtures/${path}`, import.meta.url), "utf8"))

/** The raw text of `test/fixtures/<path>`. */
export const fixtureText = (path: string): string =>
  readFileSync(new URL(`../fixtures/${path}`, import.meta.url), "utf8")
