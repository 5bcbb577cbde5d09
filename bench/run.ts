/**
 * `npm run bench`: our code next to the plainest code doing the same work.
 *
 * So far: the state codecs (Schema encode + invariants + version tags, and
 * decode with checksum) against bare JSON.stringify / JSON.parse of the same
 * state. The store benchmarks (raw ioredis MULTI, raw SQL transaction) join
 * when the stores exist. `--json` prints the results as JSON.
 */
import { Arbitrary, Effect, Result } from "effect"
import { decodeEngineStateJson, encodeEngineState, encodeEngineStateJson } from "../src/domain/StateCodec.ts"
import { decodeSnapshotJson, encodeSnapshotJson } from "../src/domain/Snapshot.ts"
import { engineStateArbitrary } from "../test/support/StateArbitrary.ts"
import { compare, type Comparison, formatTable } from "./Harness.ts"

const [state] = await Effect.runPromise(
  Arbitrary.sampleEffect(engineStateArbitrary({ minOpenTrades: 10, maxOpenTrades: 10 }), { count: 1, seed: 42 })
)
if (state === undefined) throw new Error("no state generated")
const encoded = Result.getOrThrow(encodeEngineState(state))
const stateText = Result.getOrThrow(encodeEngineStateJson(state))
const metadata = { sessionId: state.session.sessionId, snapshotType: "trade" as const, sequence: 1, fencingToken: 1, createdAt: 1 }
const snapshotText = Result.getOrThrow(encodeSnapshotJson(metadata, state))

const results: Array<Comparison> = [
  await compare("encode state, 10 open trades", () => JSON.stringify(state), () => encodeEngineStateJson(state)),
  await compare("decode state, 10 open trades", () => JSON.parse(stateText), () => decodeEngineStateJson(stateText)),
  await compare("seal snapshot (checksum)", () => JSON.stringify({ ...metadata, payload: encoded }), () => encodeSnapshotJson(metadata, state)),
  await compare("open snapshot (checksum)", () => JSON.parse(snapshotText), () => decodeSnapshotJson(snapshotText))
]

if (process.argv.includes("--json")) {
  process.stdout.write(`${JSON.stringify({ node: process.version, results }, null, 2)}\n`)
} else {
  process.stdout.write(`${formatTable(results)}\n`)
  process.stdout.write("(raw = bare JSON of the same state; store benchmarks against raw ioredis and SQL come with the stores)\n")
}
