/**
 * ErrorCode: the `code` Node and the drivers put on their errors (`ENOENT`,
 * `ECONNRESET`, `SELF_SIGNED_CERT_IN_CHAIN`, ...), read without a cast.
 */

/** The string `code` of an error, when it has one. */
export const errorCodeOf = (cause: unknown): string | undefined => {
  if (typeof cause !== "object" || cause === null || !("code" in cause)) return undefined
  return typeof cause.code === "string" ? cause.code : undefined
}
