import { liveBackings } from "../support/Backings.ts"
import { hotStateStoreContract } from "./HotStateStoreContract.ts"

for (const backing of liveBackings) {
  hotStateStoreContract(backing, { propertyRuns: backing.name === "memory" ? 100 : 30 })
}
