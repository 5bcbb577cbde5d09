/**
 * StoreError: why a store operation did not complete.
 *
 * The reasons keep apart what a caller must never confuse: a store that
 * cannot be reached (retry later; never read it as "no state"), a write that
 * was sent but never acknowledged (it may have been committed: find out
 * before deciding anything), stored data that cannot be read (skip it, fall
 * back, report it), a write the store refused (a conflict: someone else
 * wrote first), a write from a runner that no longer holds its session
 * (fenced: stop trading), and a live tier that lost the session's fence
 * (re-establish it from the lease before writing again).
 *
 * @module
 */
import { Schema } from "effect"

/** Which backing a failure comes from. */
export const StoreKind = Schema.Literals(["redis", "postgres", "memory"])
export type StoreKind = typeof StoreKind.Type

/** The store did not answer (refused, reset, timed out); nothing that failed this way was written. Retryable. */
export class Unreachable extends Schema.TaggedError<Unreachable>()("Unreachable", {
  store: StoreKind,
  message: Schema.String
}) {
  get isRetryable(): boolean {
    return true
  }
}

/**
 * A write was sent, but the connection dropped before its reply: the store may or may not have
 * committed it. Never to be read as "not written" (nor as "written"): the stores' writes are
 * idempotent, so writing exactly the same thing again tells which, once the store answers.
 */
export class OutcomeUnknown extends Schema.TaggedError<OutcomeUnknown>()("OutcomeUnknown", {
  store: StoreKind,
  message: Schema.String
}) {
  get isRetryable(): boolean {
    return true
  }
}

/** Stored data exists but is not a valid state (corrupt, wrong type, unknown version). Not retryable. */
export class Unreadable extends Schema.TaggedError<Unreadable>()("Unreadable", {
  store: StoreKind,
  /** The key or snapshot that could not be read. */
  location: Schema.String,
  message: Schema.String
}) {
  get isRetryable(): boolean {
    return false
  }
}

/** The store refused the write: it conflicts with what is already there. Not retryable as is. */
export class WriteConflict extends Schema.TaggedError<WriteConflict>()("WriteConflict", {
  store: StoreKind,
  message: Schema.String
}) {
  get isRetryable(): boolean {
    return false
  }
}

/** The write carried a fencing token older than the session's current one: another runner holds the session. */
export class Fenced extends Schema.TaggedError<Fenced>()("Fenced", {
  store: StoreKind,
  message: Schema.String
}) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The live tier holds no usable fence for a session that is written under a lease (Redis lost its
 * data, or the fence key was damaged): a write is refused until the writer has confirmed with the
 * durable lease that it still holds the session and raised the fence again.
 */
export class FenceLost extends Schema.TaggedError<FenceLost>()("FenceLost", {
  store: StoreKind,
  message: Schema.String
}) {
  get isRetryable(): boolean {
    return false
  }
}

/** Any other failure of the store (permissions, a missing table, a driver error). */
export class StoreFailure extends Schema.TaggedError<StoreFailure>()("StoreFailure", {
  store: StoreKind,
  message: Schema.String
}) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A store operation failed; `reason` says how, and whether retrying can help. `cause` is the
 * driver's own error when there is one (its code and words, passwords redacted), for whoever
 * investigates; callers decide by `reason`.
 */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  reason: Schema.Union([Unreachable, OutcomeUnknown, Unreadable, WriteConflict, Fenced, FenceLost, StoreFailure]),
  cause: Schema.optional(Schema.Defect())
}) {
  override get message(): string {
    const where = this.reason._tag === "Unreadable" ? `${this.reason.location}: ` : ""
    return `${this.reason.store}: ${where}${this.reason.message}`
  }

  get isRetryable(): boolean {
    return this.reason.isRetryable
  }

  /** The store could not be reached (nothing was written). */
  static unreachable(store: StoreKind, message: string): StoreError {
    return new StoreError({ reason: new Unreachable({ store, message }) })
  }

  /** A write was sent and not acknowledged: it may have been committed. */
  static outcomeUnknown(store: StoreKind, message: string): StoreError {
    return new StoreError({ reason: new OutcomeUnknown({ store, message }) })
  }

  /** Data at `location` is not a valid state. */
  static unreadable(store: StoreKind, location: string, message: string): StoreError {
    return new StoreError({ reason: new Unreadable({ store, location, message }) })
  }

  /** The store refused a conflicting write. */
  static conflict(store: StoreKind, message: string): StoreError {
    return new StoreError({ reason: new WriteConflict({ store, message }) })
  }

  /** The write's fencing token is stale. */
  static fenced(store: StoreKind, message: string): StoreError {
    return new StoreError({ reason: new Fenced({ store, message }) })
  }

  /** The live tier lost the session's fence. */
  static fenceLost(store: StoreKind, message: string): StoreError {
    return new StoreError({ reason: new FenceLost({ store, message }) })
  }

  /** Any other failure. */
  static failure(store: StoreKind, message: string): StoreError {
    return new StoreError({ reason: new StoreFailure({ store, message }) })
  }
}
