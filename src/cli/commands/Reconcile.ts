/**
 * `reconcile --session ID --venue-url URL [--apply]`: a live session's state
 * held against its venues. Without `--apply` it changes nothing and shows the
 * plan: each intent in flight and what its venue says of it, the orphans to
 * cancel, the positions that differ. With `--apply` it carries the plan out
 * as a runner would on resume, under the session's lease (exit 5 while a
 * runner holds it): the intents take what the venues say, orphans are
 * cancelled, the state is persisted, and the session is stopped again.
 */
import { Console, Duration, Effect, Layer } from "effect"
import { Command, Flag } from "effect/cli"
import { persistenceConfig } from "../../config.ts"
import type { EngineState } from "../../domain/EngineState.ts"
import type { Venue as VenueName } from "../../domain/Ids.ts"
import * as Reconcile from "../../orders/Reconcile.ts"
import * as Restore from "../../recovery/Restore.ts"
import { describeReport } from "../../recovery/RestoreReport.ts"
import { campaignOf } from "../../runner/TradingPlan.ts"
import * as LiveRunner from "../../runner/LiveRunner.ts"
import * as Session from "../../session/Session.ts"
import * as Persistence from "../../store/Persistence.ts"
import * as HttpVenue from "../../venue/HttpVenue.ts"
import { Venue } from "../../venue/Venue.ts"
import { ExitCode } from "../ExitCode.ts"
import { withDefaultDescribed } from "../Help.ts"
import { jsonFlag, sessionFlag } from "../Output.ts"
import { venueUrlOf } from "../RunFlags.ts"

/** The venues a live state trades: its baseline's, else the first two the service offers. */
const venuesOf = (state: EngineState, offered: ReadonlyArray<VenueName>): readonly [VenueName, VenueName] => {
  const recorded = Object.keys(state.positions.venueBaseline ?? {}).sort() as Array<VenueName>
  const venues = recorded.length >= 2 ? recorded : [...offered]
  return [venues[0]!, venues[1]!]
}

/** A paper session has no venues to reconcile with: refused (exit 2). */
const checkLive = (state: EngineState) =>
  state.session.mode === "live"
    ? Effect.void
    : ExitCode.fail(ExitCode.badArguments, `${state.session.sessionId} is a paper session: it has no venues to reconcile with (--venue-url)`)

/** The reconciliation plan of live `state` against the venues at `url` (nothing changed). */
export const planAt = (state: EngineState, { shown, url }: { readonly url: string; readonly shown: string }) =>
  Effect.gen(function*() {
    yield* checkLive(state)
    const venue = yield* Venue
    const campaign = yield* campaignOf(state.session.sessionId, state.session.campaignId)
    return yield* Reconcile.plan(state, venuesOf(state, venue.venues), campaign.symbols, Date.now())
  }).pipe(
    Effect.provide(HttpVenue.layer({ url })),
    Effect.catchTag("VenueError", (error) => ExitCode.fail(ExitCode.storeUnreachable, `the venues at ${shown}: ${error.message}`))
  )

/** The plan, a line per finding (or that the state and the venues agree). */
export const describeReconciliation = (found: Reconcile.ReconcilePlan): ReadonlyArray<string> => {
  const lines = Reconcile.describePlan(found)
  // Each intent in flight the venue agrees with, too: what it is at its venue.
  const agreeing = found.intents.filter((i) => i.action === "none" && i.atVenue !== null).map((i) =>
    `  ${i.clientOrderId} on ${i.venue}: ${i.atVenue!.status} (${Reconcile.quantityText(i.atVenue!.filledQuantity)} of ${Reconcile.quantityText(i.atVenue!.quantity)} filled), as the state says`
  )
  return [
    lines.length === 0 ? "reconciliation: the state and the venues agree" : "reconciliation:",
    ...lines.map((line) => `  ${line}`),
    ...agreeing
  ]
}

/** `reconcile --session ID --venue-url URL [--apply] [--json]`. */
export const reconcile = Command.make(
  "reconcile",
  {
    session: sessionFlag("The live session to reconcile (sess_... or a D70 session_YYYYMMDD_HHMMSS)"),
    venueUrl: Flag.String("venue-url").pipe(Flag.withMetavar("URL"), Flag.withDescription("Where its venues answer (the venue simulator's URL)")),
    apply: Flag.Boolean("apply").pipe(
      Flag.withDescription("Carry the plan out under the session's lease (intents updated, orphans cancelled), then stop the session again"),
      Flag.withDefault(false)
    ),
    waitLease: Flag.Int("wait-lease").pipe(
      withDefaultDescribed("With --apply: seconds to wait for a dead runner's lease to expire before giving up (exit 5)", 0)
    ),
    json: jsonFlag
  },
  Effect.fn(function*({ apply, json, session, venueUrl: venueUrlText, waitLease }) {
    if (waitLease < 0) return yield* ExitCode.fail(ExitCode.badArguments, "--wait-lease must be at least 0")
    const venueUrl = yield* venueUrlOf(venueUrlText)
    const report = yield* Restore.run(session).pipe(Effect.provide(Persistence.layerReadOnly))
    if (report.outcome !== "restored") return yield* ExitCode.fail(report.outcome === "fresh" ? ExitCode.badArguments : ExitCode.invalidState, describeReport(report))
    let found: Reconcile.ReconcilePlan = yield* planAt(report.state, venueUrl)
    if (apply) {
      const config = yield* persistenceConfig
      yield* Effect.gen(function*() {
        const venue = yield* Venue
        const campaign = yield* campaignOf(session, report.state.session.campaignId)
        const active = yield* Session.initialize({
          mode: "RESUME_FROM_STATE",
          sessionId: session,
          newState: () => report.state,
          policy: { snapshotInterval: config.snapshotInterval },
          lease: { ttl: config.leaseTtl, wait: Duration.seconds(waitLease) }
        })
        // A run to the loop it is at: the start-up reconciliation, persisted, and nothing traded.
        // What is shown is the plan carried out: made under the lease, from the state as the lease found it.
        yield* LiveRunner.run(active, active.initialState, {
          settings: { campaign, venues: venuesOf(active.initialState, venue.venues), slippageBps: 30, legDeadlineMs: 5_000, loopMs: 0 },
          targetLoops: active.initialState.session.loopCount,
          onReconciled: (plan) => Effect.sync(() => (found = plan))
        })
      }).pipe(
        Effect.scoped,
        Effect.provide(Layer.merge(Persistence.layer, HttpVenue.layer({ url: venueUrl.url }))),
        Effect.catchTag("VenueError", (error) => ExitCode.fail(ExitCode.storeUnreachable, `the venues at ${venueUrl.shown}: ${error.message}`))
      )
    }
    yield* Console.log(json ? JSON.stringify({ sessionId: session, applied: apply, ...found }) : [...describeReconciliation(found), ...(apply ? ["applied"] : [])].join("\n"))
    if (!found.agrees) yield* ExitCode.set(ExitCode.invalidState)
  })
).pipe(Command.withDescription("Hold a live session's state against its venues: the plan (what the venues say, orphans, differences); --apply carries it out"))

