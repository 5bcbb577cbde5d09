/**
 * ExactShape: a compiled test that a value already is, exactly, the encoded
 * form of a Schema whose encoding changes nothing, and its copy in the
 * Schema's own key order.
 *
 * Every section of the state is plain JSON data (strings, finite numbers,
 * literals, records of them) whose Schemas transform nothing: encoding and
 * decoding only check, and rebuild each object with its fields in the
 * Schema's order. Doing that through the Schema interpreter costs a few
 * microseconds per trade, which is most of the cost of a live save and of
 * decoding a large snapshot. This module walks a Schema's AST once and
 * compiles a plain function that runs the very same checks (the Schema's own
 * filters, the common ones as plain predicates) and makes the same copy.
 *
 * The answer is one-sided: a copy means the Schema accepts the value and
 * would give exactly that copy (same values, same key order), so the caller
 * may use it as the Schema's result; `undefined` only means "not proven
 * here", and the caller asks the Schema, which decides and words the error.
 * A value with any extra or inherited property, a prototype other than a
 * plain object's, a number that is not finite, or a key a record's key Schema
 * refuses is never proven. A Schema with a node this module does not know
 * compiles to `undefined`: no fast path at all.
 */
import type { Schema } from "effect"
import { SchemaAST } from "effect"

/**
 * The Schema's result for `value` when `value` is exactly a valid encoded form (a copy, each object's
 * fields in the Schema's order); `undefined` when that is not proven here.
 */
export type ExactShapeCopy = (value: unknown) => { readonly value: unknown } | undefined

/** What an inner node answers: the copy, or `notExact`. */
const notExact: unique symbol = Symbol("notExact")
type NodeCopy = (value: unknown) => unknown
type Predicate = (value: unknown) => boolean

const parseOptions: SchemaAST.ParseOptions = {}

/**
 * `ARBITRAGE_STATE_EXACT_SHAPE=off` (read once, when the first Schema is compiled at start-up) leaves
 * every Schema without a fast path: what the benchmarks measure this module against.
 */
const switchedOff = typeof process !== "undefined" && process.env["ARBITRAGE_STATE_EXACT_SHAPE"] === "off"

/** The filters of `ast`, flattened out of their groups. */
const filtersOf = (checks: SchemaAST.Checks | undefined): Array<SchemaAST.Filter<any>> => {
  const out: Array<SchemaAST.Filter<any>> = []
  const visit = (check: SchemaAST.Check<any>) => {
    if (check._tag === "Filter") out.push(check)
    else check.checks.forEach(visit)
  }
  checks?.forEach(visit)
  return out
}

/** What a filter's representation declares of its arguments. */
type Payload = Readonly<Record<string, unknown>>

/** `make(bound)` when `bound` is a finite number (else no predicate: the Schema's own filter runs). */
const whenFinite = (bound: unknown, make: (bound: number) => Predicate): Predicate | undefined =>
  typeof bound === "number" && Number.isFinite(bound) ? make(bound) : undefined

/**
 * The common filters of Effect's Schema module, recognised by the representation they declare
 * (its id, and the payload fields named here) and run as the plain predicates they are, each as
 * strict as the filter it stands for; any other filter is run as the Schema would run it.
 */
export const inlinedFilters = {
  "effect/schema/isFinite": { payload: [], predicate: (): Predicate => (value) => Number.isFinite(value) },
  "effect/schema/isInt": { payload: [], predicate: (): Predicate => (value) => Number.isSafeInteger(value) },
  "effect/schema/isGreaterThan": {
    payload: ["exclusiveMinimum"],
    predicate: (payload: Payload): Predicate | undefined =>
      whenFinite(payload["exclusiveMinimum"], (minimum) => (value) => (value as number) > minimum)
  },
  "effect/schema/isGreaterThanOrEqualTo": {
    payload: ["minimum"],
    predicate: (payload: Payload): Predicate | undefined =>
      whenFinite(payload["minimum"], (minimum) => (value) => (value as number) >= minimum)
  },
  "effect/schema/isLessThanOrEqualTo": {
    payload: ["maximum"],
    predicate: (payload: Payload): Predicate | undefined =>
      whenFinite(payload["maximum"], (maximum) => (value) => (value as number) <= maximum)
  },
  "effect/schema/isPattern": {
    payload: ["source", "flags"],
    predicate: ({ flags, source }: Payload): Predicate | undefined => {
      if (typeof source !== "string" || typeof flags !== "string" || /[gy]/.test(flags)) return undefined
      const pattern = new RegExp(source, flags)
      return (value) => pattern.test(value as string)
    }
  }
} as const

const inlined = (filter: SchemaAST.Filter<any>): Predicate | undefined => {
  const representation = filter.annotations?.["representation"] as { readonly id?: unknown; readonly payload?: Payload } | undefined
  const id = representation?.id
  if (typeof id !== "string" || !(id in inlinedFilters)) return undefined
  return inlinedFilters[id as keyof typeof inlinedFilters].predicate(representation?.payload ?? {})
}

/** The filters attached to `ast`, each as a predicate. */
const predicatesOf = (ast: SchemaAST.AST): Array<Predicate> =>
  filtersOf(ast.checks).map((filter) => inlined(filter) ?? ((value) => filter.run(value, ast, parseOptions) === undefined))

/** `copy`, then every filter attached to `ast`, run on the copy (as the Schema runs them on its result). */
const withFilters = (ast: SchemaAST.AST, copy: NodeCopy): NodeCopy => {
  const filters = predicatesOf(ast)
  if (filters.length === 0) return copy
  return (value) => {
    const copied = copy(value)
    if (copied === notExact) return notExact
    for (let i = 0; i < filters.length; i++) if (!filters[i]!(copied)) return notExact
    return copied
  }
}

/** A primitive node: the value itself when `test` and the node's filters hold (no copy to make). */
const primitive = (ast: SchemaAST.AST, test: Predicate): NodeCopy => {
  const filters: Array<Predicate> = [test, ...predicatesOf(ast)]
  if (filters.length === 1) return (value) => (test(value) ? value : notExact)
  if (filters.length === 2) {
    const [first, second] = filters as [Predicate, Predicate]
    return (value) => (first(value) && second(value) ? value : notExact)
  }
  if (filters.length === 3) {
    const [first, second, third] = filters as [Predicate, Predicate, Predicate]
    return (value) => (first(value) && second(value) && third(value) ? value : notExact)
  }
  return (value) => {
    for (let i = 0; i < filters.length; i++) if (!filters[i]!(value)) return notExact
    return value
  }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (value === null || typeof value !== "object") return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

const hasOwn = Object.prototype.hasOwnProperty

/**
 * `value` as the Schema would give it back: the value itself when its fields are already in the
 * Schema's order and none of them needed a copy (the common case: objects the code built, or JSON
 * it wrote), else a copy with the fields in the Schema's order. `fields` are the names in order,
 * `copies` their nodes; `inOrder` says whether `value`'s own keys came in that order.
 */
const copyFields = (
  value: Record<string, unknown>,
  fields: ReadonlyArray<string>,
  copies: ReadonlyArray<NodeCopy>,
  inOrder: boolean
): unknown => {
  let out: Record<string, unknown> | undefined = inOrder ? undefined : {}
  for (let i = 0; i < fields.length; i++) {
    const name = fields[i]!
    const field = value[name]
    const copied = copies[i]!(field)
    if (copied === notExact) return notExact
    if (out === undefined && copied !== field) {
      out = {}
      for (let j = 0; j < i; j++) out[fields[j]!] = value[fields[j]!]
    }
    if (out !== undefined) out[name] = copied
  }
  return out ?? value
}

/** Whether a property's context only says the key may be absent (no mutability, no constructor default). */
const plainOptional = (ast: SchemaAST.AST): boolean =>
  ast.context !== undefined && ast.context.isOptional && !ast.context.isMutable && ast.context.constructorDefault === undefined

const compileStruct = (ast: SchemaAST.Objects): NodeCopy | undefined => {
  const names: Array<string> = []
  const copies: Array<NodeCopy> = []
  const optional: Array<boolean> = []
  for (const property of ast.propertySignatures) {
    if (typeof property.name !== "string") return undefined
    const isOptional = plainOptional(property.type)
    const type = compileNode(property.type, isOptional)
    if (type === undefined) return undefined
    names.push(property.name)
    copies.push(type)
    optional.push(isOptional)
  }
  const count = names.length
  if (optional.some(Boolean)) return compileStructWithOptionalKeys(names, copies, optional)
  return (value) => {
    if (!isPlainObject(value)) return notExact
    let keys = 0
    let inOrder = true
    for (const key in value) {
      if (!hasOwn.call(value, key)) return notExact
      if (key !== names[keys]) inOrder = false
      keys++
    }
    if (keys !== count) return notExact
    // Same count, and every name present: then the keys are exactly the Schema's fields.
    for (let i = 0; i < count; i++) if (!hasOwn.call(value, names[i]!)) return notExact
    return copyFields(value, names, copies, inOrder)
  }
}

/**
 * A struct some of whose keys may be absent (`Schema.optionalKey`): the keys present are the
 * required ones and some optional ones, nothing else; a present key holds a value of its type
 * (never `undefined`, which JSON cannot carry and an optional key does not take).
 */
const compileStructWithOptionalKeys = (
  names: ReadonlyArray<string>,
  copies: ReadonlyArray<NodeCopy>,
  optional: ReadonlyArray<boolean>
): NodeCopy =>
(value) => {
  if (!isPlainObject(value)) return notExact
  const present: Array<string> = []
  const presentCopies: Array<NodeCopy> = []
  for (let i = 0; i < names.length; i++) {
    if (hasOwn.call(value, names[i]!)) {
      present.push(names[i]!)
      presentCopies.push(copies[i]!)
    } else if (!optional[i]) return notExact
  }
  let keys = 0
  let inOrder = true
  for (const key in value) {
    if (!hasOwn.call(value, key)) return notExact
    if (key !== present[keys]) inOrder = false
    keys++
  }
  // As many keys as Schema fields present: then there is no other key.
  if (keys !== present.length) return notExact
  return copyFields(value, present, presentCopies, inOrder)
}

const compileRecord = (signature: SchemaAST.IndexSignature): NodeCopy | undefined => {
  const key = signature.parameter
  if (key._tag !== "String" || key.encoding !== undefined || key.context !== undefined) return undefined
  const keyCopy = primitive(key, (k) => typeof k === "string")
  const valueCopy = compileNode(signature.type)
  if (valueCopy === undefined) return undefined
  return (value) => {
    if (!isPlainObject(value)) return notExact
    const names: Array<string> = []
    for (const name in value) {
      if (!hasOwn.call(value, name) || keyCopy(name) === notExact) return notExact
      names.push(name)
    }
    // A record keeps its own order, as the Schema keeps it.
    return copyFields(value, names, names.map(() => valueCopy), true)
  }
}

/**
 * A tuple (its elements, none optional) followed by at most one rest element (`Schema.Array` is a
 * rest alone): the value itself when every item is already exact, else a copy of the items.
 */
const compileArray = (ast: SchemaAST.Arrays): NodeCopy | undefined => {
  if (ast.elements.some((element) => element.context !== undefined) || ast.rest.length > 1) return undefined
  const elements: Array<NodeCopy> = []
  for (const element of ast.elements) {
    const copy = compileNode(element)
    if (copy === undefined) return undefined
    elements.push(copy)
  }
  const restCopy = ast.rest.length === 1 ? compileNode(ast.rest[0]!) : undefined
  if (ast.rest.length === 1 && restCopy === undefined) return undefined
  const fixed = elements.length
  return (value) => {
    if (!Array.isArray(value)) return notExact
    if (restCopy === undefined ? value.length !== fixed : value.length < fixed) return notExact
    let out: Array<unknown> | undefined
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) return notExact // a hole: no JSON array has one
      const item: unknown = value[i]
      const copied = (i < fixed ? elements[i]! : restCopy!)(item)
      if (copied === notExact) return notExact
      if (out === undefined && copied !== item) out = value.slice(0, i)
      if (out !== undefined) out.push(copied)
    }
    return out ?? value
  }
}

const compileNode = (ast: SchemaAST.AST, optionalKey = false): NodeCopy | undefined => {
  // A transformation, or a mutable property or one with a default: not a plain shape (an optional
  // key is, when its struct compiles it so).
  if (ast.encoding !== undefined || (ast.context !== undefined && !(optionalKey && plainOptional(ast)))) return undefined
  switch (ast._tag) {
    case "String":
      return primitive(ast, (value) => typeof value === "string")
    case "Number":
      // Only finite numbers: JSON cannot carry the others, so they are left to the Schema to judge.
      return primitive(ast, (value) => typeof value === "number" && Number.isFinite(value))
    case "Boolean":
      return primitive(ast, (value) => typeof value === "boolean")
    case "Null":
      return primitive(ast, (value) => value === null)
    case "Literal": {
      const literal = ast.literal
      if (typeof literal !== "string" && typeof literal !== "number" && typeof literal !== "boolean") return undefined
      return primitive(ast, (value) => value === literal)
    }
    case "Union": {
      const members: Array<NodeCopy> = []
      for (const member of ast.types) {
        const copy = compileNode(member)
        if (copy === undefined) return undefined
        members.push(copy)
      }
      // The first member that takes the value, as the Schema tries them.
      return withFilters(ast, (value) => {
        for (const member of members) {
          const copied = member(value)
          if (copied !== notExact) return copied
        }
        return notExact
      })
    }
    case "Arrays": {
      const array = compileArray(ast)
      return array === undefined ? undefined : withFilters(ast, array)
    }
    case "Objects": {
      const { indexSignatures, propertySignatures } = ast
      if (indexSignatures.length === 0) {
        const struct = compileStruct(ast)
        return struct === undefined ? undefined : withFilters(ast, struct)
      }
      if (indexSignatures.length === 1 && propertySignatures.length === 0) {
        const record = compileRecord(indexSignatures[0]!)
        return record === undefined ? undefined : withFilters(ast, record)
      }
      return undefined
    }
    default:
      return undefined
  }
}

/**
 * The exact-shape copy of `schema`, or `undefined` when its AST holds a node
 * this module does not compile (the caller then always asks the Schema).
 */
export const compileExactShape = (schema: Schema.Top): ExactShapeCopy | undefined => {
  if (switchedOff) return undefined
  const copy = compileNode(schema.ast)
  if (copy === undefined) return undefined
  return (value) => {
    const copied = copy(value)
    return copied === notExact ? undefined : { value: copied }
  }
}
