/**
 * SessionError: why a session could not start.
 *
 * @module
 */
import { Schema } from "effect"

/** RESUME_FROM_STATE was asked for a session that has no state in any tier. */
export class SessionNotFound extends Schema.TaggedError<SessionNotFound>()("SessionNotFound", {
  sessionId: Schema.String,
  message: Schema.String
}) {}

/** The session has state, but none of it is valid: resuming would mean trading on state we cannot trust. */
export class SessionUnrecoverable extends Schema.TaggedError<SessionUnrecoverable>()("SessionUnrecoverable", {
  sessionId: Schema.String,
  message: Schema.String
}) {}

/** CLEAN_RESET was asked with the id of a session that already has state. */
export class SessionExists extends Schema.TaggedError<SessionExists>()("SessionExists", {
  sessionId: Schema.String,
  message: Schema.String
}) {}

/** RESUME_FROM_STATE needs a session id. */
export class SessionIdRequired extends Schema.TaggedError<SessionIdRequired>()("SessionIdRequired", {
  message: Schema.String
}) {}

/** A session could not start; `reason` says why. */
export class SessionError extends Schema.TaggedError<SessionError>()("SessionError", {
  reason: Schema.Union([SessionNotFound, SessionUnrecoverable, SessionExists, SessionIdRequired])
}) {
  override get message(): string {
    return this.reason.message
  }
}
