/**
 * `resume-all`: resumes every interrupted session of the env at once, each
 * under its own lease, and runs each to `--loops`.
 *
 * Interrupted: the latest snapshot says `running` (or only live state
 * exists). A session whose lease another live runner holds is skipped and
 * reported; the others run concurrently and independently: one failing does
 * not stop the rest.
 */
import { Console, Duration, Effect, Option, Result } from "effect"
import { Command, Flag } from "effect/cli"
import { persistenceConfig } from "../../config.ts"
import type { EngineState } from "../../domain/EngineState.ts"
import type { SessionId } from "../../domain/Ids.ts"
import { encodeEngineState } from "../../domain/StateCodec.ts"
import { newSessionState, simulatedStart } from "../../runner/ArbitrageStrategy.ts"
import { campaigns } from "../../runner/Campaign.ts"
import { planFor, withRecordedMarket } from "../../runner/TradingPlan.ts"
import * as Runner from "../../runner/Runner.ts"
import * as Session from "../../session/Session.ts"
import * as Persistence from "../../store/Persistence.ts"
import { ExitCode } from "../ExitCode.ts"
import { withDefaultDescribed } from "../Help.ts"
import { jsonFlag, scanBudgetFlag, scanBudgetOf } from "../Output.ts"
import { checkLoopsAndTick } from "../RunFlags.ts"
import { leaseWaitLine } from "../RunProgress.ts"
import { reportStop } from "../SessionStop.ts"

/**
 * `resume-all --loops N --seed S`: every interrupted session of the env, resumed at once. Each failed
 * session's line carries the exit code `run` would have given it; the command exits with the code of
 * the first failed session in the order listed (0 when none failed).
 */
export const resumeAll = Command.make(
  "resume-all",
  {
    loops: Flag.Int("loops").pipe(Flag.withDescription("Run each session until its loop count reaches this")),
    seed: Flag.Int("seed").pipe(
      Flag.withDescription("Seed of the market feed, for sessions that did not record theirs"),
      Flag.optional
    ),
    tickMs: Flag.Int("tick-ms").pipe(
      withDefaultDescribed("Simulated milliseconds between loops, for sessions that did not record theirs", 1000)
    ),
    pace: Flag.Boolean("pace").pipe(
      Flag.withDescription("Also wait each session's tick in real time between loops"),
      Flag.withDefault(false)
    ),
    waitLease: Flag.Int("wait-lease").pipe(
      withDefaultDescribed("Seconds to wait for dead runners' leases to expire; a session still held after it is reported (exit 5)", 0)
    ),
    scanBudgetMb: scanBudgetFlag,
    json: jsonFlag
  },
  Effect.fn(function*(args) {
    yield* checkLoopsAndTick(args.loops, args.tickMs)
    const config = yield* persistenceConfig
    const scanBudget = yield* scanBudgetOf(args.scanBudgetMb)
    /** What a restored session trades (see `TradingPlan`): its own market, or --seed for one that did not record it. */
    const plan = (state: EngineState) =>
      planFor(state, false, {
        // --seed and --tick-ms only stand in for a market a session did not record; they contradict none.
        ...(state.session.market === undefined ? { seed: Option.getOrUndefined(args.seed), tickMs: args.tickMs } : {}),
        targetLoops: args.loops
      })

    /** The state each session stopped at, as its stop was recorded (stopped), or not (as its runner left it). */
    const stoppedAt = new Map<SessionId, EngineState>()

    /** One interrupted session, resumed under its own lease and run to --loops. */
    const resumeOne = Effect.fnUntraced(function*(sessionId: SessionId) {
      const session = yield* Session.initialize({
        mode: "RESUME_FROM_STATE",
        sessionId,
        newState: (id) => newSessionState({ sessionId: id, campaign: campaigns.balanced!, startTime: simulatedStart }),
        policy: { snapshotInterval: config.snapshotInterval, ...scanBudget },
        lease: {
          ttl: config.leaseTtl,
          wait: Duration.seconds(args.waitLease),
          onWait: (held) => Console.error(leaseWaitLine(held, args.waitLease))
        },
        admit: (state) => Effect.asVoid(plan(state)),
        onShutdown: (outcome) => Effect.andThen(reportStop(outcome), Effect.sync(() => void stoppedAt.set(sessionId, outcome.state)))
      })
      const { campaign, market } = yield* plan(session.initialState)
      return yield* Runner.run(session, withRecordedMarket(session.initialState, { campaign, market }), {
        campaign,
        market,
        targetLoops: args.loops,
        pace: args.pace
      })
    })

    const results = yield* Effect.gen(function*() {
      const sessions = yield* Session.interruptedSessions
      yield* Console.error(
        sessions.length === 0 ? "no interrupted session to resume" : `resuming ${sessions.length} interrupted session(s): ${sessions.join(", ")}`
      )
      return yield* Effect.forEach(sessions, (sessionId) =>
        resumeOne(sessionId).pipe(
          Effect.scoped,
          Effect.map((state) => ({ sessionId, ok: true as const, state: stoppedAt.get(sessionId) ?? state })),
          Effect.catch((error) => {
            // The code `run` would have exited with for this session alone.
            const { code, message } = ExitCode.classify(error)
            return Effect.succeed({ sessionId, ok: false as const, exitCode: code, error: message ?? "" })
          })
        ), { concurrency: "unbounded" })
    }).pipe(Effect.provide(Persistence.layer))

    for (const result of results) {
      if (args.json) {
        yield* Console.log(JSON.stringify(
          result.ok
            ? { sessionId: result.sessionId, ok: true, state: Result.getOrNull(encodeEngineState(result.state)) }
            : result
        ))
      } else {
        yield* Console.log(
          result.ok
            ? `${result.sessionId}: resumed and ran to loop ${result.state.session.loopCount}`
            : `${result.sessionId}: failed (exit ${result.exitCode}): ${result.error}`
        )
      }
    }
    const firstFailed = results.find((result) => !result.ok)
    if (firstFailed?.ok === false) yield* ExitCode.set(firstFailed.exitCode)
  })
).pipe(Command.withDescription(
  "Resume every interrupted session of the env at once, each under its own lease; exits with the code of the first failed session"
))
