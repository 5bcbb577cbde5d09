/**
 * The CLI's help as an operator reads it, and its usage errors: every flag
 * of every command described, defaults and choices shown, the environment
 * and the exit codes in the root help; a usage error is one line on stderr
 * with the command to read the help of, exit 2, and nothing on stdout.
 */
import { assert, describe, it } from "@effect/vitest"
import { settings } from "../../src/config.ts"
import { ExitCode } from "../../src/cli/ExitCode.ts"
import { runCli } from "../support/Cli.ts"

/** The lines of the section of `help` under `title`, up to the next blank line. */
const sectionOf = (help: string, title: string): ReadonlyArray<string> => {
  const lines = help.split("\n")
  const start = lines.indexOf(title)
  assert.isAtLeast(start, 0, `no ${title} section in:\n${help}`)
  const end = lines.indexOf("", start)
  return lines.slice(start + 1, end === -1 ? undefined : end)
}

/** Each flag row of a FLAGS section with its description, the wrapped lines after it joined on. */
const flagRows = (section: ReadonlyArray<string>): ReadonlyArray<{ readonly flag: string; readonly text: string }> => {
  const rows: Array<{ flag: string; text: string }> = []
  for (const line of section) {
    const row = /^ {2}(--\S+(?: \S+)?)(?: {2,}(.*))?$/.exec(line)
    if (row !== null) rows.push({ flag: row[1]!, text: (row[2] ?? "").trim() })
    else rows[rows.length - 1]!.text += ` ${line.trim()}`
  }
  return rows
}

const rootHelp = runCli(["--help"])
const commands = sectionOf(rootHelp.stdout, "SUBCOMMANDS")
  .map((line) => /^ {2}(\S+)/.exec(line)?.[1])
  .filter((name): name is string => name !== undefined)

describe("cli help", () => {
  it("the root help lists the commands, names the program as it is run, and gives every environment variable and exit code", () => {
    assert.strictEqual(rootHelp.status, 0, rootHelp.stderr)
    assert.includeMembers(commands, ["run", "supervise", "resume-all", "restore", "snapshots", "inspect", "cleanup", "report", "health"])
    assert.deepStrictEqual(sectionOf(rootHelp.stdout, "USAGE"), ["  npm run cli -- <subcommand> [flags]"])
    const environment = sectionOf(rootHelp.stdout, "ENVIRONMENT").join("\n")
    for (const setting of settings) assert.match(environment, new RegExp(`^ {2}${setting.variable} `, "m"), setting.variable)
    assert.include(environment, "(default: 15 seconds)")
    const codes = sectionOf(rootHelp.stdout, "EXIT CODES").map((line) => Number(/^ {2}(\d+) /.exec(line)?.[1]))
    assert.deepStrictEqual(codes, ExitCode.meanings.map(([code]) => code))
    assert.sameMembers(codes, [0, 1, 2, 3, 4, 5, 6, 130, 143])
  })

  it("every flag of every command (and of every subcommand of a command that has them) has a description", () => {
    // Each command's help, read once: a command without subcommands is checked on it, one with them on each of theirs.
    const helps = commands.flatMap((command) => {
      const help = runCli([command, "--help"])
      if (!help.stdout.includes("SUBCOMMANDS")) return [{ command, help }]
      const subcommands = sectionOf(help.stdout, "SUBCOMMANDS").map((line) => /^ {2}(\S+)/.exec(line)?.[1]).filter((name): name is string => name !== undefined)
      assert.isNotEmpty(subcommands, command)
      return subcommands.map((sub) => ({ command: `${command} ${sub}`, help: runCli([command, sub, "--help"]) }))
    })
    for (const { command, help } of helps) {
      assert.strictEqual(help.status, 0, `${command}: ${help.stderr}`)
      assert.match(help.stdout, new RegExp(`^ {2}npm run cli -- ${command} `, "m"), command)
      for (const { flag, text } of flagRows(sectionOf(help.stdout, "FLAGS"))) {
        // "(required)" alone is the mark the help adds, not a description.
        assert.isAbove(text.replace("(required)", "").trim().length, 10, `${command} ${flag} has no description`)
      }
    }
  }, 180_000) // one CLI process per command and subcommand, one after another

  it("defaults, required flags and --mode's choices show in the help", () => {
    const described = (command: string) => new Map(flagRows(sectionOf(runCli([command, "--help"]).stdout, "FLAGS")).map((row) => [row.flag, row.text]))
    const run = described("run")
    assert.match(run.get("--mode clean|resume|auto") ?? "", /^clean: .*resume: .*auto: .*\(default: auto\)$/)
    assert.include(run.get("--wait-lease integer"), "(default: 0)")
    assert.include(run.get("--status-every integer"), "(default: 0)")
    assert.include(run.get("--tick-ms integer"), "(default: 1000)")
    assert.include(run.get("--scan-budget-mb integer"), "(default: 1024)")
    assert.match(run.get("--loops integer") ?? "", /\(required\)$/)
    assert.notInclude(run.get("--session ID"), "(required)")
    assert.include(described("supervise").get("--max-restarts integer"), "(default: 10)")
    assert.include(described("snapshots").get("--limit integer"), "(default: 50)")
    assert.include(described("cleanup").get("--keep integer"), "(default: 1)")
  })
})

describe("cli usage errors", () => {
  const cases: ReadonlyArray<{ readonly name: string; readonly args: ReadonlyArray<string>; readonly says: string; readonly help: string }> = [
    { name: "an unknown flag", args: ["run", "--loops", "5", "--sed", "3"], says: "unknown flag --sed (did you mean --seed?)", help: "run" },
    { name: "a value that is not a number", args: ["run", "--loops", "many"], says: "Invalid value for flag --loops: \"many\"", help: "run" },
    { name: "a mode that is not one", args: ["run", "--loops", "5", "--mode", "fresh"], says: "--mode", help: "run" },
    { name: "an unknown command", args: ["rnu"], says: "unknown command \"rnu\" (did you mean run?)", help: "" },
    { name: "a missing required flag", args: ["snapshots"], says: "Missing required flag: --session", help: "snapshots" },
    { name: "a malformed session id", args: ["inspect", "--session", "not-a-session"], says: "Invalid value for flag --session", help: "inspect" }
  ]
  for (const c of cases) {
    it(`${c.name}: one line on stderr with the help to read, exit 2, nothing on stdout`, () => {
      const run = runCli(c.args)
      assert.strictEqual(run.status, 2, run.stderr)
      assert.strictEqual(run.stdout, "")
      const lines = run.stderr.trimEnd().split("\n")
      assert.lengthOf(lines, 1, run.stderr)
      assert.include(lines[0], c.says)
      assert.isTrue(lines[0]!.endsWith(`; run 'npm run cli -- ${c.help === "" ? "" : `${c.help} `}--help' for usage`), lines[0])
    })
  }
})
