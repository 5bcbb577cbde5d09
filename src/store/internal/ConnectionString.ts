/**
 * ConnectionString: what of a connection URL may be shown.
 *
 * The URLs of Redis and PostgreSQL carry their password
 * (`redis://user:password@host`), and drivers quote them in their errors:
 * ioredis, given a URL it does not recognise, names it as the socket path it
 * could not open. Every failure message a store builds from a driver's words
 * goes through `redactPasswords` first, so that no password reaches a log or
 * an operator's screen.
 */

/** `//user:password@` (the password ending at the last `@` before a space, since an unencoded one may hold `@`, `:` or `/`). */
const userInfoPassword = /(\/\/[^\s:@/]*:)[^\s]*@/g

/** A `password=` query parameter, which some clients accept instead. */
const passwordParameter = /([?&]password=)[^&\s]*/gi

/** `text` with the password of every URL in it replaced by `<redacted>`; the user, host, port and path stay. */
export const redactPasswords = (text: string): string =>
  text.replace(userInfoPassword, "$1<redacted>@").replace(passwordParameter, "$1<redacted>")
