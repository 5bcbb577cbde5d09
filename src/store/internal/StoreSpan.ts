/**
 * StoreSpan: every store operation is a span named after it
 * (`LiveStateStore.save`, `SnapshotStore.loadRecent`, ...).
 *
 * `Effect.fn(name)` would also capture a stack trace at every call to locate
 * the span. Inside the live save, which runs every runner loop, that capture
 * measured about 20 µs of a 170 µs save (BENCHMARKS.md, change 4). A store
 * operation's name already says where it is, so its
 * span is made without the stack trace; everything else about it is as
 * `Effect.fn` makes it (the same name, the same parent, the same timing).
 */
import { Effect } from "effect"

/** `Effect.fnUntraced`, with the function's effect wrapped in a span called `name` (no stack trace captured). */
export const storeOperation = (name: string): typeof Effect.fnUntraced => {
  const span = Effect.withSpan(name, undefined, { captureStackTrace: false })
  // The span is the last step of the pipeline; the function's type is fnUntraced's own.
  return ((body: unknown, ...pipeables: Array<unknown>) =>
    (Effect.fnUntraced as (...args: Array<unknown>) => unknown)(body, ...pipeables, span)) as typeof Effect.fnUntraced
}
