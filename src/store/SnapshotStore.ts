/**
 * SnapshotStore: durable snapshots of sessions, newest first.
 *
 * One contract, several backings: PostgreSQL (`PgSnapshotStore`, also on the
 * embedded PGlite) and memory (`layerMemory`). A backing does row I/O only
 * (`SnapshotRows`); the store over it (`fromRows`) does the rest once: it
 * seals a snapshot into a row, verifies and decodes every row it reads
 * (checksum, Schemas), lists, and protects each session's newest valid
 * snapshot from retention.
 *
 * @module
 */
import { Clock, Context, Effect, Layer, Option, Result } from "effect"
import type { LedgerEntry } from "../domain/ClosedTrade.ts"
import type { EngineState } from "../domain/EngineState.ts"
import type { Env, SessionId } from "../domain/Ids.ts"
import type { SessionStatus } from "../domain/SessionState.ts"
import type { Snapshot, SnapshotMetadata, SnapshotType } from "../domain/Snapshot.ts"
import type { StateCodecError } from "../domain/StateCodecError.ts"
import {
  checkReadable,
  historyCutEvent,
  historyCuts,
  type LedgerAppend,
  ledgerAppendOf,
  type NewSnapshotRow,
  openRow,
  payloadBytesOf,
  protectRow,
  readSnapshotRow,
  rowOfSnapshot,
  type SnapshotRow,
  snapshotReadOfRow,
  type SnapshotHeader,
  type SnapshotSection,
  summariesOf,
  snapshotSealFields,
  writtenSummary
} from "./internal/SnapshotRows.ts"
import { isEncrypted, keyNotHeldIn, newestKey, sealedUnderNewest, sealKeyId, sealProblem, type StateProtection } from "./StateProtection.ts"
import { storeOperation } from "./internal/StoreSpan.ts"
import { appendMemoryEvent, appendMemoryLedger, memoryWriteAllowed } from "./internal/MemoryRows.ts"
import type { MemoryEvents } from "./SessionEvents.ts"
import type { MemoryLeases } from "./SessionLease.ts"
import type { MemoryLedger } from "./TradeLedger.ts"
import { StoreError, type StoreKind } from "./StoreError.ts"

export type { SnapshotHeader } from "./internal/SnapshotRows.ts"

/**
 * The most the snapshots below a session's newest hold, by their columns (`null` when there are
 * none), with how many of them have no sealed header (rows from before migration 0008), and the
 * newest's sequence as this read saw it.
 */
export interface OlderCeiling {
  readonly newestSequence: number | null
  readonly loopCount: number | null
  readonly fencingToken: number | null
  readonly unsealed: number
}

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
  readonly status: SessionStatus
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
  /**
   * Its sequence, writer's token and loop count when its sealed header holds (`undefined`: no header,
   * or a damaged one), known without decoding it: a restore decodes only the fresher candidate.
   */
  readonly header: SnapshotHeader | undefined
  /** Its verdict: verified (checksum, Schemas) and decoded on first use. */
  readonly result: Result.Result<Snapshot, StateCodecError>
  /** The key its seal names (`null`: no seal; not checked here, its verdict says whether it holds). */
  readonly sealKey: string | null
  /** Whether its sections are stored encrypted. */
  readonly encrypted: boolean
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

/** What a rekey did with one snapshot. */
export interface RekeyedSnapshot {
  readonly snapshotId: number
  readonly sequence: number
  /** `resealed`: sealed (and encrypted, when asked) under the newest key; `current`: it was; `refused`: left as it is, `reason` says why. */
  readonly outcome: "resealed" | "current" | "refused"
  readonly reason?: string
  /** Whether it carried a seal before (holding or not). */
  readonly sealedBefore: boolean
  /** The key its seal named before (`null`: it had none). */
  readonly previousKey: string | null
}

/** Options of a rekey. */
export interface RekeyOptions {
  /**
   * Also seal snapshots that carry no seal at all (written before STATE_KEYS was set), when their
   * checksum holds: trust on first use, which the operator asks for. Never a snapshot whose seal
   * fails, nor an unsealed one newer than the session's oldest sealed one.
   */
  readonly trustUnsealed?: boolean
}

/** What to save: the envelope metadata (sequence, type, token, time) and the state. */
export type SnapshotToSave = Omit<SnapshotMetadata, "envelopeVersion">

/** The durable tier of one env. */
export class SnapshotStore extends Context.Service<SnapshotStore, {
  readonly env: Env
  readonly kind: StoreKind
  /**
   * Seals and writes a snapshot atomically (all four sections or nothing), with the trade ledger
   * entries of `ledger` (see `TradeLedger`): the state's newest closes that are not durable yet,
   * numbered up to its `tradesClosed` (refused otherwise). Entries the ledger holds above them that
   * this state does not count (a history a resume fell back from) are marked superseded by the same
   * write. Idempotent: the same snapshot written again (after a lost reply) succeeds and is stored
   * once; a sequence reused for other contents is a `WriteConflict`.
   */
  readonly save: (
    metadata: SnapshotToSave,
    state: EngineState,
    ledger?: ReadonlyArray<LedgerEntry>
  ) => Effect.Effect<SnapshotSummary, StoreError | StateCodecError>
  /** Fails as `save` would before writing anything (an invalid state, a section over the size a restore reads); writes nothing. */
  readonly checkWritable: (metadata: SnapshotToSave, state: EngineState) => Effect.Effect<void, StateCodecError>
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
  /**
   * The most the `limit` snapshots below the session's newest (by sequence) hold, by their columns:
   * what a restore that trusts the newest's header weighs a fresher live state against. Read
   * without their sections.
   */
  readonly olderCeiling: (sessionId: SessionId, limit: number) => Effect.Effect<OlderCeiling, StoreError>
  /** The snapshots of a session, newest first. */
  readonly listSnapshots: (sessionId: SessionId, limit?: number) => Effect.Effect<ReadonlyArray<SnapshotSummary>, StoreError>
  /**
   * Removes old snapshots, never the newest valid one of a session, and records a `history_cut`
   * event (see `SessionEvents`) for each session it cut; returns what it removed per session. With `dryRun`, the same
   * choice, nothing removed or recorded.
   */
  readonly cleanup: (options: CleanupOptions) => Effect.Effect<ReadonlyArray<HistoryCut>, StoreError>
  /**
   * Seals every authentic snapshot of the session under the newest key (and, with encryption, stores
   * its sections encrypted under it; without, in the clear), newest first; what does not verify is
   * left as it is and said. Fails when no keys are configured.
   */
  readonly rekey: (sessionId: SessionId, options?: RekeyOptions) => Effect.Effect<ReadonlyArray<RekeyedSnapshot>, StoreError>
}>()("arbitrage-state/store/SnapshotStore") {}


/**
 * What a backing does: row I/O only. Everything a snapshot store does with rows (sealing a
 * snapshot into one, verifying and decoding what is read, the latest, listings, retention's
 * checks and its protection of each session's newest valid snapshot, byte counts) is done once,
 * by `fromRows`, whatever the backing.
 */
export interface SnapshotRows {
  readonly kind: StoreKind
  /** The largest section this backing reads back, as `sectionBytes` measures it: a save of a larger one is refused. */
  readonly maxSectionBytes: number
  /** The JSON bytes of a row's sections, when the backing has them at hand (else they are serialised again to count them). */
  readonly payloadBytes?: (row: NewSnapshotRow) => number
  /** A section's size (`name`, its encoded `value`) as this backing measures it against `maxSectionBytes` when it reads. */
  readonly sectionBytes: (name: SnapshotSection, value: unknown) => number
  /**
   * Inserts the row and appends `ledger` in one atomic step, unless the session's lease refuses its
   * token (`refused`, with the lease as the storage saw it) or its sequence is taken (`taken`, with
   * the row there); either way neither is written.
   */
  readonly insert: (
    row: NewSnapshotRow,
    state: EngineState,
    ledger: LedgerAppend
  ) => Effect.Effect<
    | { readonly _tag: "inserted"; readonly snapshotId: number; readonly recordedAt: number }
    | { readonly _tag: "taken"; readonly existing: { readonly snapshotId: number; readonly recordedAt: number; readonly checksum: string } | undefined }
    | { readonly _tag: "refused"; readonly leaseToken: number | null; readonly leaseLive: boolean },
    StoreError
  >
  /** The session's rows, newest first, below `beforeSequence` when given, sections read within the size limit. */
  readonly selectRecent: (
    sessionId: SessionId,
    options: { readonly limit: number; readonly beforeSequence?: number }
  ) => Effect.Effect<ReadonlyArray<SnapshotRow>, StoreError>
  /** The newest row of every session of the env (its sections need not be read), newest session first. */
  readonly selectNewestOfEach: () => Effect.Effect<ReadonlyArray<SnapshotRow>, StoreError>
  /** `SnapshotStore.olderCeiling` (`limit` may be infinite: every older row). */
  readonly selectOlderCeiling: (sessionId: SessionId, limit: number) => Effect.Effect<OlderCeiling, StoreError>
  /** The session's rows newest first (sections need not be read). */
  readonly selectListing: (sessionId: SessionId, limit: number) => Effect.Effect<ReadonlyArray<SnapshotRow>, StoreError>
  /** The highest sequence below the safe integers (0 when none). */
  readonly selectHighestSequence: (sessionId: SessionId) => Effect.Effect<number, StoreError>
  /**
   * What retention takes: rows recorded at least `olderThanDays` ago beyond the newest `keepLatest`
   * of each session, none of `protectedIds`; removed with a `history_cut` event per session unless
   * `dryRun`.
   */
  readonly cut: (options: Required<CleanupOptions> & { readonly protectedIds: ReadonlyArray<number> }) => Effect.Effect<ReadonlyArray<HistoryCut>, StoreError>
  /**
   * Replaces a row's seal and sections with `row`'s, if its seal is still `previousSeal` (a rekey's
   * compare-and-set); whether it did.
   */
  readonly reseal: (snapshotId: number, previousSeal: string | null, row: NewSnapshotRow) => Effect.Effect<boolean, StoreError>
}

/** The snapshot store of `env` over a backing's rows. */
export const fromRows = (env: Env, rows: SnapshotRows, protection?: StateProtection): SnapshotStore["Service"] => {
  const store = rows.kind

  /** The row of a snapshot this store would write, or why it would refuse it. */
  const writableRow = (metadata: SnapshotToSave, state: EngineState) =>
    Effect.gen(function*() {
      const row = protectRow(env, protection, yield* Effect.fromResult(rowOfSnapshot(metadata, state)))
      // What a restore would refuse to read is not written: the save fails, and the state stays the runner's to fix.
      yield* Effect.fromResult(checkReadable(row, rows.maxSectionBytes, rows.sectionBytes))
      return row
    })

  const save = storeOperation("SnapshotStore.save")(function*(metadata: SnapshotToSave, state: EngineState, ledger: ReadonlyArray<LedgerEntry> = []) {
    const row = yield* writableRow(metadata, state)
    const append = yield* Effect.fromResult(ledgerAppendOf(state, ledger))
    const payloadBytes = rows.payloadBytes === undefined ? payloadBytesOf(row) : rows.payloadBytes(row)
    const outcome = yield* rows.insert(row, state, append)
    switch (outcome._tag) {
      case "inserted":
        return { ...writtenSummary({ ...row, snapshotId: outcome.snapshotId, recordedAt: outcome.recordedAt }, metadata, state), payloadBytes }
      case "refused":
        return yield* StoreError.fenced(
          store,
          `snapshot #${row.sequence} of ${row.sessionId} refused: token ${row.fencingToken} is not the live lease's (${outcome.leaseToken}${
            outcome.leaseLive ? "" : ", expired"
          })`
        )
      case "taken": {
        // The same snapshot again (a retry after a lost reply) is written already; anything else at
        // its sequence is a conflict.
        const { existing } = outcome
        if (existing === undefined || existing.checksum !== row.checksum) {
          return yield* StoreError.conflict(
            store,
            `snapshot #${row.sequence} of ${row.sessionId} already exists${existing === undefined ? "" : " with other contents"}`
          )
        }
        return { ...writtenSummary({ ...row, snapshotId: existing.snapshotId, recordedAt: existing.recordedAt }, metadata, state), payloadBytes }
      }
    }
  })

  const loadRecent = storeOperation("SnapshotStore.loadRecent")(function*(
    sessionId: SessionId,
    options: { readonly limit: number; readonly beforeSequence?: number }
  ) {
    return (yield* rows.selectRecent(sessionId, { ...options, limit: Math.max(0, options.limit) })).map((row) => snapshotReadOfRow(env, protection, row))
  })

  const loadLatest = storeOperation("SnapshotStore.loadLatest")(function*(sessionId: SessionId) {
    const [newest] = yield* loadRecent(sessionId, { limit: 1 })
    if (newest === undefined) return Option.none()
    if (Result.isFailure(newest.result)) {
      return yield* StoreError.unreadable(store, `snapshot ${newest.snapshotId}`, newest.result.failure.message)
    }
    return Option.some({ snapshotId: newest.snapshotId, recordedAt: newest.recordedAt, snapshot: newest.result.success })
  })

  const listSessions = storeOperation("SnapshotStore.listSessions")(function*() {
    return summariesOf(yield* rows.selectNewestOfEach())
  })

  /**
   * The newest snapshot of each session that reads as valid: retention never takes one. A session
   * none of whose snapshots reads as valid keeps them all: which one a restore needs cannot be told
   * (the wrong keys make every snapshot fail alike). A snapshot under a key this process does not
   * hold stops retention: it cannot tell valid from not.
   */
  const newestValidIds = Effect.fnUntraced(function*() {
    const ids: Array<number> = []
    for (const session of yield* listSessions()) {
      const scanned: Array<number> = []
      let beforeSequence: number | undefined
      let found = false
      scan: while (true) {
        const reads = yield* loadRecent(session.sessionId, { limit: 16, ...(beforeSequence === undefined ? {} : { beforeSequence }) })
        for (const read of reads) {
          if (Result.isSuccess(read.result)) {
            ids.push(read.snapshotId)
            found = true
            break scan
          }
          const keyMissing = keyNotHeldIn(read.result.failure.message)
          if (keyMissing !== undefined) {
            return yield* StoreError.failure(
              store,
              `cleanup cannot tell the valid snapshots of ${session.sessionId} from the others: they are sealed or encrypted under key ${keyMissing}, which this process does not hold; set STATE_KEYS (or STATE_KEYS_FILE) as its runners have it`
            )
          }
          scanned.push(read.snapshotId)
        }
        if (reads.length < 16) break
        beforeSequence = reads[reads.length - 1]!.sequence
      }
      if (!found) ids.push(...scanned)
    }
    return ids
  })

  const cleanup = storeOperation("SnapshotStore.cleanup")(function*(options: CleanupOptions) {
    const keepLatest = options.keepLatest ?? 1
    if (!Number.isInteger(options.olderThanDays) || options.olderThanDays < 0) {
      return yield* StoreError.failure(store, `olderThanDays must be a non-negative integer, got ${options.olderThanDays}`)
    }
    if (!Number.isInteger(keepLatest) || keepLatest < 1) {
      return yield* StoreError.failure(store, `keepLatest must be a positive integer, got ${options.keepLatest}`)
    }
    return yield* rows.cut({
      olderThanDays: options.olderThanDays,
      keepLatest,
      dryRun: options.dryRun ?? false,
      protectedIds: yield* newestValidIds()
    })
  })

  /**
   * What a rekey does with one row (and, when it re-seals it, the row it writes). An unsealed row is
   * trusted (when asked) only below `sealedFrom`, the oldest sequence sealed under a configured key:
   * one above it was written after the keys were, by someone without them.
   */
  const rekeyed = (row: SnapshotRow, trust: { readonly unsealed: boolean; readonly sealedFrom: number }, keys: StateProtection): RekeyedSnapshot & { readonly write?: NewSnapshotRow } => {
    const unsealed = typeof row.seal !== "string"
    const base = { snapshotId: row.snapshotId, sequence: row.sequence, sealedBefore: !unsealed, previousKey: sealKeyId(row.seal) ?? null }
    // Judged strictly here (the store's own keys may trust unsealed rows when it reads): which to trust is this choice's.
    const forged = sealProblem({ ...keys, trustUnsealed: false }, "snapshot", row.seal, () => snapshotSealFields(env, row))
    if (forged !== undefined && !(unsealed && trust.unsealed && row.sequence < trust.sealedFrom)) {
      const after = unsealed && trust.unsealed ? `, and newer than snapshot #${trust.sealedFrom}, which is sealed: written after the keys were, without them` : ""
      return { ...base, outcome: "refused", reason: `${forged}${after}` }
    }
    const opened = openRow(env, keys, row)
    if (Result.isFailure(opened)) return { ...base, outcome: "refused", reason: opened.failure.message }
    const verified = readSnapshotRow(opened.success)
    if (Result.isFailure(verified)) return { ...base, outcome: "refused", reason: verified.failure.message }
    const sections = [row.session, row.positions, row.metrics, row.riskGuard, row.custom].filter((value) => value !== null && value !== undefined)
    const stored = (value: unknown) => isEncrypted(value) && value.startsWith(`aes-256-gcm:${newestKey(keys).id}:`)
    const current = forged === undefined && sealedUnderNewest(keys, row.seal) && sections.every((value) => keys.encrypt ? stored(value) : !isEncrypted(value))
    if (current) return { ...base, outcome: "current" }
    return { ...base, outcome: "resealed", write: protectRow(env, keys, opened.success) }
  }

  /** Every row of a session, newest first, `batch` at a time, to `f`. */
  const eachRow = <A, E>(sessionId: SessionId, f: (row: SnapshotRow) => Effect.Effect<A, E>) =>
    Effect.gen(function*() {
      let beforeSequence: number | undefined
      while (true) {
        const batch = yield* rows.selectRecent(sessionId, { limit: 16, ...(beforeSequence === undefined ? {} : { beforeSequence }) })
        for (const row of batch) yield* f(row)
        if (batch.length < 16) return
        beforeSequence = batch[batch.length - 1]!.sequence
      }
    })

  const rekey = storeOperation("SnapshotStore.rekey")(function*(sessionId: SessionId, options: RekeyOptions = {}) {
    if (protection === undefined) return yield* StoreError.failure(store, "rekey needs STATE_KEYS (or STATE_KEYS_FILE): there is no key to seal with")
    const keys = protection
    // The oldest snapshot sealed under a configured key (a first pass, reading the rows' seals).
    let sealedFrom = Number.POSITIVE_INFINITY
    if (options.trustUnsealed === true) {
      yield* eachRow(sessionId, (row) =>
        Effect.sync(() => {
          if (typeof row.seal === "string" && sealProblem(keys, "snapshot", row.seal, () => snapshotSealFields(env, row)) === undefined) {
            sealedFrom = Math.min(sealedFrom, row.sequence)
          }
        }))
    }
    const done: Array<RekeyedSnapshot> = []
    yield* eachRow(sessionId, (row) =>
      Effect.gen(function*() {
        const { write, ...outcome } = rekeyed(row, { unsealed: options.trustUnsealed ?? false, sealedFrom }, keys)
        if (write !== undefined && !(yield* rows.reseal(row.snapshotId, row.seal ?? null, write))) {
          done.push({ ...outcome, outcome: "refused", reason: "it changed while it was re-sealed; run rekey again" })
        } else done.push(outcome)
      }))
    return done
  })

  return SnapshotStore.of({
    env,
    kind: store,
    rekey,
    save,
    checkWritable: (metadata, state) => Effect.asVoid(writableRow(metadata, state)),
    loadLatest,
    loadRecent,
    listSessions,
    olderCeiling: storeOperation("SnapshotStore.olderCeiling")(function*(sessionId: SessionId, limit: number) {
      return yield* rows.selectOlderCeiling(sessionId, Math.max(0, limit))
    }),
    listSnapshots: storeOperation("SnapshotStore.listSnapshots")(function*(sessionId: SessionId, limit = 100) {
      return summariesOf(yield* rows.selectListing(sessionId, limit))
    }),
    highestSequence: storeOperation("SnapshotStore.highestSequence")(function*(sessionId: SessionId) {
      return yield* rows.selectHighestSequence(sessionId)
    }),
    cleanup
  })
}

const dayMs = 86_400_000

const jsonRoundTrip = <A>(value: A): A => JSON.parse(JSON.stringify(value))

/**
 * The rows of a durable tier kept in memory: the same rows and checks as PostgreSQL, gone when the
 * process ends; the ledger entries it appends go to `ledger` (which a memory `TradeLedger` reads).
 */
export const memoryRows = (
  rows: Array<SnapshotRow> = [],
  leases: MemoryLeases = new Map(),
  events: MemoryEvents = new Map(),
  ledger: MemoryLedger = []
): SnapshotRows => {
  let nextId = rows.reduce((max, row) => Math.max(max, row.snapshotId), 0) + 1
  const ofSession = (sessionId: string) =>
    rows.filter((row) => row.sessionId === sessionId).sort((a, b) => b.sequence - a.sequence)
  return {
    kind: "memory",
    maxSectionBytes: Number.POSITIVE_INFINITY,
    sectionBytes: (_name, value) => Buffer.byteLength(JSON.stringify(value)),
    insert: (row, state, append) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        if (!memoryWriteAllowed(leases, row.sessionId, row.fencingToken, now)) {
          const lease = leases.get(row.sessionId)
          return { _tag: "refused", leaseToken: lease?.fencingToken ?? null, leaseLive: lease !== undefined && lease.expiresAt > now } as const
        }
        const existing = rows.find((r) => r.sessionId === row.sessionId && r.sequence === row.sequence)
        if (existing !== undefined) return { _tag: "taken", existing } as const
        // Kept as JSON text would come back from a database, so that memory behaves as the real stores do.
        const stored: SnapshotRow = {
          ...jsonRoundTrip(row),
          snapshotId: nextId++,
          recordedAt: now,
          openTradeCount: Object.keys(state.positions.activeTrades).length
        }
        rows.push(stored)
        appendMemoryLedger(ledger, row.sessionId, append, { snapshotSequence: row.sequence, fencingToken: row.fencingToken, recordedAt: now })
        return { _tag: "inserted", snapshotId: stored.snapshotId, recordedAt: now } as const
      }),
    selectRecent: (sessionId, options) =>
      Effect.sync(() =>
        ofSession(sessionId)
          .filter((row) => options.beforeSequence === undefined || row.sequence < options.beforeSequence)
          .slice(0, options.limit)
          .map(jsonRoundTrip)
      ),
    selectNewestOfEach: () =>
      Effect.sync(() => {
        const newest = new Map<string, SnapshotRow>()
        for (const row of rows) {
          const seen = newest.get(row.sessionId)
          if (seen === undefined || row.sequence > seen.sequence) newest.set(row.sessionId, row)
        }
        return [...newest.values()].sort((a, b) => b.recordedAt - a.recordedAt || b.snapshotId - a.snapshotId)
      }),
    selectOlderCeiling: (sessionId, limit) =>
      Effect.sync(() => {
        const [newest, ...older] = ofSession(sessionId)
        const read = older.slice(0, limit)
        return {
          newestSequence: newest?.sequence ?? null,
          loopCount: read.length === 0 ? null : Math.max(...read.map((row) => row.loopCount)),
          fencingToken: read.length === 0 ? null : Math.max(...read.map((row) => row.fencingToken)),
          unsealed: read.filter((row) => typeof row.headerChecksum !== "string").length
        }
      }),
    selectListing: (sessionId, limit) => Effect.sync(() => ofSession(sessionId).slice(0, limit)),
    reseal: (snapshotId, previousSeal, row) =>
      Effect.sync(() => {
        const i = rows.findIndex((stored) => stored.snapshotId === snapshotId)
        if (i < 0 || (rows[i]!.seal ?? null) !== previousSeal) return false
        const { custom, metrics, positions, riskGuard, seal, session } = jsonRoundTrip(row)
        rows[i] = { ...rows[i]!, session, positions, metrics, riskGuard, custom, seal }
        return true
      }),
    selectHighestSequence: (sessionId) =>
      Effect.sync(() => ofSession(sessionId).find((row) => row.sequence < Number.MAX_SAFE_INTEGER)?.sequence ?? 0),
    cut: (options) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          const protectedIds = new Set(options.protectedIds)
          const cutoff = now - options.olderThanDays * dayMs
          // The one choice, as PostgreSQL's snapshots_past_retention makes it (migration 0005).
          const doomed = [...new Set(rows.map((row) => row.sessionId))].sort().flatMap((session) =>
            ofSession(session).filter((row, rank) => rank >= options.keepLatest && row.recordedAt <= cutoff && !protectedIds.has(row.snapshotId))
          )
          const cuts = historyCuts(doomed)
          if (options.dryRun) return cuts
          const gone = new Set(doomed.map((row) => row.snapshotId))
          for (let i = rows.length - 1; i >= 0; i--) if (gone.has(rows[i]!.snapshotId)) rows.splice(i, 1)
          for (const cut of cuts) appendMemoryEvent(events, cut.sessionId, { ...historyCutEvent(cut, options), recordedAt: now })
          return cuts
        }))
  }
}

/** A durable tier kept in memory (checking the fencing tokens of `leases`; its cuts recorded in `events`; its ledger in `ledger`). */
export const makeMemory = (
  env: Env,
  rows: Array<SnapshotRow> = [],
  leases: MemoryLeases = new Map(),
  events: MemoryEvents = new Map(),
  ledger: MemoryLedger = [],
  protection?: StateProtection
): SnapshotStore["Service"] => fromRows(env, memoryRows(rows, leases, events, ledger), protection)

/** The memory backing for `env` (checking the fencing tokens of `leases`, when given; appending to `ledger`; sealing under `protection`). */
export const layerMemory = (
  env: Env,
  leases?: MemoryLeases,
  events?: MemoryEvents,
  ledger?: MemoryLedger,
  protection?: StateProtection
): Layer.Layer<SnapshotStore> => Layer.sync(SnapshotStore, () => makeMemory(env, [], leases, events, ledger, protection))
