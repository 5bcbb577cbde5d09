/**
 * SqlErrors: the one mapping of a PostgreSQL driver error to a `StoreError`,
 * for every store on the database (snapshots, events, leases, migrations,
 * the connection). Unreachable is kept apart from everything else, and for a
 * write, a connection lost after the statement was sent is `OutcomeUnknown`.
 */
import type { SqlError } from "effect/sql"
import { StoreError } from "../StoreError.ts"
import { redactPasswords } from "./ConnectionString.ts"
import { certificateFailure } from "./Tls.ts"

/**
 * Server error codes that mean the server, not the statement, went away: shutting down or
 * restarting (57P01-57P03), or out of connections (53300).
 */
const serverGoneCodes = new Set(["57P01", "57P02", "57P03", "53300"])

/**
 * Maps a driver error to the store's error. For a `write`, a connection lost after the statement was
 * sent is `OutcomeUnknown`: the server may have committed it. Only a connection that could not be
 * made at all is `Unreachable` (nothing sent). The server's words are kept, passwords redacted, and
 * the driver's error is the store error's `cause`.
 */
export const fromSqlError = (operation: string, options: { readonly write?: boolean } = {}) => (error: SqlError.SqlError): StoreError =>
  // Made here, where the failure is classified, so that its stack starts here.
  new StoreError({ reason: reasonOf(operation, options, error).reason, cause: driverCause(error) })

/**
 * The driver's error as the cause to keep: the server's error itself (with its SQLSTATE `code`,
 * `detail`, `constraint`), unless its text names a password, then a copy with the password redacted.
 */
const driverCause = (error: SqlError.SqlError): unknown => {
  const cause = error.reason.cause ?? error
  if (!(cause instanceof Error)) return cause
  const text = `${cause.message}\n${cause.stack ?? ""}`
  if (redactPasswords(text) === text) return cause
  const copy = new Error(redactPasswords(cause.message))
  copy.name = cause.name
  copy.stack = redactPasswords(cause.stack ?? "")
  if ("code" in cause) Object.assign(copy, { code: cause.code })
  return copy
}

const reasonOf = (operation: string, options: { readonly write?: boolean }, error: SqlError.SqlError): StoreError => {
  // The driver's own message is generic ("Query failed"); the server's words are in the cause.
  const cause = error.reason.cause
  const serverMessage = cause instanceof Error ? cause.message : undefined
  const said = redactPasswords(`${operation}: ${serverMessage || error.reason.message || error.reason._tag}`)
  // pg_hba.conf's words for a plain connection to a server that takes encrypted ones only.
  const detail = /no encryption$/.test(said)
    ? `${said}: the server takes encrypted connections only; give DATABASE_URL sslmode=verify-full (and sslrootcert=CA-FILE)`
    : said
  const code = cause instanceof Error && "code" in cause ? String(cause.code) : undefined
  if (error.reason._tag === "ConnectionError" || (code !== undefined && serverGoneCodes.has(code))) {
    const refused = certificateFailure(cause, "sslrootcert in DATABASE_URL")
    if (refused !== undefined) return StoreError.unreachable("postgres", `${operation}: ${refused}`)
    const sent = error.reason.operation !== "connect"
    return options.write === true && sent
      ? StoreError.outcomeUnknown("postgres", `${detail} (the connection was lost after the statement was sent: it may have been committed)`)
      : StoreError.unreachable("postgres", detail)
  }
  return error.reason._tag === "UniqueViolation"
    ? StoreError.conflict("postgres", detail)
    : StoreError.failure("postgres", detail)
}
