/**
 * RunnerExit: how a runner process (the CLI's `run`) ends, as exit codes: the
 * one table the CLI exits by and the supervisor reads a child's end by. It
 * depends on nothing, so that both can use it.
 */

/** Success. */
export const ok = 0
/** A failure the CLI does not know (a defect): one line "unexpected failure: ...". */
export const unexpected = 1
/** The arguments (or a file they name) are not usable. */
export const badArguments = 2
/** The state read is not valid (corrupt, an unknown version). */
export const invalidState = 3
/** A store (Redis, PostgreSQL) could not be reached. */
export const storeUnreachable = 4
/** The session is held by another runner. */
export const sessionHeld = 5
/** A store answered but failed (a missing table, a refused write, ...). */
export const storeFailed = 6
/** Stopped by SIGINT once its shutdown snapshot was taken (128 + 2). */
export const stoppedBySigint = 130
/** Stopped by SIGTERM once its shutdown snapshot was taken (128 + 15). */
export const stoppedBySigterm = 143

/** The codes a restart may mend: an unexpected failure, a store that did not answer. */
export const restartable: ReadonlySet<number> = new Set([unexpected, storeUnreachable])

/** The codes of a clean stop by a signal the runner handled. */
export const cleanStops: ReadonlySet<number> = new Set([stoppedBySigint, stoppedBySigterm])
