/**
 * Write your own persisted section, with a migration.
 *
 * A section is a Schema whose stored form carries its version; an older
 * version is decoded by its own Schema and upgraded. Here a fee schedule
 * first stored one flat fee (v1), then a maker and a taker fee (v2): v1 data
 * keeps reading, upgraded, and a version the code does not know is refused.
 *
 *   npm run example -- custom-section
 */
import { Result, Schema } from "effect"
import { VersionedSection } from "../src/index.ts"

const { makeVersionedSection, olderVersion } = VersionedSection

const Bps = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))

const FeeScheduleV1 = Schema.Struct({ venue: Schema.String, feeBps: Bps })
const FeeSchedule = Schema.Struct({ venue: Schema.String, makerBps: Bps, takerBps: Bps })

const feeSchedules = makeVersionedSection({
  part: "state",
  schema: FeeSchedule,
  currentVersion: 2,
  // v1 had one fee for both sides: it becomes both.
  olderVersions: [olderVersion(1, FeeScheduleV1, (v1) => ({ venue: v1.venue, makerBps: v1.feeBps, takerBps: v1.feeBps }))]
})

const show = (label: string, result: Result.Result<unknown, { readonly message: string }>) =>
  process.stdout.write(`${label}: ${Result.isSuccess(result) ? JSON.stringify(result.success) : `refused (${result.failure.message})`}\n`)

show("stored v1", feeSchedules.decode({ version: 1, venue: "A", feeBps: 4 }))
show("stored v2", feeSchedules.decode({ version: 2, venue: "B", makerBps: 1, takerBps: 5 }))
show("written now", feeSchedules.encode({ venue: "A", makerBps: 2, takerBps: 4 }))
show("from the future", feeSchedules.decode({ version: 3, venue: "A", rebateBps: 1 }))
show("damaged", feeSchedules.decode({ version: 2, venue: "B", makerBps: -1, takerBps: 5 }))
