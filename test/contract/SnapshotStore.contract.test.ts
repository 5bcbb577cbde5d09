import { sealedSnapshotBackings, snapshotBackings } from "../support/Backings.ts"
import { snapshotStoreContract } from "./SnapshotStoreContract.ts"

for (const backing of snapshotBackings) {
  snapshotStoreContract(backing, { propertyRuns: backing.name === "memory" ? 100 : 25 })
}
for (const backing of sealedSnapshotBackings) snapshotStoreContract(backing, { propertyRuns: 15 })
