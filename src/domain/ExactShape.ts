/**
 * ExactShape: a compiled test that a value already is, exactly, the encoded
 * form of a Schema whose encoding changes nothing.
 *
 * Every section of the state is plain JSON data (strings, finite numbers,
 * literals, records of them) whose Schemas transform nothing: encoding and
 * decoding only check. Checking through the Schema interpreter costs a few
 * microseconds per trade, which is most of the cost of a live save and of
 * decoding a large snapshot. This module walks a Schema's AST once and
 * compiles a plain function that runs the very same checks (the Schema's own
 * filters, called directly) on a value of exactly that shape.
 *
 * The test is one-sided: `true` means the Schema accepts the value and its
 * encoded (or decoded) form is the value itself, so the caller may use the
 * value as it is; `false` only means "not proven here", and the caller asks
 * the Schema, which decides and writes the error message. A value with any
 * extra or inherited property, a prototype other than a plain object's, or a
 * key a record's key Schema refuses is never proven. A Schema with a node
 * this module does not know compiles to `undefined`: no fast path at all.
 */
import type { Schema } from "effect"
import { SchemaAST } from "effect"

/** Whether a value is exactly, and validly, the encoded form of the compiled Schema. */
export type ExactShapeTest = (value: unknown) => boolean

const parseOptions: SchemaAST.ParseOptions = {}

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

/**
 * The common filters of Effect's Schema module, recognised by the representation they declare and
 * run as the plain predicates they are (each as strict as the filter it stands for); any other
 * filter is run as the Schema would run it.
 */
const inlined = (filter: SchemaAST.Filter<any>): ExactShapeTest | undefined => {
  const representation = filter.annotations?.["representation"] as { readonly id?: unknown; readonly payload?: any } | undefined
  const payload = representation?.payload
  switch (representation?.id) {
    case "effect/schema/isFinite":
      return (value) => Number.isFinite(value)
    case "effect/schema/isInt":
      return (value) => Number.isSafeInteger(value)
    case "effect/schema/isGreaterThan": {
      const minimum = payload?.exclusiveMinimum
      return Number.isFinite(minimum) ? (value) => (value as number) > minimum : undefined
    }
    case "effect/schema/isGreaterThanOrEqualTo": {
      const minimum = payload?.minimum
      return Number.isFinite(minimum) ? (value) => (value as number) >= minimum : undefined
    }
    case "effect/schema/isPattern": {
      const { flags, source } = payload ?? {}
      if (typeof source !== "string" || typeof flags !== "string" || /[gy]/.test(flags)) return undefined
      const pattern = new RegExp(source, flags)
      return (value) => pattern.test(value as string)
    }
    default:
      return undefined
  }
}

/** `test`, followed by every filter attached to `ast`. */
const withFilters = (ast: SchemaAST.AST, test: ExactShapeTest): ExactShapeTest => {
  const filters: Array<ExactShapeTest> = filtersOf(ast.checks).map((filter) =>
    inlined(filter) ?? ((value) => filter.run(value, ast, parseOptions) === undefined)
  )
  if (filters.length === 0) return test
  if (filters.length === 1) {
    const [only] = filters as [ExactShapeTest]
    return (value) => test(value) && only(value)
  }
  if (filters.length === 2) {
    const [first, second] = filters as [ExactShapeTest, ExactShapeTest]
    return (value) => test(value) && first(value) && second(value)
  }
  return (value) => test(value) && filters.every((filter) => filter(value))
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (value === null || typeof value !== "object") return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

const hasOwn = Object.prototype.hasOwnProperty

const compileStruct = (ast: SchemaAST.Objects): ExactShapeTest | undefined => {
  const properties: Array<readonly [string, ExactShapeTest]> = []
  for (const property of ast.propertySignatures) {
    if (typeof property.name !== "string") return undefined
    const type = compileNode(property.type)
    if (type === undefined) return undefined
    properties.push([property.name, type])
  }
  const count = properties.length
  return (value) => {
    if (!isPlainObject(value)) return false
    let keys = 0
    for (const key in value) {
      if (!hasOwn.call(value, key)) return false
      keys++
    }
    if (keys !== count) return false
    for (const [name, test] of properties) {
      if (!hasOwn.call(value, name) || !test(value[name])) return false
    }
    return true
  }
}

const compileRecord = (signature: SchemaAST.IndexSignature): ExactShapeTest | undefined => {
  const key = signature.parameter
  if (key._tag !== "String" || key.encoding !== undefined || key.context !== undefined) return undefined
  const keyTest = withFilters(key, (k) => typeof k === "string")
  const valueTest = compileNode(signature.type)
  if (valueTest === undefined) return undefined
  return (value) => {
    if (!isPlainObject(value)) return false
    for (const name in value) {
      if (!hasOwn.call(value, name) || !keyTest(name) || !valueTest(value[name])) return false
    }
    return true
  }
}

const compileNode = (ast: SchemaAST.AST): ExactShapeTest | undefined => {
  // A transformation, an optional or mutable property: not a plain shape.
  if (ast.encoding !== undefined || ast.context !== undefined) return undefined
  switch (ast._tag) {
    case "String":
      return withFilters(ast, (value) => typeof value === "string")
    case "Number":
      // Only finite numbers: JSON cannot carry the others, so they are left to the Schema to judge.
      return withFilters(ast, (value) => typeof value === "number" && Number.isFinite(value))
    case "Boolean":
      return withFilters(ast, (value) => typeof value === "boolean")
    case "Null":
      return withFilters(ast, (value) => value === null)
    case "Literal": {
      const literal = ast.literal
      if (typeof literal !== "string" && typeof literal !== "number" && typeof literal !== "boolean") return undefined
      return withFilters(ast, (value) => value === literal)
    }
    case "Union": {
      const members: Array<ExactShapeTest> = []
      for (const member of ast.types) {
        const test = compileNode(member)
        if (test === undefined) return undefined
        members.push(test)
      }
      return withFilters(ast, (value) => members.some((test) => test(value)))
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
 * The exact-shape test of `schema`, or `undefined` when its AST holds a node
 * this module does not compile (the caller then always asks the Schema).
 */
export const compileExactShape = (schema: Schema.Top): ExactShapeTest | undefined => compileNode(schema.ast)
