/**
 * SessionEvents: what happened to a session besides its snapshots, oldest
 * first: each resume (from where, after a stop or a crash, what it skipped)
 * and each retention cut of its history. Kept beside the snapshots in the
 * durable tier (`session_events`, migration 0004), untouched by retention, so
 * that a report can say what a snapshot listing alone cannot.
 *
 * Backings: PostgreSQL (`PgSessionEvents`) and memory (`layerMemory`, whose
 * map a memory snapshot store shares, to record its cuts in it).
 *
 * @module
 */
import { Clock, Context, Effect, Layer } from "effect"
import type { Env, SessionId } from "../domain/Ids.ts"
import { appendMemoryEvent } from "./internal/MemoryRows.ts"
import type { StoreError, StoreKind } from "./StoreError.ts"

/** Something that happened to a session: a resume (and from where), or retention cutting its history or its ledger. */
export interface SessionEvent {
  readonly kind: "resumed" | "history_cut" | "ledger_cut" | "ledger_began"
  readonly fencingToken: number
  readonly loopCount: number
  /**
   * Free-form detail: for a resume, its source, snapshot id and sequence, what the session had come
   * to (`after`: `stop` or `crash`), and what it skipped; for a cut (fencing token 0, loop count of
   * the newest snapshot removed), `removed`, `oldestSequence`, `newestSequence`, and the
   * `olderThanDays` and `keepLatest` it ran with; for a cut of the trade ledger (token and loop 0),
   * `removed`, `oldestClose`, `newestClose` and `olderThanDays`; for the start of the ledger of a
   * session older than it (or one imported), `afterClose` (the closes it had made before, which the
   * ledger lacks) and `pnlBeforeUsd` (their realized PnL).
   */
  readonly detail: Record<string, unknown>
}

/** A recorded event, with when the store recorded it. */
export interface RecordedEvent extends SessionEvent {
  readonly recordedAt: number
}

/** The session events of one env. */
export class SessionEvents extends Context.Service<SessionEvents, {
  readonly env: Env
  readonly kind: StoreKind
  /** Records an event of the session (kept beside its snapshots; retention does not touch it). */
  readonly record: (sessionId: SessionId, event: SessionEvent) => Effect.Effect<void, StoreError>
  /** The events of the session, oldest first. */
  readonly list: (sessionId: SessionId) => Effect.Effect<ReadonlyArray<RecordedEvent>, StoreError>
}>()("arbitrage-state/store/SessionEvents") {}

/** What the memory backing keeps per session: shared with the memory snapshot store, which records its cuts in it. */
export type MemoryEvents = Map<string, Array<RecordedEvent>>

/** Events kept in this process's memory. */
export const makeMemory = (env: Env, events: MemoryEvents = new Map()): SessionEvents["Service"] =>
  SessionEvents.of({
    env,
    kind: "memory",
    record: (sessionId, event) =>
      Effect.flatMap(Clock.currentTimeMillis, (recordedAt) => Effect.sync(() => appendMemoryEvent(events, sessionId, { ...event, recordedAt }))),
    list: (sessionId) => Effect.sync(() => [...(events.get(sessionId) ?? [])])
  })

/** The memory backing for `env` (over `events`, when given). */
export const layerMemory = (env: Env, events?: MemoryEvents): Layer.Layer<SessionEvents> =>
  Layer.sync(SessionEvents, () => makeMemory(env, events))
