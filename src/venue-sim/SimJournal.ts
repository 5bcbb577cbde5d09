/**
 * SimJournal: the venue simulator's durable book, in a data folder of its
 * own: `settings.json` (its venues and market, fixed when the folder is
 * first used) and `journal.jsonl` (every event of the book, one JSON line
 * each, flushed to disk with fsync before the simulator answers).
 *
 * Opening a folder replays its journal into the book. A last line cut short
 * (the simulator killed while writing it) is dropped, and cut off the file
 * before anything is appended, as its answer was never sent; a damaged line
 * before the last is a typed error naming it, never a book rebuilt without it.
 * One simulator at a time serves a folder: it holds the folder's lock (the
 * embedded database's, `DataDirLock`) while it is open.
 */
import { Effect, Schema, type Scope } from "effect"
import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, truncateSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { MarketSymbol, Venue as VenueName } from "../domain/Ids.ts"
import * as DataDirLock from "../store/internal/DataDirLock.ts"
import { EpochMillis } from "../domain/Units.ts"
import { ClientOrderId, VenueFill, VenueOrder } from "../venue/Venue.ts"
import { apply, emptyBook, type SimBook, type SimEvent, type SimSettings } from "./SimBook.ts"

/** The data folder cannot be used: unreadable, damaged, or holding another simulator's settings. */
export class SimDataError extends Schema.TaggedError<SimDataError>()("SimDataError", { message: Schema.String }) {}

const Settings = Schema.Struct({
  venues: Schema.Array(VenueName),
  seed: Schema.Int,
  tickMs: Schema.Int,
  feeBps: Schema.Finite,
  fillSlices: Schema.Int,
  orderTtlMs: Schema.Int
})

const Event = Schema.Union([
  Schema.Struct({ type: Schema.Literal("accepted"), order: VenueOrder }),
  Schema.Struct({ type: Schema.Literal("rejected"), order: VenueOrder }),
  Schema.Struct({ type: Schema.Literal("fill"), fill: VenueFill }),
  Schema.Struct({ type: Schema.Literal("cancelled"), venue: VenueName, clientOrderId: ClientOrderId, at: EpochMillis, byVenue: Schema.optionalKey(Schema.Boolean) }),
  Schema.Struct({ type: Schema.Literal("expired"), venue: VenueName, clientOrderId: ClientOrderId, at: EpochMillis }),
  Schema.Struct({ type: Schema.Literal("adjusted"), venue: VenueName, symbol: MarketSymbol, quantity: Schema.Finite, at: EpochMillis })
])
const decodeEvent = Schema.decodeUnknownResult(Schema.fromJsonString(Event))
const decodeSettings = Schema.decodeUnknownResult(Schema.fromJsonString(Settings))

/** An open journal: the book it rebuilt, the settings it holds, and how to append to it. */
export interface SimJournal {
  readonly book: SimBook
  readonly settings: SimSettings
  /** Appends `events` durably (written and fsynced), then applies them to the book. */
  readonly append: (events: ReadonlyArray<SimEvent>) => Effect.Effect<void, SimDataError>
}

const sameSettings = (a: SimSettings, b: SimSettings) => JSON.stringify(a) === JSON.stringify(b)

/**
 * Opens (or starts) the data folder `dir` for a simulator of `settings`, until the scope closes; a
 * folder first used with other settings is refused, naming them (its book was made by other rules).
 */
export const open = (dir: string, settings: SimSettings): Effect.Effect<SimJournal, SimDataError, Scope.Scope> =>
  Effect.andThen(
    Effect.andThen(
      Effect.try({ try: () => mkdirSync(dir, { recursive: true }), catch: (cause) => new SimDataError({ message: `cannot use ${dir}: ${(cause as Error).message}` }) }),
      DataDirLock.acquireFor(dir, "the venue simulator's data folder", (message) => new SimDataError({ message }))
    ),
    openLocked(dir, settings)
  )

const openLocked = (dir: string, settings: SimSettings): Effect.Effect<SimJournal, SimDataError, Scope.Scope> =>
  Effect.try({
    try: () => {
      mkdirSync(dir, { recursive: true })
      const settingsFile = join(dir, "settings.json")
      if (existsSync(settingsFile)) {
        const stored = decodeSettings(readFileSync(settingsFile, "utf8"))
        if (stored._tag === "Failure") throw new Error(`${settingsFile} is damaged: ${stored.failure.message}`)
        if (!sameSettings(stored.success, settings)) {
          throw new Error(`${dir} holds a simulator with other settings (${JSON.stringify(stored.success)}); use another --data folder, or the same settings`)
        }
      } else {
        writeFileSync(settingsFile, JSON.stringify(settings))
      }
      const journalFile = join(dir, "journal.jsonl")
      const book = emptyBook()
      if (existsSync(journalFile)) {
        const bytes = readFileSync(journalFile)
        // The text after the last newline is a line cut short, or nothing.
        const completeBytes = bytes.lastIndexOf(0x0a) + 1
        const complete = bytes.subarray(0, completeBytes).toString("utf8").split("\n").slice(0, -1)
        for (const [i, line] of complete.entries()) {
          const event = decodeEvent(line)
          if (event._tag === "Failure") throw new Error(`${journalFile} line ${i + 1} is damaged: ${event.failure.message}`)
          apply(book, event.success as SimEvent)
        }
        // Cut off, so that the next event does not continue it (which would damage a line before the last).
        if (completeBytes < bytes.length) {
          truncateSync(journalFile, completeBytes)
          const cut = openSync(journalFile, "r+")
          fsyncSync(cut)
          closeSync(cut)
        }
      }
      const fd = openSync(journalFile, "a")
      return { book, fd, journalFile }
    },
    catch: (cause) => new SimDataError({ message: cause instanceof Error ? cause.message : String(cause) })
  }).pipe(
    Effect.flatMap(({ book, fd, journalFile }) =>
      Effect.as(Effect.addFinalizer(() => Effect.sync(() => closeSync(fd))), { book, fd, journalFile })
    ),
    Effect.map(({ book, fd, journalFile }): SimJournal => ({
      book,
      settings,
      append: (events) =>
        events.length === 0 ? Effect.void : Effect.try({
          try: () => {
            appendFileSync(fd, events.map((event) => `${JSON.stringify(event)}\n`).join(""))
            fsyncSync(fd)
            for (const event of events) apply(book, event)
          },
          catch: (cause) => new SimDataError({ message: `cannot write ${journalFile}: ${cause instanceof Error ? cause.message : String(cause)}` })
        })
    }))
  )
