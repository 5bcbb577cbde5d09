import { liveBackings, sealedLiveBackings } from "../support/Backings.ts"
import { liveStateStoreContract } from "./LiveStateStoreContract.ts"

for (const backing of liveBackings) {
  liveStateStoreContract(backing, { propertyRuns: backing.name === "memory" ? 100 : 30 })
}
for (const backing of sealedLiveBackings) liveStateStoreContract(backing, { propertyRuns: 20 })
