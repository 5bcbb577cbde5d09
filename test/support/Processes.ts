/**
 * Process trees as the kernel sees them (Linux /proc): which processes a
 * command started, and whether they are still running.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs"
import { hasEnded, processStat } from "../../src/store/internal/ProcessStat.ts"

/** Whether process `pid` exists and has not ended (a zombie waiting to be reaped counts as ended). */
export const isRunning = (pid: number): boolean => {
  const stat = processStat(pid)
  return stat !== undefined && !hasEnded(stat)
}

/** The command line of process `pid`, its arguments joined by spaces ("" once it is gone). */
export const commandLineOf = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim()
  } catch {
    return ""
  }
}

/** The file process `pid` runs ("" once it is gone). */
export const executableOf = (pid: number): string => {
  try {
    return readlinkSync(`/proc/${pid}/exe`)
  } catch {
    return ""
  }
}

/** Every running descendant of `pid` (children, their children...). */
export const descendantsOf = (pid: number): ReadonlyArray<number> => {
  const children = new Map<number, Array<number>>()
  for (const entry of readdirSync("/proc")) {
    const child = Number(entry)
    if (!Number.isInteger(child)) continue
    const stat = processStat(child)
    if (stat === undefined || hasEnded(stat)) continue
    children.set(stat.parentPid, [...(children.get(stat.parentPid) ?? []), child])
  }
  const found: Array<number> = []
  const pending = [pid]
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    for (const child of children.get(next) ?? []) {
      found.push(child)
      pending.push(child)
    }
  }
  return found
}
