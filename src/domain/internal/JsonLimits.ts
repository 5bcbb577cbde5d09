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
  // A node's path is made only for the message of an issue: each node keeps its parent and its step.
  interface Node {
    readonly value: unknown
    readonly depth: number
    readonly parent: Node | undefined
    readonly step: string
  }
  const pathOf = (node: Node): string => {
    const steps: Array<string> = []
    for (let at: Node | undefined = node; at !== undefined; at = at.parent) steps.push(at.step)
    return steps.reverse().join("")
  }
  const pending: Array<Node> = [{ value, depth: 0, parent: undefined, step: root }]
  while (pending.length > 0) {
    const node = pending.pop()!
    const current = node.value
    if (typeof current === "string") {
      if (textIssue(current, "") !== undefined) return textIssue(current, pathOf(node))
      continue
    }
    if (current === null || typeof current !== "object") continue
    if (node.depth >= maxDepth) return `${pathOf(node)} nests deeper than ${maxDepth} levels`
    if (Array.isArray(current)) {
      for (let index = 0; index < current.length; index++) {
        pending.push({ value: current[index], depth: node.depth + 1, parent: node, step: `[${index}]` })
      }
      continue
    }
    for (const key of Object.keys(current)) {
      if (textIssue(key, "") !== undefined) return textIssue(key, `${pathOf(node)} (a key)`)
      pending.push({ value: Reflect.get(current, key), depth: node.depth + 1, parent: node, step: `.${key}` })
    }
  }
  return undefined
}
