/**
 * JsonLimits: what every store can hold of a JSON value, checked without
 * recursion (a value nested thousands deep must get a typed refusal, not
 * overflow the stack of whatever walks it next: a Schema, the checksum's
 * canonical form, `JSON.stringify`).
 *
 * - at most `maxDepth` nested arrays and objects;
 * - no NUL character (U+0000) in a string or a key: PostgreSQL's jsonb cannot
 *   store one;
 * - no string or key that is not well-formed UTF-16 (a lone surrogate):
 *   PostgreSQL refuses it as JSON, and it has no UTF-8 form.
 */

/** How deep a runner's own section may nest (arrays and objects below the section itself). */
export const maxCustomSectionDepth = 64

/** How deep a whole stored payload may nest: the built-in sections are shallow, a runner's own below their limit. */
export const maxPayloadDepth = maxCustomSectionDepth + 8

const textIssue = (text: string, where: string): string | undefined =>
  text.includes("\u0000")
    ? `${where} holds a NUL character (U+0000), which PostgreSQL cannot store`
    : !text.isWellFormed()
    ? `${where} holds a lone surrogate (not well-formed UTF-16), which PostgreSQL cannot store`
    : undefined

/**
 * The first reason `value` cannot be stored, with the path where it was found (below `root`), or
 * `undefined` when every store can hold it. Walks with an explicit stack.
 */
export const storableIssue = (value: unknown, root: string, maxDepth: number): string | undefined => {
  const pending: Array<{ readonly value: unknown; readonly path: string; readonly depth: number }> = [{ value, path: root, depth: 0 }]
  while (pending.length > 0) {
    const { depth, path, value: current } = pending.pop()!
    if (typeof current === "string") {
      const issue = textIssue(current, path)
      if (issue !== undefined) return issue
      continue
    }
    if (current === null || typeof current !== "object") continue
    if (depth >= maxDepth) return `${path} nests deeper than ${maxDepth} levels`
    if (Array.isArray(current)) {
      current.forEach((item, index) => pending.push({ value: item, path: `${path}[${index}]`, depth: depth + 1 }))
      continue
    }
    for (const key of Object.keys(current)) {
      const issue = textIssue(key, `${path} (a key)`)
      if (issue !== undefined) return issue
      pending.push({ value: (current as Record<string, unknown>)[key], path: `${path}.${key}`, depth: depth + 1 })
    }
  }
  return undefined
}
