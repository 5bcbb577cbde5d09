/**
 * Help: what `--help` prints, and what a usage error does not.
 *
 * effect/cli's help shows a flag's description and choices but neither its
 * default nor whether it is required, names the program by its command name
 * (not the `npm run cli --` an operator types), and has no place for the
 * environment or the exit codes. Its default presenter also prints the whole
 * help on stdout before a usage error; here a usage error is one line on
 * stderr (see `ExitCode.classify`), and the help only comes when asked for.
 */
import { Console, Effect, Layer, Option } from "effect"
import { CliOutput, Flag, type HelpDoc } from "effect/cli"
import { settings } from "../config.ts"
import { ExitCode } from "./ExitCode.ts"

/**
 * `flag` described, with `value` as its default said at the end of the description (effect/cli's help
 * shows no defaults); `shown` when the value alone does not say it.
 */
export const withDefaultDescribed = <const B>(description: string, value: B, shown: string = String(value)) => <A>(flag: Flag.Flag<A>) =>
  flag.pipe(Flag.withDescription(`${description} (default: ${shown})`), Flag.withDefault(value))

/** Width the help is wrapped to: the terminal's, or a width that reads well in a pager or a file. */
const helpWidth = (): number => Math.max(60, Math.min(process.stdout.columns ?? 100, 120))

/** `text` as words wrapped to `width`, the lines after the first indented by `indent`. */
const wrap = (text: string, width: number, indent: number): Array<string> => {
  const lines: Array<string> = []
  let line = ""
  for (const word of text.split(" ")) {
    if (line !== "" && indent + CliOutput.displayWidth(`${line} ${word}`) > width) {
      lines.push(line)
      line = word
    } else line = line === "" ? word : `${line} ${word}`
  }
  lines.push(line)
  return lines.map((l, i) => (i === 0 ? l : `${" ".repeat(indent)}${l}`))
}

/** A line of the help wrapped to `width`: a table row (`  --flag type    description`) under its description column. */
const wrapRow = (line: string, width: number): string => {
  if (CliOutput.displayWidth(line) <= width) return line
  const row = /^( {2}\S.*? {2,})(\S.*)$/.exec(line)
  if (row === null) return line.startsWith("  ") ? `  ${wrap(line.slice(2), width, 2).join("\n")}` : line
  const indent = CliOutput.displayWidth(row[1]!)
  // A description column pushed past the middle leaves too little room: wrap under the flag instead.
  if (indent > width / 2) return [row[1]!.trimEnd(), ...wrap(row[2]!, width, 8).map((l, i) => (i === 0 ? `        ${l}` : l))].join("\n")
  return `${row[1]}${wrap(row[2]!, width, indent).join("\n")}`
}

/** A section of aligned rows, as effect/cli renders its own (its title bold when the rest is styled). */
const section = (title: string, rows: ReadonlyArray<readonly [string, string]>, styled: boolean): string => {
  const column = Math.max(...rows.map(([left]) => left.length)) + 4
  return [styled ? `\x1b[1m${title}\x1b[0m` : title, ...rows.map(([left, right]) => `  ${left.padEnd(column)}${right}`)].join("\n")
}

/** The root help's last sections: the environment the stores are configured by, and the exit codes. */
const rootSections = (styled: boolean): string =>
  [
    section("ENVIRONMENT", settings.map((s) => [s.variable, `${s.meaning} (default: ${s.default})`]), styled),
    section("EXIT CODES", ExitCode.meanings.map(([code, meaning]) => [String(code), meaning]), styled)
  ].join("\n\n")

/** effect/cli's own flags whose choices their description lists: a short placeholder keeps the table narrow. */
const placeholders: Record<string, string> = { completions: "<shell>", "log-level": "<level>" }

/**
 * A command's flags as its help lists them: the ones it cannot run without marked, and the choices
 * effect/cli appends to a description left out when the placeholder lists them already (`--mode clean|resume|auto`).
 */
const describeFlags = (flags: ReadonlyArray<HelpDoc.FlagDoc>): ReadonlyArray<HelpDoc.FlagDoc> =>
  flags.map((flag) => {
    const choices = ` (choices: ${flag.type.split("|").join(", ")})`
    const described = Option.getOrElse(flag.description, () => "")
    const text = [described.endsWith(choices) ? described.slice(0, -choices.length) : described, flag.required ? "(required)" : ""]
      .filter((part) => part !== "")
      .join(" ")
    return { ...flag, description: text === "" ? Option.none() : Option.some(text) }
  })

/** The project's help: the default layout, with required flags marked, the program as operators run it, wrapped to the terminal. */
export const formatter = (): CliOutput.Formatter => {
  const base = CliOutput.defaultFormatter({ globalFlags: "summary" })
  return {
    ...base,
    formatHelpDoc: (doc) => {
      const isRoot = doc.commandPath === undefined || doc.commandPath.length <= 1
      // The root command's name, which effect/cli puts where the program is named.
      const program = doc.commandPath?.[0] ?? doc.usage.split(" ")[0]!
      const text = base.formatHelpDoc({
        ...doc,
        usage: doc.usage.startsWith(program) ? `${ExitCode.invocation}${doc.usage.slice(program.length)}` : doc.usage,
        flags: describeFlags(doc.flags),
        ...(doc.globalFlags === undefined ? {} : { globalFlags: doc.globalFlags.map((flag) => ({ ...flag, type: placeholders[flag.name] ?? flag.type })) })
      }).replaceAll(`'${program} --help'`, `'${ExitCode.invocation} --help'`)
      const width = helpWidth()
      // effect/cli styles its help on a terminal (and not with NO_COLOR): the added sections follow it.
      const styled = text.includes("\x1b[")
      return [text, ...(isRoot ? [rootSections(styled)] : [])].join("\n\n").split("\n").map((line) => wrapRow(line, width)).join("\n")
    }
  }
}

/**
 * Help when asked for (`--help`, or a command without its subcommand) on stdout; nothing for a
 * usage error, which `ExitCode.reportFailures` reports as one line on stderr.
 */
export const presenter: CliOutput.Presenter = {
  present: (event) =>
    Effect.gen(function*() {
      const format = yield* CliOutput.Formatter
      switch (event._tag) {
        case "Help":
          return yield* Console.log(format.formatHelpDoc(event.helpDoc))
        case "Version":
          return yield* Console.log(format.formatVersion(event.name, event.version))
        case "InvalidInvocation":
          return
      }
    })
}

/** The project's help formatter and presenter, for `Command.run`. */
export const layer: Layer.Layer<never> = Layer.mergeAll(CliOutput.layer(formatter()), CliOutput.layerPresenter(presenter))
