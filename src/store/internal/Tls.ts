/**
 * Tls: the encrypted connections to both tiers, as their settings describe
 * them.
 *
 * PostgreSQL: `sslmode` and `sslrootcert` in `DATABASE_URL`, with libpq's
 * meaning (`disable`; `allow`/`prefer`: TLS when the server offers it;
 * `require`: TLS, the certificate not checked unless `sslrootcert` is given,
 * then as `verify-ca`; `verify-ca`: TLS, the certificate signed by the CA;
 * `verify-full`: that, and issued to the host connected to). The driver's own
 * reading of `sslmode` verifies the certificate for `require` and ignores
 * `sslrootcert`, so the options are made here and given to it explicitly.
 *
 * Redis: a `rediss:` URL (one server, or every node of a cluster) is TLS,
 * verified against the CA of `REDIS_CA_FILE` when set, else the system's.
 *
 * A certificate that does not verify is said in words (what was wrong, and
 * which setting names the CA), never as a bare driver code.
 */
import { readFileSync } from "node:fs"
import type { ConnectionOptions } from "node:tls"
import { errorCodeOf } from "./ErrorCode.ts"

/** The `sslmode`s PostgreSQL clients know. */
export const sslModes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] as const

/** A CA file's certificates, or why they cannot be read (said without anything but the path). */
export const readCaFile = (path: string): { readonly ca: string } | { readonly problem: string } => {
  let text: string
  try {
    text = readFileSync(path, "utf8")
  } catch (error) {
    return { problem: `cannot read the CA file ${path} (${errorCodeOf(error) ?? "unreadable"})` }
  }
  return text.includes("-----BEGIN CERTIFICATE-----") ? { ca: text } : { problem: `the CA file ${path} holds no PEM certificate` }
}

/**
 * The query parameters a PostgreSQL URL may hold: those the driver reads, and `sslrootcert`. Like
 * libpq, anything else is refused: the driver would ignore it silently (`ssl=true`, `SSLMODE=...`
 * would connect in plain text).
 */
const postgresParameters = ["host", "port", "user", "password", "dbname", "application_name", "options", "connect_timeout", "sslmode", "sslrootcert"]

/** What is wrong with the TLS settings (and the parameters) of a PostgreSQL URL, if anything (said without the URL). */
export const postgresTlsProblem = (url: URL): string | undefined => {
  const names = [...url.searchParams.keys()]
  const unknown = names.filter((name) => !postgresParameters.includes(name))
  if (unknown.length > 0) return `unknown parameter ${unknown.map((name) => JSON.stringify(name)).join(", ")} (known: ${postgresParameters.join(", ")})`
  const twice = names.filter((name, i) => names.indexOf(name) !== i)
  if (twice.length > 0) return `parameter ${JSON.stringify(twice[0])} given twice`
  const mode = url.searchParams.get("sslmode")
  if (mode !== null && !sslModes.some((known) => known === mode)) return `sslmode must be one of ${sslModes.join(", ")}, got ${JSON.stringify(mode)}`
  const rootCert = url.searchParams.get("sslrootcert")
  if (rootCert === null) return undefined
  if (mode === null || mode === "disable" || mode === "allow" || mode === "prefer") {
    return "sslrootcert is only used with sslmode=require, verify-ca or verify-full"
  }
  const read = readCaFile(rootCert)
  return "problem" in read ? `sslrootcert: ${read.problem}` : undefined
}

/**
 * The driver's `ssl` option for a PostgreSQL URL: `undefined` leaves the URL's own `sslmode` to the
 * driver (none, `disable`, `allow`, `prefer`). Assumes `postgresTlsProblem` found nothing.
 */
export const postgresTls = (text: string): ConnectionOptions | undefined => {
  const url = new URL(text)
  const mode = url.searchParams.get("sslmode")
  const rootCert = url.searchParams.get("sslrootcert")
  const read = rootCert === null ? undefined : readCaFile(rootCert)
  const ca = read !== undefined && "ca" in read ? { ca: read.ca } : {}
  switch (mode) {
    case "require":
      return rootCert === null ? { rejectUnauthorized: false } : { ...ca, rejectUnauthorized: true, checkServerIdentity: () => undefined }
    case "verify-ca":
      return { ...ca, rejectUnauthorized: true, checkServerIdentity: () => undefined }
    case "verify-full":
      return { ...ca, rejectUnauthorized: true }
    default:
      return undefined
  }
}

/**
 * What is wrong with the TLS settings of the Redis URLs (one server, or a cluster's nodes), if
 * anything: the nodes of one cluster must agree on TLS and on their user and password (the
 * connection takes them from the first), and a CA file is for `rediss:` only.
 */
export const redisTlsProblem = (urls: ReadonlyArray<string>, caFile: boolean): string | undefined => {
  const parsed = urls.map((text) => new URL(text))
  const schemes = new Set(parsed.map((url) => url.protocol))
  if (schemes.size > 1) return "the nodes mix redis: and rediss: (all of them must be TLS, or none)"
  if (new Set(parsed.map((url) => `${url.username}:${url.password}`)).size > 1) return "the nodes' users or passwords differ (a cluster takes one)"
  if (caFile && !schemes.has("rediss:")) return "REDIS_CA_FILE is only used with rediss: URLs"
  return undefined
}

/** The TLS options of a Redis URL: `undefined` for `redis:`, verified TLS for `rediss:` (against `ca` when given). */
export const redisTls = (text: string, ca: string | undefined): ConnectionOptions | undefined =>
  new URL(text).protocol === "rediss:" ? { rejectUnauthorized: true, ...(ca === undefined ? {} : { ca }) } : undefined

/** Node's codes for a certificate that did not verify, in words. */
const certificateProblems: Record<string, string> = {
  SELF_SIGNED_CERT_IN_CHAIN: "its certificate chain ends in a CA that is not trusted",
  DEPTH_ZERO_SELF_SIGNED_CERT: "its certificate is self-signed and not trusted",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "its certificate is not signed by a trusted CA",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "its certificate is not signed by a trusted CA",
  UNABLE_TO_GET_ISSUER_CERT: "its certificate is not signed by a trusted CA",
  CERT_SIGNATURE_FAILURE: "its certificate's signature does not verify",
  CERT_HAS_EXPIRED: "its certificate has expired",
  CERT_NOT_YET_VALID: "its certificate is not valid yet",
  ERR_TLS_CERT_ALTNAME_INVALID: "its certificate is not issued to the host connected to"
}

/** The first error in `cause`'s chain that is a certificate failure, in words with `caSetting` named; `undefined` when none is. */
export const certificateFailure = (cause: unknown, caSetting: string): string | undefined => {
  for (let at: unknown = cause, depth = 0; at instanceof Error && depth < 8; at = at.cause, depth++) {
    const code = errorCodeOf(at)
    const problem = code === undefined ? undefined : certificateProblems[code]
    if (problem !== undefined) return `TLS refused the server: ${problem} (${code}); ${caSetting} names the CA to trust`
  }
  return undefined
}
