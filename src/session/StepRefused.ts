/**
 * StepRefused: a step that opens trades was not made durable, so it is not
 * taken. The durable tier was away or did not answer, and nothing of the step
 * was written; the runner redoes the loop without opening trades. A failure
 * rather than a flag, so that no caller can go on as if the trades were open.
 */
import { Schema } from "effect"

/** The step was refused; the loop must be done again without opening trades. */
export class StepRefused extends Schema.TaggedError<StepRefused>()("StepRefused", {
  sessionId: Schema.String,
  /** The loop of the refused step. */
  loopCount: Schema.Number,
  message: Schema.String
}) {}
