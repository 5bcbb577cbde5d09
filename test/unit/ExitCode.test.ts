/**
 * How the CLI ends a command that failed: one line on stderr and the exit
 * code of the failure's kind; anything it does not know is an unexpected
 * failure (exit 1), never a stack trace; an interruption stays one.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Console, Effect, Exit } from "effect"
import type { Runtime } from "effect"
import { StateCodecError } from "../../src/domain/StateCodecError.ts"
import { ExitCode } from "../../src/cli/ExitCode.ts"
import { StoreError } from "../../src/store/StoreError.ts"

/** Runs `program` under `reportFailures`: its exit, the lines it wrote on stderr, and the exit code it set. */
const reported = <A, E>(program: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const console: Console.Console = Object.assign(Object.create(globalThis.console), {
      error: (...args: ReadonlyArray<unknown>) => void lines.push(args.map(String).join(" "))
    })
    const before = process.exitCode
    const exit = yield* program.pipe(ExitCode.reportFailures, Effect.provideService(Console.Console, console), Effect.exit)
    const code = process.exitCode
    // The test runner's own process must not end with the code the command set.
    process.exitCode = before
    return { exit, lines, code }
  })

describe("ExitCode.reportFailures", () => {
  it.effect("a state the codec refuses: exit 3 (invalid state), its message on one line", () =>
    Effect.gen(function*() {
      const { code, exit, lines } = yield* reported(
        Effect.fail(StateCodecError.invalid("positions", "Expected a value less than or equal to 253402300799999 at positions.x.openedAt"))
      )
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(code, ExitCode.invalidState)
      assert.deepStrictEqual(lines, ["Expected a value less than or equal to 253402300799999 at positions.x.openedAt"])
    }))

  it.effect("a defect: one line 'unexpected failure: ...', exit 1, no stack trace", () =>
    Effect.gen(function*() {
      const { code, exit, lines } = yield* reported(Effect.die(new RangeError("Invalid time value")))
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(code, 1)
      assert.deepStrictEqual(lines, ["unexpected failure: RangeError: Invalid time value"])
    }))

  it.effect("a failure of a kind the CLI does not know: the same", () =>
    Effect.gen(function*() {
      const { code, lines } = yield* reported(Effect.fail(new Error("first line\n    at somewhere (file.ts:1:1)")))
      assert.strictEqual(code, 1)
      assert.lengthOf(lines, 1)
      assert.match(lines[0]!, /^unexpected failure: Error: first line/)
    }))

  it.effect("a failure while stopping (interrupted, and a finalizer failed): reported with its code, and the program still ends interrupted", () =>
    Effect.gen(function*() {
      const failedWhileStopping = Cause.combine(Cause.interrupt(), Cause.fail(StoreError.unreachable("postgres", "shutdown snapshot: connection refused")))
      const { code, exit, lines } = yield* reported(Effect.failCause(failedWhileStopping))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
      assert.strictEqual(code, ExitCode.storeUnreachable)
      assert.deepStrictEqual(lines, ["postgres: shutdown snapshot: connection refused"])
    }))

  it.effect("an interruption is not swallowed: the program still ends interrupted, and nothing is printed", () =>
    Effect.gen(function*() {
      const { exit, lines } = yield* reported(Effect.interrupt)
      assert.isTrue(Exit.isFailure(exit) && Exit.hasInterrupts(exit))
      assert.deepStrictEqual(lines, [])
    }))
})

describe("ExitCode.teardown", () => {
  /** The code `teardown` gives for `exit` after `signal`, with `commandCode` set by the command. */
  const codeOf = (exit: Exit.Exit<unknown, unknown>, signal: NodeJS.Signals | undefined, commandCode?: number) => {
    const before = process.exitCode
    process.exitCode = commandCode
    try {
      let code: number | undefined
      const teardown: Runtime.Teardown = ExitCode.teardown(() => signal)
      teardown(exit, (c) => {
        code = c
      })
      return code
    } finally {
      process.exitCode = before
    }
  }

  it("an interruption by a signal: 128 + the signal's number", () => {
    assert.strictEqual(codeOf(Exit.interrupt(1), "SIGTERM"), 143)
    assert.strictEqual(codeOf(Exit.interrupt(1), "SIGINT"), 130)
  })

  it("an interruption after the command set a nonzero exit code (it could not record its shutdown): that code wins", () => {
    assert.strictEqual(codeOf(Exit.interrupt(1), "SIGTERM", 6), 6)
    assert.strictEqual(codeOf(Exit.interrupt(1), "SIGINT", 4), 4)
    assert.strictEqual(codeOf(Exit.interrupt(1), "SIGTERM", 0), 143)
  })

  it("an interruption with no signal recorded: 130, as before", () => {
    assert.strictEqual(codeOf(Exit.interrupt(1), undefined), 130)
  })

  it("success and failures keep Effect's default codes, whatever signal came", () => {
    assert.strictEqual(codeOf(Exit.succeed(1), "SIGTERM"), 0)
    assert.strictEqual(codeOf(Exit.fail("failed"), "SIGTERM"), 1)
  })
})
