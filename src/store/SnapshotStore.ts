/**
 * SnapshotStore: durable snapshots of sessions, newest first.
 *
 * One contract, several backings: PostgreSQL (`PgSnapshotStore`, also on the
 * embedded PGlite) and memory (`layerMemory`). Every backing stores a snapshot
 * as the same row: the envelope's metadata, the checksum, and the four encoded
 * sections; every backing reads a row back through `readSnapshotRow`, which
 * verifies the checksum and decodes each section by its Schema.
 */
import { Clock, Context, Effect, Layer, Option, Result, Schema } from "effect"
import type { EngineState } from "../domain/EngineState.ts"
import { type Env, SessionId as SessionIdSchema, type SessionId } from "../domain/Ids.ts"
import {
  decodeSnapshot,
  encodeSnapshot,
  type Snapshot,
  type SnapshotMetadata,
  SnapshotType as SnapshotTypeSchema,
  type SnapshotType
} from "../domain/Snapshot.ts"
import { StateCodecError } from "../domain/StateCodecError.ts"
import { type MemoryLeases, memoryWriteAllowed } from "./SessionLease.ts"
import { StoreError, type StoreKind } from "./StoreError.ts"

/** What a listing says of one snapshot, without decoding its state. */
export interface SnapshotSummary {
  readonly snapshotId: number
  readonly sessionId: SessionId
  readonly sequence: number
  readonly snapshotType: SnapshotType
  readonly fencingToken: number
  readonly createdAt: number
  /** When the store wrote it (epoch ms of the store's clock). */
  readonly recordedAt: number
  readonly loopCount: number
  readonly status: string
  /** Open trades in it; `null` when its positions row is missing. */
  readonly openTrades: number | null
  /** Payload bytes written, as the save that wrote it counted them (absent from listings). */
  readonly payloadBytes?: number
}

/** A snapshot that was read and verified. */
export interface StoredSnapshot {
  readonly snapshotId: number
  readonly recordedAt: number
  readonly snapshot: Snapshot
}

/** One stored snapshot as read back, valid or not: restore skips the invalid ones and says why. */
export interface SnapshotRead {
  readonly snapshotId: number
  readonly sequence: number
  readonly recordedAt: number
  /** Bytes of its stored sections (what reading it cost). */
  readonly bytes: number
  readonly result: Result.Result<Snapshot, StateCodecError>
}

/** Options of a retention run. */
export interface CleanupOptions {
  /** Snapshots recorded more recently than this many days are kept. */
  readonly olderThanDays: number
  /** The newest this-many snapshots of every session are kept whatever their age (at least 1). */
  readonly keepLatest?: number
  /** Say what would be removed, and remove nothing (the same choice as a real run). */
  readonly dryRun?: boolean
}

/** What retention removes (or, in a dry run, would remove) of one session: the start of its history. */
export interface HistoryCut {
  readonly sessionId: string
  /** How many snapshots. */
  readonly removed: number
  readonly oldestSequence: number
  readonly newestSequence: number
  /** The loop count of the newest snapshot removed: the history up to it is gone. */
  readonly newestLoopCount: number
}

/** Something that happened to a session: a resume (and from where), or retention cutting its history. */
export interface SessionEvent {
  readonly kind: "resumed" | "history_cut"
  readonly fencingToken: number
  readonly loopCount: number
  /**
   * Free-form detail: for a resume, its source, snapshot id and sequence, what the session had come
   * to (`after`: `stop` or `crash`), and what it skipped; for a cut (fencing token 0, loop count of
   * the newest snapshot removed), `removed`, `oldestSequence`, `newestSequence`, and the
   * `olderThanDays` and `keepLatest` it ran with.
   */
  readonly detail: Record<string, unknown>
}

/** A recorded event, with when the store recorded it. */
export interface RecordedEvent extends SessionEvent {
  readonly recordedAt: number
}

/** What to save: the envelope metadata (sequence, type, token, time) and the state. */
export type SnapshotToSave = Omit<SnapshotMetadata, "envelopeVersion">

/** The durable tier of one env. */
export class SnapshotStore extends Context.Service<SnapshotStore, {
  readonly env: Env
  readonly kind: StoreKind
  /**
   * Seals and writes a snapshot atomically (all four sections or nothing). Idempotent: the same
   * snapshot written again (after a lost reply) succeeds and is stored once; a sequence reused for
   * other contents is a `WriteConflict`.
   */
  readonly save: (metadata: SnapshotToSave, state: EngineState) => Effect.Effect<SnapshotSummary, StoreError | StateCodecError>
  /** The newest snapshot of the session, verified; `Unreadable` when the newest one is not valid. */
  readonly loadLatest: (sessionId: SessionId) => Effect.Effect<Option.Option<StoredSnapshot>, StoreError>
  /** Up to `limit` snapshots, newest first (below `beforeSequence` if given), each with its own verdict. */
  readonly loadRecent: (
    sessionId: SessionId,
    options: { readonly limit: number; readonly beforeSequence?: number }
  ) => Effect.Effect<ReadonlyArray<SnapshotRead>, StoreError>
  /** The newest snapshot of every session of the env, newest session first. */
  readonly listSessions: () => Effect.Effect<ReadonlyArray<SnapshotSummary>, StoreError>
  /**
   * The highest sequence of the session a writer can continue from (0 when it has none): sequences
   * beyond the safe integers (a damaged row) are passed over, as the restore passes over their rows.
   */
  readonly highestSequence: (sessionId: SessionId) => Effect.Effect<number, StoreError>
  /** The snapshots of a session, newest first. */
  readonly listSnapshots: (sessionId: SessionId, limit?: number) => Effect.Effect<ReadonlyArray<SnapshotSummary>, StoreError>
  /**
   * Removes old snapshots, never the newest valid one of a session, and records a `history_cut`
   * event for each session it cut; returns what it removed per session. With `dryRun`, the same
   * choice, nothing removed or recorded.
   */
  readonly cleanup: (options: CleanupOptions) => Effect.Effect<ReadonlyArray<HistoryCut>, StoreError>
  /** Records an event of the session (kept beside its snapshots; retention does not touch it). */
  readonly recordEvent: (sessionId: SessionId, event: SessionEvent) => Effect.Effect<void, StoreError>
  /** The events of the session, oldest first. */
  readonly listEvents: (sessionId: SessionId) => Effect.Effect<ReadonlyArray<RecordedEvent>, StoreError>
}>()("arbitrage-state/store/SnapshotStore") {}

/** A snapshot as the stores keep it: metadata columns, checksum, and the four encoded sections. */
export interface SnapshotRow {
  readonly snapshotId: number
  readonly sessionId: string
  readonly sequence: number
  readonly snapshotType: string
  readonly envelopeVersion: number
  readonly fencingToken: number
  readonly createdAt: number
  readonly checksum: string
  readonly loopCount: number
  readonly status: string
  readonly recordedAt: number
  readonly session: unknown
  /** `null` when the section's row is missing. */
  readonly positions: unknown | null
  readonly metrics: unknown | null
  readonly riskGuard: unknown | null
  /** Why the sections were not read, when one of them is over the size limit. */
  readonly oversized?: string | undefined
  /** Bytes of the stored sections, as the store measured them (else their JSON's length). */
  readonly storedBytes?: number | undefined
}

/** The row of a sealed snapshot, before the store assigns its id and records its time. */
export const rowOfSnapshot = (
  metadata: SnapshotToSave,
  state: EngineState
): Result.Result<Omit<SnapshotRow, "snapshotId" | "recordedAt">, StateCodecError> =>
  Result.map(encodeSnapshot(metadata, state), (sealed) => ({
    sessionId: sealed.sessionId,
    sequence: sealed.sequence,
    snapshotType: sealed.snapshotType,
    envelopeVersion: sealed.envelopeVersion,
    fencingToken: sealed.fencingToken,
    createdAt: sealed.createdAt,
    checksum: sealed.checksum,
    loopCount: state.session.loopCount,
    status: state.session.status,
    session: sealed.payload.session,
    positions: sealed.payload.positions,
    metrics: sealed.payload.metrics,
    riskGuard: sealed.payload.riskGuard
  }))

/** Verifies and decodes a stored row; a missing section row shows up as a missing section. */
export const readSnapshotRow = (row: SnapshotRow): Result.Result<Snapshot, StateCodecError> => {
  if (row.oversized !== undefined) {
    return Result.fail(StateCodecError.invalid("snapshot", `snapshot #${row.sequence} of ${row.sessionId}: ${row.oversized}`))
  }
  const missing = (["positions", "metrics", "riskGuard"] as const).filter((section) => row[section] === null)
  if (missing.length > 0) {
    return Result.fail(StateCodecError.invalid(
      "snapshot",
      `snapshot #${row.sequence} of ${row.sessionId} is missing its ${missing.join(", ")} section at snapshot.payload`
    ))
  }
  const payload = { session: row.session, positions: row.positions, metrics: row.metrics, riskGuard: row.riskGuard }
  return decodeSnapshot({
    envelopeVersion: row.envelopeVersion,
    sessionId: row.sessionId,
    snapshotType: row.snapshotType,
    sequence: row.sequence,
    fencingToken: row.fencingToken,
    createdAt: row.createdAt,
    checksum: row.checksum,
    payload
  })
}

/** The JSON bytes of a row's four sections. */
export const payloadBytesOf = (row: Pick<SnapshotRow, "session" | "positions" | "metrics" | "riskGuard">): number =>
  JSON.stringify(row.session).length + JSON.stringify(row.positions).length +
  JSON.stringify(row.metrics).length + JSON.stringify(row.riskGuard).length

/** The listing entry of a row. */
const isSessionId = Schema.is(SessionIdSchema)
const isSnapshotType = Schema.is(SnapshotTypeSchema)

/**
 * The listing entry of a row; `undefined` for a row no writer of this code could have made (its
 * session id or type is not one), which listings leave out (a restore still reads and names it).
 */
export const summaryOfRow = (row: SnapshotRow): SnapshotSummary | undefined =>
  !isSessionId(row.sessionId) || !isSnapshotType(row.snapshotType) ? undefined : {
  snapshotId: row.snapshotId,
  sessionId: row.sessionId,
  sequence: row.sequence,
  snapshotType: row.snapshotType,
  fencingToken: row.fencingToken,
  createdAt: row.createdAt,
  recordedAt: row.recordedAt,
  loopCount: row.loopCount,
  status: row.status,
  openTrades: openTradesOf(row.positions)
}

/** The summary of a snapshot just written (or found written) under `metadata`: its id and type are the writer's. */
export const writtenSummary = (row: SnapshotRow, metadata: SnapshotToSave): SnapshotSummary => ({
  snapshotId: row.snapshotId,
  sessionId: metadata.sessionId,
  sequence: row.sequence,
  snapshotType: metadata.snapshotType,
  fencingToken: row.fencingToken,
  createdAt: row.createdAt,
  recordedAt: row.recordedAt,
  loopCount: row.loopCount,
  status: row.status,
  openTrades: openTradesOf(row.positions)
})

/** The listing entries of rows, those no writer of this code could have made left out. */
export const summariesOf = (rows: ReadonlyArray<SnapshotRow>): Array<SnapshotSummary> =>
  rows.flatMap((row) => {
    const summary = summaryOfRow(row)
    return summary === undefined ? [] : [summary]
  })

const openTradesOf = (positions: unknown): number | null => {
  if (positions === null || typeof positions !== "object") return null
  const trades = (positions as { readonly activeTrades?: unknown }).activeTrades
  return trades !== null && typeof trades === "object" ? Object.keys(trades).length : null
}

/** The read of a row: its verdict, with what places it. */
export const snapshotReadOfRow = (row: SnapshotRow): SnapshotRead => ({
  snapshotId: row.snapshotId,
  sequence: row.sequence,
  recordedAt: row.recordedAt,
  bytes: row.storedBytes ?? payloadBytesOf(row),
  result: readSnapshotRow(row)
})

/** The latest snapshot from the newest-first reads: `None` if there is none, `Unreadable` if it is invalid. */
export const latestOf = (
  store: StoreKind,
  reads: ReadonlyArray<SnapshotRead>
): Effect.Effect<Option.Option<StoredSnapshot>, StoreError> => {
  const [newest] = reads
  if (newest === undefined) return Effect.succeedNone
  return Result.match(newest.result, {
    onFailure: (error) => Effect.fail(StoreError.unreadable(store, `snapshot ${newest.snapshotId}`, error.message)),
    onSuccess: (snapshot) =>
      Effect.succeedSome({ snapshotId: newest.snapshotId, recordedAt: newest.recordedAt, snapshot })
  })
}

/**
 * The ids retention must keep besides the newest `keepLatest` of each session:
 * the newest snapshot of each session that reads as valid, found by paging
 * back through `loadRecent`.
 */
export const newestValidIds = Effect.fnUntraced(function*(
  store: Pick<SnapshotStore["Service"], "listSessions" | "loadRecent">
) {
  const sessions = yield* store.listSessions()
  const ids: Array<number> = []
  for (const session of sessions) {
    let beforeSequence: number | undefined
    scan: while (true) {
      const reads = yield* store.loadRecent(session.sessionId, {
        limit: 16,
        ...(beforeSequence === undefined ? {} : { beforeSequence })
      })
      for (const read of reads) {
        if (Result.isSuccess(read.result)) {
          ids.push(read.snapshotId)
          break scan
        }
      }
      if (reads.length < 16) break
      beforeSequence = reads[reads.length - 1]!.sequence
    }
  }
  return ids
})

/** The options of a cleanup, checked the same way by every backing. */
export const checkCleanupOptions = (store: StoreKind, options: CleanupOptions): Effect.Effect<void, StoreError> =>
  !Number.isInteger(options.olderThanDays) || options.olderThanDays < 0
    ? Effect.fail(StoreError.failure(store, `olderThanDays must be a non-negative integer, got ${options.olderThanDays}`))
    : !Number.isInteger(options.keepLatest ?? 1) || (options.keepLatest ?? 1) < 1
    ? Effect.fail(StoreError.failure(store, `keepLatest must be a positive integer, got ${options.keepLatest}`))
    : Effect.void

const dayMs = 86_400_000

/** The rows a cut removes, per session (sessions in order): how many, which sequences, up to which loop. */
const historyCuts = (doomed: ReadonlyArray<SnapshotRow>): ReadonlyArray<HistoryCut> => {
  const bySession = new Map<string, Array<SnapshotRow>>()
  for (const row of doomed) bySession.set(row.sessionId, [...(bySession.get(row.sessionId) ?? []), row])
  return [...bySession].map(([sessionId, removed]) => ({
    sessionId,
    removed: removed.length,
    oldestSequence: Math.min(...removed.map((row) => row.sequence)),
    newestSequence: Math.max(...removed.map((row) => row.sequence)),
    newestLoopCount: Math.max(...removed.map((row) => row.loopCount))
  }))
}

/** The event a cut leaves in its session's history (what PostgreSQL's cut_snapshot_history records). */
const historyCutEvent = (cut: HistoryCut, options: CleanupOptions): SessionEvent => ({
  kind: "history_cut",
  fencingToken: 0,
  loopCount: cut.newestLoopCount,
  detail: {
    removed: cut.removed,
    oldestSequence: cut.oldestSequence,
    newestSequence: cut.newestSequence,
    olderThanDays: options.olderThanDays,
    keepLatest: options.keepLatest ?? 1
  }
})

const jsonRoundTrip = <A>(value: A): A => JSON.parse(JSON.stringify(value))

/** A durable tier kept in memory: the same rows and checks as PostgreSQL, gone when the process ends. */
export const makeMemory = (
  env: Env,
  rows: Array<SnapshotRow> = [],
  leases: MemoryLeases = new Map()
): SnapshotStore["Service"] => {
  let nextId = rows.reduce((max, row) => Math.max(max, row.snapshotId), 0) + 1
  const events = new Map<string, Array<RecordedEvent>>()
  const ofSession = (sessionId: string) =>
    rows.filter((row) => row.sessionId === sessionId).sort((a, b) => b.sequence - a.sequence)

  const loadRecent: SnapshotStore["Service"]["loadRecent"] = (sessionId, options) =>
    Effect.sync(() =>
      ofSession(sessionId)
        .filter((row) => options.beforeSequence === undefined || row.sequence < options.beforeSequence)
        .slice(0, Math.max(0, options.limit))
        .map((row) => snapshotReadOfRow(jsonRoundTrip(row)))
    )

  const listSessions: SnapshotStore["Service"]["listSessions"] = () =>
    Effect.sync(() => {
      const newest = new Map<string, SnapshotRow>()
      for (const row of rows) {
        const seen = newest.get(row.sessionId)
        if (seen === undefined || row.sequence > seen.sequence) newest.set(row.sessionId, row)
      }
      return summariesOf([...newest.values()].sort((a, b) => b.recordedAt - a.recordedAt || b.snapshotId - a.snapshotId))
    })

  const recordEvent: SnapshotStore["Service"]["recordEvent"] = (sessionId, event) =>
    Effect.flatMap(Clock.currentTimeMillis, (recordedAt) =>
      Effect.sync(() => {
        events.set(sessionId, [...(events.get(sessionId) ?? []), { ...jsonRoundTrip(event), recordedAt }])
      }))

  return SnapshotStore.of({
    env,
    kind: "memory",
    save: Effect.fnUntraced(function*(metadata, state) {
      const row = yield* Effect.fromResult(rowOfSnapshot(metadata, state))
      if (!memoryWriteAllowed(leases, row.sessionId, row.fencingToken, yield* Clock.currentTimeMillis)) {
        return yield* StoreError.fenced("memory", `snapshot #${row.sequence} of ${row.sessionId} refused: token ${row.fencingToken} is not the live lease's`)
      }
      const existing = rows.find((r) => r.sessionId === row.sessionId && r.sequence === row.sequence)
      if (existing !== undefined) {
        // The same snapshot again (a retry) is written already; anything else at its sequence is a conflict.
        if (existing.checksum === row.checksum) return { ...writtenSummary(existing, metadata), payloadBytes: payloadBytesOf(row) }
        return yield* StoreError.conflict("memory", `snapshot #${row.sequence} of ${row.sessionId} already exists with other contents`)
      }
      // Kept as JSON text would come back from a database, so that memory behaves as the real stores do.
      const stored: SnapshotRow = { ...jsonRoundTrip(row), snapshotId: nextId++, recordedAt: yield* Clock.currentTimeMillis }
      rows.push(stored)
      return { ...writtenSummary(stored, metadata), payloadBytes: payloadBytesOf(row) }
    }),
    loadLatest: (sessionId) => Effect.flatMap(loadRecent(sessionId, { limit: 1 }), (reads) => latestOf("memory", reads)),
    loadRecent,
    listSessions,
    listSnapshots: (sessionId, limit = 100) => Effect.sync(() => summariesOf(ofSession(sessionId).slice(0, limit))),
    highestSequence: (sessionId) =>
      Effect.sync(() => ofSession(sessionId).find((row) => row.sequence < Number.MAX_SAFE_INTEGER)?.sequence ?? 0),
    cleanup: Effect.fnUntraced(function*(options) {
      yield* checkCleanupOptions("memory", options)
      const keepLatest = options.keepLatest ?? 1
      const protectedIds = new Set(yield* newestValidIds({ listSessions, loadRecent }))
      const cutoff = (yield* Clock.currentTimeMillis) - options.olderThanDays * dayMs
      // The one choice, as PostgreSQL's snapshots_past_retention makes it (migration 0005).
      const doomed = [...new Set(rows.map((row) => row.sessionId))].sort().flatMap((session) =>
        ofSession(session).filter((row, rank) => rank >= keepLatest && row.recordedAt <= cutoff && !protectedIds.has(row.snapshotId))
      )
      const cuts = historyCuts(doomed)
      if (options.dryRun === true) return cuts
      const gone = new Set(doomed.map((row) => row.snapshotId))
      for (let i = rows.length - 1; i >= 0; i--) if (gone.has(rows[i]!.snapshotId)) rows.splice(i, 1)
      for (const cut of cuts) if (isSessionId(cut.sessionId)) yield* recordEvent(cut.sessionId, historyCutEvent(cut, options))
      return cuts
    }),
    recordEvent,
    listEvents: (sessionId) => Effect.sync(() => events.get(sessionId) ?? [])
  })
}

/** The memory backing for `env` (checking the fencing tokens of `leases`, when given). */
export const layerMemory = (env: Env, leases?: MemoryLeases): Layer.Layer<SnapshotStore> =>
  Layer.sync(SnapshotStore, () => makeMemory(env, [], leases))
