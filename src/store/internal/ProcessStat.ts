/**
 * ProcessStat: what the Linux kernel says of a process, read from /proc.
 *
 * A PID alone does not name a process for good: PIDs are reused (after a
 * container restart, PID 1 is alive again, and it is another process). The
 * start time the kernel records, with the id of the boot, does. Where there
 * is no /proc (not Linux) every read here is `undefined`.
 */
import { readFileSync } from "node:fs"

/** The fields of `/proc/<pid>/stat` this project needs. */
export interface ProcessStat {
  /** `R`, `S`, `D`, ...; `Z` (zombie) and `X` (dead) are processes that have ended. */
  readonly state: string
  readonly parentPid: number
  /** Field 22: when the process started, in clock ticks since boot (kept as text: it is compared, not computed with). */
  readonly startTime: string
}

const readText = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return undefined
  }
}

/** The kernel's record of process `pid`, or `undefined` when there is none (gone, or no /proc). */
export const processStat = (pid: number): ProcessStat | undefined => {
  const text = readText(`/proc/${pid}/stat`)
  if (text === undefined) return undefined
  // Field 2, the command name, is in parentheses and may itself hold spaces and ')': field 3 onwards
  // follow the last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
  const [state, parentPid, startTime] = [fields[0], fields[1], fields[19]]
  if (state === undefined || parentPid === undefined || startTime === undefined) return undefined
  return { state, parentPid: Number(parentPid), startTime }
}

/** Whether a process with this record has ended (a zombie holds no files and runs no code). */
export const hasEnded = (stat: ProcessStat): boolean => stat.state === "Z" || stat.state === "X"

// Clock ticks per second of /proc times: USER_HZ, which the kernel's ABI fixes at 100 on every
// architecture Node runs on.
const ticksPerSecond = 100

/** When a process started, in epoch ms, to within a second or so (the boot time is kept in whole seconds). */
export const startedAt = (stat: ProcessStat): number | undefined => {
  const bootTime = /^btime (\d+)$/m.exec(readText("/proc/stat") ?? "")?.[1]
  return bootTime === undefined ? undefined : Number(bootTime) * 1000 + (Number(stat.startTime) * 1000) / ticksPerSecond
}

/** The id of the current boot of the kernel, or `undefined` without /proc. */
export const bootId = (): string | undefined => readText("/proc/sys/kernel/random/boot_id")?.trim()
