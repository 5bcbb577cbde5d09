/**
 * Helpers for damaging values the way storage faults do, reproducibly: a
 * seeded random source (so that a failing case replays from its seed), a
 * random pick, and every object inside a JSON-like value.
 */

/** A source of numbers in [0, 1). */
export type Rng = () => number

/** A deterministic pseudo-random source (mulberry32): the same seed gives the same sequence. */
export const seededRandom = (seed: number): Rng => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** One of `items`, chosen by `rng`. */
export const pick = <A>(rng: Rng, items: ReadonlyArray<A>): A => items[Math.floor(rng() * items.length)]!

/** Every object (not array) inside `value`, itself included, each one the live object (so that it can be changed in place). */
export const objectsOf = (value: unknown, found: Array<Record<string, unknown>> = []): Array<Record<string, unknown>> => {
  if (value !== null && typeof value === "object") {
    if (!Array.isArray(value)) found.push(value as Record<string, unknown>)
    for (const child of Object.values(value)) objectsOf(child, found)
  }
  return found
}
