/**
 * StateLimits: how large a stored section may be before a store refuses to
 * read it.
 *
 * A damaged or malicious value can be arbitrarily large; a store checks the
 * size where the value lives (Redis STRLEN, PostgreSQL octet_length) before
 * it moves a byte of it, so that reading it cannot exhaust this process's
 * memory. The default leaves room for a positions section of well over
 * 10,000 open trades.
 */

/** Sections larger than this many bytes of JSON are refused (16 MiB). */
export const defaultMaxSectionBytes = 16 * 1024 * 1024

/**
 * The most bytes a whole snapshot may take as JSON (81 MiB): its four sections and the runner's own
 * sections, at most `defaultMaxSectionBytes` each, and 1 MiB for the envelope around them.
 */
export const maxSnapshotBytes = 5 * defaultMaxSectionBytes + 1024 * 1024

/** The message of a refused oversized section. */
export const oversizedMessage = (section: string, bytes: number, limit: number) =>
  `${section} is ${bytes} bytes, over the limit of ${limit}; not read`

/** The message of a refused write: a section a restore would not read. */
export const unwritableMessage = (section: string, bytes: number, limit: number) =>
  `${section} is ${bytes} bytes, over the limit of ${limit} a restore reads; not written`
