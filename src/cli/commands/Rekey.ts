/**
 * `rekey --session ID [--trust-unsealed] [--json]`: seals a session's state
 * under the newest of `STATE_KEYS` (see `store/StateProtection.ts`): every
 * snapshot that is authentic under a configured key, and the live state.
 * With `STATE_ENCRYPTION=aes-256-gcm` their sections are encrypted under the
 * newest key too; without, stored in the clear. What does not verify is left
 * as it is and said (exit 3): a rekey never seals a forgery. With
 * `--trust-unsealed`, states that carry no seal at all (written before keys
 * were set) are sealed too, once their checksums hold: snapshots older than
 * the session's oldest sealed one, and the live state of a session none of
 * whose snapshots was sealed.
 *
 * It writes like a runner: under the session's lease (a running session is
 * refused, exit 5). Snapshot rows are rewritten in place, which the owner
 * role may do and the runner role may not (see migration 0009).
 */
import { Console, Effect, Option, Result } from "effect"
import { Command, Flag } from "effect/cli"
import { persistenceConfig } from "../../config.ts"
import * as Restore from "../../recovery/Restore.ts"
import { defaultHolder, hold } from "../../session/Session.ts"
import { LiveStateStore } from "../../store/LiveStateStore.ts"
import * as Persistence from "../../store/Persistence.ts"
import { type RekeyedSnapshot, SnapshotStore } from "../../store/SnapshotStore.ts"
import { newestKey } from "../../store/StateProtection.ts"
import { ExitCode } from "../ExitCode.ts"
import { jsonFlag, sessionFlag } from "../Output.ts"
import { plural } from "../../report/SessionReport.ts"

/** What a rekey did with the live state. */
interface RekeyedLive {
  readonly outcome: "resealed" | "refused" | "none"
  readonly reason?: string
}

/** How a rekey stores what it seals: encrypted under the newest key, or in the clear. */
const storedAs = (encrypt: boolean) => (encrypt ? "encrypted" : "in the clear")

const describeSnapshot = (keyId: string, encrypt: boolean) => (snapshot: RekeyedSnapshot): string =>
  snapshot.outcome === "resealed"
    ? `snapshot #${snapshot.sequence}: sealed under key ${keyId} (was: ${snapshot.previousKey === null ? "no seal" : `key ${snapshot.previousKey}`}), ${storedAs(encrypt)}`
    : snapshot.outcome === "current"
    ? `snapshot #${snapshot.sequence}: already sealed under key ${keyId}, ${storedAs(encrypt)}: unchanged`
    : `snapshot #${snapshot.sequence}: left as it is: ${snapshot.reason}`

const describeLive = (keyId: string, encrypt: boolean, live: RekeyedLive): string =>
  live.outcome === "resealed"
    ? `live state: written again, sealed under key ${keyId}, ${storedAs(encrypt)}`
    : live.outcome === "none"
    ? "live state: none"
    : `live state: left as it is: ${live.reason}`

/** The closing line: each outcome counted, and what to do about what was left. */
const closingLine = (session: string, keyId: string, snapshots: ReadonlyArray<RekeyedSnapshot>, live: RekeyedLive, trustUnsealed: boolean): string => {
  const count = (outcome: RekeyedSnapshot["outcome"]) => snapshots.filter((s) => s.outcome === outcome).length
  const left = count("refused")
  const unsealedLeft = snapshots.some((s) => s.outcome === "refused" && !s.sealedBefore) || (live.outcome === "refused" && live.reason?.includes("carries no seal") === true)
  const hint = unsealedLeft && !trustUnsealed
    ? "; states written before STATE_KEYS was set carry no seal: --trust-unsealed seals them, if you trust what the stores hold"
    : ""
  return `${session}: ${plural(snapshots.length, "snapshot")}: ${count("resealed")} sealed under key ${keyId}, ${count("current")} already were, ${left} left as ${
    left === 1 ? "it was" : "they were"
  }; live state ${live.outcome === "resealed" ? "sealed" : live.outcome === "none" ? "none" : "left as it was"}${hint}`
}

/** `rekey`: see the module header. */
export const rekey = Command.make(
  "rekey",
  {
    session: sessionFlag("The session whose snapshots and live state are sealed again under the newest key"),
    trustUnsealed: Flag.Boolean("trust-unsealed").pipe(
      Flag.withDescription("Also seal states that carry no seal at all (written before STATE_KEYS was set), if their checksums hold; never one whose seal fails, nor one newer than a sealed one"),
      Flag.withDefault(false)
    ),
    json: jsonFlag
  },
  Effect.fn(function*({ json, session, trustUnsealed }) {
    const config = yield* persistenceConfig
    if (Option.isNone(config.protection)) {
      return yield* ExitCode.fail(ExitCode.badArguments, "rekey needs STATE_KEYS (or STATE_KEYS_FILE): there is no key to seal with")
    }
    const protection = { ...config.protection.value, trustUnsealed }
    const keyId = newestKey(protection).id
    const { live, snapshots } = yield* Effect.scoped(Effect.gen(function*() {
      const lease = yield* hold(session, { holder: `rekey-${defaultHolder()}`, ttl: "30 seconds", wait: 0 })
      const snapshots = yield* (yield* SnapshotStore).rekey(session, { trustUnsealed })
      const store = yield* LiveStateStore
      const read = yield* store.read(session)
      let live: RekeyedLive = { outcome: "none" }
      // An unsealed live state is trusted only in a session no snapshot of which was sealed before:
      // a runner with the keys seals what it writes, so one beside sealed snapshots was written without them.
      const sealedSnapshot = snapshots.find((snapshot) => snapshot.sealedBefore && snapshot.outcome !== "refused")
      // A live state a restore would pass over as stale (its writer had lost the session) is left as
      // it is: written again under this rekey's lease, its token would make it win.
      const stale = Option.isSome(read)
        ? (yield* Restore.run(session)).skipped.find((skipped) => skipped.source === "live" && skipped.kind === "stale")
        : undefined
      if (stale !== undefined) {
        live = { outcome: "refused", reason: `stale: ${stale.reason}` }
      } else if (Option.isSome(read) && read.value.sealed === false && sealedSnapshot !== undefined) {
        live = {
          outcome: "refused",
          reason: `not authentic: it carries no seal, while snapshot #${sealedSnapshot.sequence} is sealed: written after the keys were, without them`
        }
      } else if (Option.isSome(read)) {
        const opened = read.value.open()
        if (Result.isFailure(opened)) live = { outcome: "refused", reason: opened.failure.message }
        else {
          // A new store writes a session whole: every part sealed (and encrypted) under the newest key.
          yield* store.save(opened.success.state, lease.fencingToken, opened.success.ledgerTail)
          live = { outcome: "resealed" }
        }
      }
      return { live, snapshots }
    })).pipe(Effect.provide(Persistence.layerFrom({ ...config, protection: Option.some(protection) })))
    if (snapshots.length === 0 && live.outcome === "none") {
      return yield* ExitCode.fail(ExitCode.badArguments, `${session} has no state in env ${config.env}: nothing to seal`)
    }
    const refused = snapshots.filter((s) => s.outcome === "refused").length + (live.outcome === "refused" ? 1 : 0)
    yield* Console.log(
      json
        ? JSON.stringify({ sessionId: session, keyId, encrypted: protection.encrypt, snapshots, live })
        : [
          ...snapshots.map(describeSnapshot(keyId, protection.encrypt)),
          describeLive(keyId, protection.encrypt, live),
          closingLine(session, keyId, snapshots, live, trustUnsealed)
        ].join("\n")
    )
    if (refused > 0) yield* ExitCode.set(ExitCode.invalidState)
  })
).pipe(Command.withDescription(
  "Seal a session's snapshots and live state again under the newest of STATE_KEYS (encrypted under it with STATE_ENCRYPTION); what does not verify is left as it is and named (exit 3); takes the session's lease (exit 5 while a runner holds it)"
))
