/**
 * A small benchmark harness: warm up, time many runs of a baseline and of our
 * code alternately in one process, and report p50/p99 and the ratio.
 */
import { Effect } from "effect"

/** Timing of one side of a comparison, in microseconds. */
export interface Timing {
  readonly p50: number
  readonly p99: number
  readonly mean: number
  readonly runs: number
}

/** A baseline and our code doing the same work, measured side by side. */
export interface Comparison {
  readonly name: string
  readonly baseline: Timing
  readonly ours: Timing
  /** ours.p50 / baseline.p50 */
  readonly ratio: number
}

/** The p-th percentile of sorted samples. */
export const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

/** The timing of samples (microseconds). */
export const time = (samples: ReadonlyArray<number>): Timing => summarize([...samples])

const summarize = (samples: Array<number>): Timing => {
  const sorted = samples.sort((a, b) => a - b)
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: sorted.reduce((s, x) => s + x, 0) / sorted.length,
    runs: sorted.length
  }
}

/**
 * Alternates `baseline` and `ours` inside one fiber, as a runner calls its stores (one fiber running
 * its loop, not one `runPromise` per call), after a warm-up; both timed by the same clock in the
 * same way (the baseline's promise awaited by the fiber).
 */
export const alternate = <E, R>(
  name: string,
  runs: number,
  warmup: number,
  baseline: (i: number) => Promise<unknown>,
  ours: (i: number) => Effect.Effect<unknown, E, R>
) => alternateEffects(name, runs, warmup, (i) => Effect.promise(() => baseline(i)), ours)

/** `alternate` of two effects: our code against our own code otherwise set (a feature's cost). */
export const alternateEffects = <E1, R1, E2, R2>(
  name: string,
  runs: number,
  warmup: number,
  baseline: (i: number) => Effect.Effect<unknown, E1, R1>,
  ours: (i: number) => Effect.Effect<unknown, E2, R2>
) =>
  Effect.gen(function*() {
    const base: Array<number> = []
    const mine: Array<number> = []
    for (let i = 0; i < warmup + runs; i++) {
      let t = performance.now()
      yield* baseline(i)
      const b = performance.now() - t
      t = performance.now()
      yield* ours(i)
      const o = performance.now() - t
      if (i >= warmup) {
        base.push(b * 1000)
        mine.push(o * 1000)
      }
    }
    const b = time(base)
    const o = time(mine)
    return { name, baseline: b, ours: o, ratio: o.p50 / b.p50 } satisfies Comparison
  })

/** The comparisons as an aligned text table. */
export const formatTable = (rows: ReadonlyArray<Comparison>): string => {
  const head = ["benchmark", "raw p50 µs", "raw p99 µs", "ours p50 µs", "ours p99 µs", "ratio p50"]
  const body = rows.map((r) => [
    r.name,
    r.baseline.p50.toFixed(1),
    r.baseline.p99.toFixed(1),
    r.ours.p50.toFixed(1),
    r.ours.p99.toFixed(1),
    r.ratio.toFixed(2)
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)))
  return [head, ...body].map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ")).join("\n")
}
