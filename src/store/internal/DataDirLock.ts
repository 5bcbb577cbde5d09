/**
 * DataDirLock: one process at a time on the embedded database's directory.
 *
 * The lock file `<dataDir>/arbitrage-state.lock` must name its holder by
 * more than a PID, because PIDs are reused: after a container restart PID 1
 * is alive again and is another process, and a lock naming this very process
 * may be one an earlier stack of it did not remove. So the lock records the
 * PID, the start time the kernel gives that process and the boot id (the
 * three name one process for good), the hostname, and a random nonce (which
 * stack of the holder took it). A lock is honoured only when it belongs to a
 * live holder; one left by a holder that is gone is taken over.
 *
 * Where there is no /proc (not Linux) the start time and the boot id are
 * unknown, and a lock is judged by its PID alone.
 */
import { errorCodeOf } from "./ErrorCode.ts"
import { Effect, Schema } from "effect"
import type { Scope } from "effect"
import { randomBytes } from "node:crypto"
import { linkSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { hostname } from "node:os"
import { join } from "node:path"
import { StoreError } from "../StoreError.ts"
import { bootId, hasEnded, processStat, startedAt } from "./ProcessStat.ts"

/** What a lock file holds (JSON). */
export const LockRecord = Schema.Struct({
  pid: Schema.Int.check(Schema.isGreaterThan(0)),
  /** Clock ticks since boot (`/proc/<pid>/stat` field 22); `null` where there is no /proc. */
  startTime: Schema.NullOr(Schema.String),
  bootId: Schema.NullOr(Schema.String),
  hostname: Schema.String,
  nonce: Schema.String
})
export type LockRecord = typeof LockRecord.Type

const decodeRecord = Schema.decodeUnknownOption(Schema.fromJsonString(LockRecord))

/** The lock file of a data directory. */
export const lockFileOf = (dataDir: string): string => join(dataDir, "arbitrage-state.lock")

/** A lock record naming process `pid` as this host sees it now, with a fresh nonce. */
export const recordOf = (pid: number): LockRecord => ({
  pid,
  startTime: processStat(pid)?.startTime ?? null,
  bootId: bootId() ?? null,
  hostname: hostname(),
  nonce: randomBytes(8).toString("hex")
})

/**
 * The locks this process holds, by directory (its real path), with their nonces: a lock naming this
 * process is honoured only while a live stack of this process holds it, and the nonce says which.
 */
const heldHere = new Map<string, string>()

type Verdict =
  | { readonly _tag: "Stale" }
  | { readonly _tag: "Held"; readonly message: string }

const stale: Verdict = { _tag: "Stale" }

const isRunning = (pid: number): boolean => {
  const stat = processStat(pid)
  if (stat !== undefined) return !hasEnded(stat)
  // No record in /proc: gone, or no /proc at all (or it hides other users' processes). Ask the kernel.
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return errorCodeOf(error) === "EPERM"
  }
}

// Boot times are recorded in whole seconds and drift with clock adjustments: a process is taken to
// have started after the lock only when it did so by more than this.
const startMarginMs = 5_000

/** Judges a lock in the format of this version. */
const judgeRecord = (dir: string, lockFile: string, lock: LockRecord, label: string): Verdict => {
  const inUse = `${label} in ${dir} is in use by process ${lock.pid}`
  if (lock.hostname !== hostname()) {
    // Another host's processes cannot be seen from here: taking the lock over could let two
    // processes write the same files, so it is honoured and the operator decides.
    return {
      _tag: "Held",
      message: `${inUse} on host ${lock.hostname}, which this host (${hostname()}) cannot check; ` +
        `if no process on ${lock.hostname} uses it, remove ${lockFile}`
    }
  }
  const boot = bootId()
  if (lock.bootId !== null && boot !== undefined && lock.bootId !== boot) return stale // the host rebooted since
  if (lock.pid === process.pid) {
    return heldHere.get(dir) === lock.nonce ? { _tag: "Held", message: `${inUse} (this process: another stack holds it)` } : stale
  }
  if (!isRunning(lock.pid)) return stale
  const startTime = processStat(lock.pid)?.startTime
  if (lock.startTime !== null && startTime !== undefined && lock.startTime !== startTime) return stale // a reused PID
  return { _tag: "Held", message: inUse }
}

/**
 * Judges a lock of the format older versions wrote: a bare PID. No stack of this process holds one
 * (this version writes records), so our own PID is stale; so is a PID that does not run, or whose
 * process started after the lock was written (it cannot be its writer: the PID was reused). Any
 * other live PID is honoured, as those versions did, since nothing recorded tells a reused one.
 */
const judgeBarePid = (dir: string, lockFile: string, pid: number, label: string): Verdict => {
  if (pid === process.pid || !isRunning(pid)) return stale
  const stat = processStat(pid)
  const started = stat === undefined ? undefined : startedAt(stat)
  if (started !== undefined && started > statSync(lockFile).mtimeMs + startMarginMs) return stale
  return {
    _tag: "Held",
    message: `${label} in ${dir} is in use by process ${pid} (a lock file of an older version, ` +
      `which cannot tell a reused PID); if process ${pid} is not using it, remove ${lockFile}`
  }
}

const readLock = (lockFile: string): string | undefined => {
  try {
    return readFileSync(lockFile, "utf8")
  } catch (error) {
    if (errorCodeOf(error) === "ENOENT") return undefined
    throw error
  }
}

/** Whether the lock file holding `text` belongs to a live holder. */
const judge = (dir: string, lockFile: string, text: string, label: string): Verdict => {
  const record = decodeRecord(text)
  if (record._tag === "Some") return judgeRecord(dir, lockFile, record.value, label)
  if (/^\s*[1-9]\d*\s*$/.test(text)) return judgeBarePid(dir, lockFile, Number(text), label)
  // Empty: what a process leaves that died between creating the file and writing it (older
  // versions did both in turn; this one puts a complete file in place at once).
  if (text.trim() === "") return stale
  // Anything else may be the lock of a newer version, live: honoured, and the operator decides.
  return {
    _tag: "Held",
    message: `the lock file ${lockFile} is not one this version can read (${JSON.stringify(text.slice(0, 80))}); ` +
      `if no process uses ${dir}, remove it`
  }
}

/** Puts a file holding `text` at `lockFile` all at once (a reader never sees it half written); false if one is there. */
const create = (lockFile: string, text: string, nonce: string): boolean => {
  const draft = `${lockFile}.${nonce}`
  writeFileSync(draft, text, { flag: "wx" })
  try {
    linkSync(draft, lockFile)
    return true
  } catch (error) {
    const code = errorCodeOf(error)
    if (code === "EEXIST") return false
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "ENOSYS") throw error
    // A filesystem without hard links: exclusive creation, then the write.
    try {
      writeFileSync(lockFile, text, { flag: "wx" })
      return true
    } catch (fallback) {
      if (errorCodeOf(fallback) === "EEXIST") return false
      throw fallback
    }
  } finally {
    rmSync(draft, { force: true })
  }
}

/**
 * Removes the stale lock that held `text`. It is first moved aside and checked: if another process
 * has meanwhile taken the lock over and put its own in place, that one is put back.
 */
const removeStale = (lockFile: string, text: string, nonce: string): void => {
  const aside = `${lockFile}.stale-${nonce}`
  try {
    renameSync(lockFile, aside)
  } catch (error) {
    if (errorCodeOf(error) === "ENOENT") return // someone else removed it
    throw error
  }
  try {
    if (readFileSync(aside, "utf8") !== text) linkSync(aside, lockFile)
  } catch (error) {
    if (errorCodeOf(error) !== "EEXIST") throw error
  } finally {
    rmSync(aside, { force: true })
  }
}

interface Taken {
  readonly _tag: "Taken"
  readonly dir: string
  readonly lockFile: string
  readonly text: string
  readonly nonce: string
}

/** Takes the lock, or says who holds it. Unexpected file-system failures are thrown. */
const take = (dataDir: string, label: string): Taken | Extract<Verdict, { readonly _tag: "Held" }> => {
  mkdirSync(dataDir, { recursive: true })
  const dir = realpathSync(dataDir)
  const lockFile = lockFileOf(dir)
  const record = recordOf(process.pid)
  const text = JSON.stringify(record)
  // A few rounds: a stale lock removed here may be taken by another process first.
  for (let attempt = 0; attempt < 3; attempt++) {
    if (create(lockFile, text, record.nonce)) {
      heldHere.set(dir, record.nonce)
      return { _tag: "Taken", dir, lockFile, text, nonce: record.nonce }
    }
    const existing = readLock(lockFile)
    if (existing === undefined) continue
    const verdict = judge(dir, lockFile, existing, label)
    if (verdict._tag === "Held") return verdict
    removeStale(lockFile, existing, record.nonce)
  }
  return { _tag: "Held", message: `cannot take the lock of ${dir}: other processes keep taking it` }
}

/** Removes the lock if it is still the one this stack put there. */
const release = (taken: Taken): void => {
  if (heldHere.get(taken.dir) === taken.nonce) heldHere.delete(taken.dir)
  if (readLock(taken.lockFile) === taken.text) rmSync(taken.lockFile, { force: true })
}

/**
 * Takes the lock of `dataDir` for this stack until the scope closes; fails with `fail` of the reason
 * (naming what the directory holds by `label`) if a live holder has it (or the lock cannot be taken).
 */
export const acquireFor = <E>(dataDir: string, label: string, fail: (message: string) => E): Effect.Effect<void, E, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () => take(dataDir, label),
      catch: (cause) => fail(`cannot lock ${dataDir}: ${(cause as Error).message}`)
    }).pipe(
      Effect.flatMap((outcome) => (outcome._tag === "Held" ? Effect.fail(fail(outcome.message)) : Effect.succeed(outcome)))
    ),
    // A lock that could not be removed is no harm: it names this process, which no longer holds
    // it, so the next start judges it stale.
    (taken) => Effect.try(() => release(taken)).pipe(Effect.ignore)
  ).pipe(Effect.asVoid)

/** Takes the lock of the embedded database's `dataDir` for this stack until the scope closes; fails if a live holder has it. */
export const acquire = (dataDir: string): Effect.Effect<void, StoreError, Scope.Scope> =>
  acquireFor(dataDir, "the embedded database", (message) => StoreError.failure("postgres", `embedded database: ${message}`))
