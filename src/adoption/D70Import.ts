/**
 * D70Import: takes over the sessions of a running D70 deployment.
 *
 * D70 keeps each session as four JSON strings in Redis, under
 * `arbitrage:state:{env}:{session_id}:session|positions|metrics|risk_guard`
 * (plain keys: this project's own keys put the session id in a hash tag,
 * `{…}`, so the two never meet). An import finds them by that pattern, reads
 * them (GET only: the D70 keys are never changed or removed), decodes them as
 * version 0 of each section (`D70State`) through the same upgrades as every
 * stored version, and writes each valid session as the first durable
 * snapshot of the same session id here, under the session's lease, with a
 * `ledger_began` event for the closes D70 made (the trade ledger here holds
 * none of them). A session that already exists here is never written over.
 *
 * Each session's outcome says what was upgraded, what was derived (what D70
 * does not hold and had to be worked out, and how), and, when it was
 * skipped, why.
 *
 * @module
 */
import { Clock, Effect, Option, Result, Schema } from "effect"
import { checksumOf } from "../domain/Checksum.ts"
import { legVenues } from "../domain/ArbitrageTrade.ts"
import { collidingIds, completeD70Sections, idOfD70, isD70Section, isJsonObject } from "../domain/D70State.ts"
import type { EngineState } from "../domain/EngineState.ts"
import { SessionId } from "../domain/Ids.ts"
import { decodeEngineState, encodeEngineState, parseJson, sectionCodecs } from "../domain/StateCodec.ts"
import { campaignNamed, campaigns } from "../runner/Campaign.ts"
import { hold } from "../session/SessionStart.ts"
import { LiveStateStore } from "../store/LiveStateStore.ts"
import type { RedisClient } from "../store/RedisClient.ts"
import { SessionEvents } from "../store/SessionEvents.ts"
import { SessionLease } from "../store/SessionLease.ts"
import { SnapshotStore } from "../store/SnapshotStore.ts"
import { StoreError } from "../store/StoreError.ts"

/** The four D70 keys of a session, in the order of the sections they hold. */
const d70Parts = [["session", "session"], ["positions", "positions"], ["metrics", "metrics"], ["riskGuard", "risk_guard"]] as const

/**
 * An env name of D70's, as its keys hold it: letters (either case), digits, `_`, `.` or `-`, at most
 * 64 (none of Redis's pattern characters, so that it matches only itself in a SCAN).
 */
export const isD70Env = (text: string): boolean => /^[A-Za-z0-9_.-]{1,64}$/.test(text)

/** The D70 key of one section of a session. */
export const d70Key = (env: string, sessionId: string, part: string): string => `arbitrage:state:${env}:${sessionId}:${part}`

/** The outcome of one D70 session. */
export interface D70SessionImport {
  readonly sessionId: string
  /**
   * `imported` (written as snapshot #1 here), `would-import` (a dry run), `already-imported` (this
   * session's state is here already, unchanged), `skipped` (see `reason`).
   */
  readonly outcome: "imported" | "would-import" | "already-imported" | "skipped"
  readonly reason?: string
  /** What was read in an older form and brought to this project's. */
  readonly upgraded: ReadonlyArray<string>
  /** What D70 does not hold that was worked out, and how. */
  readonly derived: ReadonlyArray<string>
  readonly loopCount?: number
  readonly openTrades?: number
  /** The snapshot written (or found) here. */
  readonly snapshot?: { readonly snapshotId: number; readonly sequence: number }
  /**
   * The CLI arguments of its first resume here (after the CLI's own invocation): the market D70 did
   * not record, `<n>` where the operator chooses (the loops to run to, the seed of the paper market).
   */
  readonly resume?: ReadonlyArray<string>
}

/** How to import. */
export interface D70ImportOptions {
  /** The D70 Redis. */
  readonly redis: RedisClient["Service"]
  /** D70's env (the `{env}` of its keys; see `isD70Env`). */
  readonly env: string
  /** Only this session (else every one found). */
  readonly sessionId?: string
  /** Read and decode, write nothing. */
  readonly dryRun: boolean
  /** The campaign preset the sessions continue under here, when theirs is not one (D70's `S1`…`S5` are not). */
  readonly campaign?: string
  /**
   * Import a session whose metrics count more open trades than its positions hold (D70 did not keep
   * open trades at first), without them; else it is skipped.
   */
  readonly acceptLostTrades: boolean
  /** The lease holder name written under. */
  readonly holder: string
}

/** A D70 session decoded: its state here, what it took, and how its first resume here goes. */
interface Decoded {
  readonly state: EngineState
  readonly upgraded: ReadonlyArray<string>
  readonly derived: ReadonlyArray<string>
  readonly resume: ReadonlyArray<string>
}

/** A session id of D70's keys (`arbitrage:state:{env}:<id>:session`), or `undefined` for a key that is not one (one of this project's, with `{…}`). */
const sessionIdOfD70Key = (env: string, key: string): string | undefined => {
  const prefix = `arbitrage:state:${env}:`
  const suffix = ":session"
  if (!key.startsWith(prefix) || !key.endsWith(suffix)) return undefined
  const id = key.slice(prefix.length, -suffix.length)
  return id === "" || /[{}:]/.test(id) ? undefined : id
}

/** The D70 sessions on the Redis, by the key pattern of their session sections (SCAN, every master). */
export const findSessions = (redis: RedisClient["Service"], env: string) =>
  Effect.map(
    redis.use("SCAN", async () => {
      const found: Array<string> = []
      for (const node of redis.masters()) {
        let cursor = "0"
        do {
          const [next, batch] = await node.scan(cursor, "MATCH", d70Key(env, "*", "session"), "COUNT", 1000)
          found.push(...batch)
          cursor = next
        } while (cursor !== "0")
      }
      return found
    }),
    (keys) => [...new Set(keys.flatMap((key) => sessionIdOfD70Key(env, key) ?? []))].sort()
  )

/** The four sections' texts as D70 stored them (`null`: no such key); a key that is not a string is named. */
const readTexts = (redis: RedisClient["Service"], env: string, sessionId: string) =>
  Effect.gen(function*() {
    const keys = d70Parts.map(([, part]) => d70Key(env, sessionId, part))
    const types = yield* redis.use("TYPE", (client) => Promise.all(keys.map((key) => client.type(key))))
    const wrong = keys.flatMap((key, i) => (types[i] === "string" || types[i] === "none" ? [] : [`${key} holds a Redis ${types[i]}, not a string`]))
    if (wrong.length > 0) return Result.fail(wrong.join("; "))
    const texts = yield* redis.use("GET", (client) => Promise.all(keys.map((key) => client.get(key))))
    return Result.succeed(texts)
  })

const isSessionId = Schema.is(SessionId)

/** A count at `key`: a non-negative safe integer, else `undefined` (what the Schemas then refuse, naming it). */
const countAt = (value: Record<string, unknown>, key: string): number | undefined => {
  const found = value[key]
  return typeof found === "number" && Number.isSafeInteger(found) && found >= 0 ? found : undefined
}

/** The string at `key` of each object of `values` (the symbols of the trades, their orders' ids). */
const stringsAt = (values: ReadonlyArray<unknown>, key: string): Array<string> =>
  values.flatMap((value) => (isJsonObject(value) && typeof value[key] === "string" ? [value[key]] : []))

/** The presets whose symbols take in every one of `symbols`. */
const presetsTrading = (symbols: ReadonlyArray<string>): Array<string> =>
  Object.values(campaigns).filter((preset) => symbols.every((symbol) => preset.symbols.some((traded) => traded === symbol))).map((preset) => preset.id)

/**
 * Decodes a D70 session's four texts into this project's state, or says why it cannot: missing or
 * malformed sections, a campaign that is not a preset here (unless `campaign` names one), open
 * trades its metrics count but its positions do not hold (unless `acceptLostTrades`), or anything
 * the Schemas and the invariants across sections refuse.
 */
export const decodeD70Session = (
  sessionId: string,
  texts: ReadonlyArray<string | null>,
  options: Pick<D70ImportOptions, "campaign" | "acceptLostTrades">
): Result.Result<Decoded, string> => {
  const missing = d70Parts.filter((_, i) => texts[i] === null).map(([, part]) => part)
  if (missing.length === d70Parts.length) return Result.fail("no D70 state under its keys")
  if (missing.length > 0) return Result.fail(`a partial session: it lacks its ${missing.join(", ")} key${missing.length > 1 ? "s" : ""}`)
  const json: Record<string, Record<string, unknown>> = {}
  for (const [i, [name, part]] of d70Parts.entries()) {
    const parsed = parseJson(name, texts[i]!)
    if (Result.isFailure(parsed)) return Result.fail(`its ${part} key is not valid JSON: ${parsed.failure.message}`)
    if (!isD70Section(parsed.success)) return Result.fail(`its ${part} key is not in the D70 form (a JSON object without a version)`)
    json[name] = { ...parsed.success }
  }
  const session = json.session!
  const metrics = json.metrics!
  const positions = json.positions!
  if (session.session_id !== sessionId) {
    return Result.fail(`its session key names session ${JSON.stringify(session.session_id)}, not ${sessionId}`)
  }
  const upgraded: Array<string> = []
  const derived: Array<string> = []
  // What an option would get past: every one is said at once, so that one run tells all it takes.
  const refusals: Array<string> = []

  const trades = isJsonObject(positions.active_orders) ? positions.active_orders : undefined
  const tradeValues = Object.values(trades ?? {})
  const legs = tradeValues.flatMap((trade) => (isJsonObject(trade) ? [trade.order_a, trade.order_b] : []))
  const colliding = [
    ...collidingIds("trd_", Object.keys(trades ?? {})).map((group) => `its trade ids ${group} become one trade id here: importing it would lose a trade`),
    ...collidingIds("ord_", stringsAt(legs, "order_id")).map((group) => `its order ids ${group} become one order id here: importing it would mistake one leg for another`)
  ]
  if (colliding.length > 0) return Result.fail(colliding.join("; "))

  // The campaign it continues under here: a preset, trading every symbol it has open trades on.
  const symbols = [...new Set(stringsAt(tradeValues, "symbol"))].sort()
  const fitting = presetsTrading(symbols)
  const fits = symbols.length === 0
    ? "give --campaign <preset> to continue it under one"
    : fitting.length === 0
    ? `no preset trades all of ${symbols.join(", ")}, so it cannot continue here`
    : `give --campaign ${fitting.length === 1 ? fitting[0] : `<preset>, one of ${fitting.join(", ")}`} (trading ${symbols.join(", ")})`
  const theirs = session.paper_campaign_id
  const chosen = options.campaign ?? theirs
  const campaign = typeof chosen === "string" ? campaignNamed(chosen) : undefined
  if (campaign === undefined) {
    refusals.push(
      `${options.campaign === undefined ? "its campaign" : "the campaign given"} ${JSON.stringify(chosen)} is not a preset here (${Object.keys(campaigns).join(", ")}): ${fits}`
    )
  } else {
    const strangers = symbols.filter((symbol) => !campaign.symbols.some((traded) => traded === symbol))
    if (strangers.length > 0) {
      refusals.push(`it has open trades on ${strangers.join(", ")}, which campaign ${campaign.id} does not trade (${campaign.symbols.join(", ")}): ${fits}`)
    } else if (options.campaign !== undefined && options.campaign !== theirs) {
      session.paper_campaign_id = options.campaign
      upgraded.push(`paper_campaign_id ${JSON.stringify(theirs)} -> campaign ${options.campaign} (--campaign)`)
    }
  }

  // Open trades its metrics count but its positions do not hold: D70 did not keep them.
  const opened = countAt(metrics, "total_trades_opened")
  const closed = countAt(metrics, "total_trades_closed")
  const held = trades === undefined ? undefined : Object.keys(trades).length
  if (opened !== undefined && closed !== undefined && held !== undefined && opened - closed > held) {
    const lost = opened - closed - held
    if (!options.acceptLostTrades) {
      refusals.push(
        `its metrics count ${opened - closed} open trade${opened - closed === 1 ? "" : "s"} (${opened} opened, ${closed} closed) but its positions hold ${held}: ` +
          `D70 did not keep ${lost} of them (its trades did not serialise); --accept-lost-trades imports the session without them`
      )
    } else {
      metrics.total_trades_opened = closed + held
      derived.push(
        `total_trades_opened ${opened} -> ${closed + held}: ${lost} open trade${lost === 1 ? "" : "s"} D70 counted but did not keep ` +
          `(--accept-lost-trades); check the venues for ${lost === 1 ? "it" : "them"}`
      )
    }
  }
  if (refusals.length > 0 || campaign === undefined) return Result.fail(refusals.join("; "))

  const completed = completeD70Sections({ session, positions, metrics, riskGuard: json.riskGuard })
  derived.push(...completed.derived)
  const decoded = decodeEngineState(completed.sections)
  if (Result.isFailure(decoded)) return Result.fail(decoded.failure.message)
  const state = decoded.success

  for (const [name, part] of d70Parts) upgraded.push(`${part}: the D70 form (version 0) -> version ${sectionCodecs[name].currentVersion}`)
  upgraded.push(`times in float seconds -> integer milliseconds (start_time ${String(session.start_time)} -> ${state.session.startTime})`)
  const renamed = Object.keys(trades ?? {}).filter((id) => idOfD70("trd_", id) !== id)
  if (renamed.length > 0) upgraded.push(`trade ids kept under trd_d70_: ${renamed.map((id) => `${id} -> ${idOfD70("trd_", id)}`).join(", ")}`)
  derived.push(
    `initial capital ${state.metrics.initialCapitalUsd} = portfolio_equity ${state.metrics.portfolioEquityUsd} - total_pnl_usd ${state.metrics.totalPnlUsd}`
  )
  const open = Object.values(state.positions.activeTrades)
  const market: Array<string> = []
  if (open.length > 0 && state.session.loopCount > 0) {
    const fits = Math.max(1, Math.ceil((Math.max(...open.map((trade) => trade.openedAt)) - state.session.startTime) / state.session.loopCount))
    derived.push(`the paper clock is start + loop x tick and D70's was the wall clock: a resume needs --tick-ms ${fits} or more to keep its open trades behind it`)
    market.push("--tick-ms", String(fits))
  }
  const venues = legVenues(open)
  if (venues.length > 0) market.push("--venues", venues.join(","))
  if (open.length > 0) {
    derived.push("the paper market a resume starts (--seed) does not go on from D70's prices: its open trades are priced by it from the first loop, and may close at once")
  }
  const resume = ["run", "--mode", "resume", "--session", sessionId, "--loops", "<n>", "--seed", "<n>", ...market]
  return Result.succeed({ state, upgraded, derived, resume })
}

/** The digest of a state's stored form: two states are the same state when theirs are equal. */
const digestOf = (state: EngineState): string | undefined => Result.match(encodeEngineState(state), { onFailure: () => undefined, onSuccess: checksumOf })

/** Imports the D70 sessions of `options.env` (or the one named) into the stores; see the module header. */
export const importSessions = (options: D70ImportOptions) =>
  Effect.gen(function*() {
    const snapshots = yield* SnapshotStore
    const liveStore = yield* LiveStateStore
    const leases = yield* SessionLease
    const events = yield* SessionEvents
    const found = yield* findSessions(options.redis, options.env)
    const ids = options.sessionId === undefined ? found : found.filter((id) => id === options.sessionId)
    const outcomes: Array<D70SessionImport> = []
    for (const id of ids) {
      const skipped = (reason: string, decoded?: Decoded): D70SessionImport => ({
        sessionId: id,
        outcome: "skipped",
        reason,
        upgraded: decoded?.upgraded ?? [],
        derived: decoded?.derived ?? []
      })
      if (!isSessionId(id)) {
        outcomes.push(skipped("its id is neither this project's form (sess_...) nor D70's (session_YYYYMMDD_HHMMSS)"))
        continue
      }
      const texts = yield* readTexts(options.redis, options.env, id)
      const decoded = Result.flatMap(texts, (read) => decodeD70Session(id, read, options))
      if (Result.isFailure(decoded)) {
        outcomes.push(skipped(decoded.failure))
        continue
      }
      const { derived, resume, state, upgraded } = decoded.success
      // What an outcome says of the session (never the state itself).
      const placed = { upgraded, derived, resume, loopCount: state.session.loopCount, openTrades: Object.keys(state.positions.activeTrades).length }
      // A session here already: the same state imported before, or another one (never written over).
      const newest = yield* snapshots.listSnapshots(id, 1)
      const existing = newest[0]
      if (existing !== undefined) {
        const stored = yield* Effect.option(snapshots.loadLatest(id))
        const same = Option.isSome(stored) && Option.isSome(stored.value) && digestOf(stored.value.value.snapshot.state) === digestOf(state)
        outcomes.push(same
          ? { sessionId: id, outcome: "already-imported", ...placed, snapshot: { snapshotId: existing.snapshotId, sequence: existing.sequence } }
          : skipped(`it exists here already (snapshot #${existing.sequence}, loop ${existing.loopCount}): an import never writes over a session`, decoded.success))
        continue
      }
      // A lease that expired (a restore's, or an import's that failed after taking it) leaves the
      // session free: only a live one (by the store's clock) stands in the way.
      const lease = (yield* leases.listLive()).find((live) => live.sessionId === id)
      if (lease !== undefined) {
        const { fencingToken, holder } = lease
        outcomes.push(skipped(
          `its lease here is held (by ${holder}, token ${fencingToken}, no snapshot yet): another import or a runner has it, and an import never writes over a session`,
          decoded.success
        ))
        continue
      }
      if (Option.isSome(yield* liveStore.read(id))) {
        outcomes.push(skipped("it exists here already (a live state, no snapshot): an import never writes over a session", decoded.success))
        continue
      }
      const firstSnapshot = (fencingToken: number) =>
        Effect.map(Clock.currentTimeMillis, (now) => ({ sessionId: SessionId.make(id), snapshotType: "manual" as const, sequence: 1, fencingToken, createdAt: now }))
      if (options.dryRun) {
        // What the stores would refuse to write is said by the dry run too.
        const refused = yield* Effect.flip(snapshots.checkWritable(yield* firstSnapshot(1), state)).pipe(Effect.option)
        outcomes.push(Option.isSome(refused)
          ? skipped(`not written: ${refused.value.message}`, decoded.success)
          : { sessionId: id, outcome: "would-import", ...placed })
        continue
      }
      const written = yield* Effect.scoped(Effect.gen(function*() {
        const lease = yield* hold(SessionId.make(id), { holder: options.holder, ttl: "30 seconds", wait: 0 })
        const summary = yield* snapshots.save(yield* firstSnapshot(lease.fencingToken), state)
        // D70's closes were made before the session had a ledger here: said once, so that an audit
        // tells them from lost ones (as for a session older than the ledger).
        if (state.metrics.tradesClosed > 0 || state.metrics.totalPnlUsd !== 0) {
          yield* events.record(SessionId.make(id), {
            kind: "ledger_began",
            fencingToken: lease.fencingToken,
            loopCount: state.session.loopCount,
            detail: { afterClose: state.metrics.tradesClosed, pnlBeforeUsd: state.metrics.totalPnlUsd, importedFrom: "d70" }
          })
        }
        return summary
      })).pipe(
        Effect.map((summary) => ({ snapshotId: summary.snapshotId, sequence: summary.sequence })),
        Effect.catchTag("LeaseError", (error) => Effect.succeed(error.message)),
        // What the stores refuse to write (a section over the size a restore reads) skips this session alone.
        Effect.catchTag("StateCodecError", (error) => Effect.succeed(`not written: ${error.message}`)),
        Effect.catchIf(
          (error): error is StoreError => error instanceof StoreError && error.reason._tag === "WriteConflict",
          (error) => Effect.succeed(`it was written here meanwhile: ${error.message}`)
        )
      )
      outcomes.push(typeof written === "string"
        ? skipped(written, decoded.success)
        : { sessionId: id, outcome: "imported", ...placed, snapshot: written })
    }
    return { found: found.length, sessions: outcomes }
  })
