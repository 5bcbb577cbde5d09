/**
 * Persist a section of your own with the session, and change its shape later.
 *
 * A runner declares its section once (`CustomSection.make`): the Schema of
 * every version it ever stored and how each older one upgrades. The section
 * is then stored with the session in both tiers, inside the snapshot's
 * checksum; a resume told of it (`sections`) verifies it and gives it back
 * upgraded. Here a fee schedule was first stored with one flat fee (v1, by
 * an older build of the runner), then with a maker and a taker fee (v2): the
 * session stored under v1 resumes with v2, and a version the code does not
 * know, or a damaged value, is refused.
 *
 *   npm run example -- custom-section
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Exit, Option, Result, Schema, Scope } from "effect"
import { CustomSection, EngineState, Ids, Persistence, Session, VersionedSection } from "arbitrage-state"

const Bps = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))
const FeeScheduleV1 = Schema.Struct({ venue: Schema.String, feeBps: Bps })
const FeeSchedule = Schema.Struct({ venue: Schema.String, makerBps: Bps, takerBps: Bps })

const fees = CustomSection.make({
  name: "fees",
  schema: FeeSchedule,
  currentVersion: 2,
  // v1 had one fee for both sides: it becomes both.
  olderVersions: [VersionedSection.olderVersion(1, FeeScheduleV1, (v1) => ({ venue: v1.venue, makerBps: v1.feeBps, takerBps: v1.feeBps }))]
})

const newState = (sessionId: Ids.SessionId) =>
  EngineState.empty({ sessionId, startTime: Date.UTC(2026, 10, 27), campaignId: Ids.CampaignId.make("fees-demo"), initialCapitalUsd: 10_000 })

const show = (label: string, result: Result.Result<unknown, { readonly message: string }>) =>
  Console.log(`${label}: ${Result.isSuccess(result) ? JSON.stringify(result.success) : `refused (${result.failure.message})`}`)

const program = Effect.gen(function*() {
  // An older build of the runner stored its fees at version 1, then its process died.
  const scope = yield* Scope.make()
  const older = yield* Session.initialize({ mode: "CLEAN_RESET", newState, policy: { snapshotInterval: "5 minutes" } }).pipe(Scope.provide(scope))
  const initial = older.initialState
  yield* older.persist({ ...initial, session: { ...initial.session, loopCount: 1 }, custom: { fees: { version: 1, venue: "upbit", feeBps: 4 } } }, {
    tradesChanged: true
  })
  yield* Scope.close(scope, Exit.fail("killed"))

  // This build declares the section: the resume verifies it and gives it back at version 2.
  const session = yield* Session.initialize({
    mode: "RESUME_FROM_STATE",
    sessionId: older.sessionId,
    newState,
    policy: { snapshotInterval: "5 minutes" },
    sections: [fees]
  })
  yield* show("stored v1, resumed", Result.map(CustomSection.get(session.initialState, fees), Option.getOrNull))
  const changed = Result.getOrThrow(CustomSection.set(session.initialState, fees, { venue: "upbit", makerBps: 2, takerBps: 5 }))
  yield* session.persist({ ...changed, session: { ...changed.session, loopCount: 2 } }, { tradesChanged: true })
  yield* show("written now", Result.succeed(changed.custom?.["fees"]))
  yield* show("from the future", fees.codec.decode({ version: 3, venue: "upbit", rebateBps: 1 }))
  yield* show("damaged", CustomSection.set(changed, fees, { venue: "upbit", makerBps: -1, takerBps: 5 }))
}).pipe(Effect.scoped, Effect.provide(Persistence.layer))

program.pipe(NodeRuntime.runMain)
