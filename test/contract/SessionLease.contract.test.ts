import { snapshotBackings } from "../support/Backings.ts"
import { sessionLeaseContract } from "./SessionLeaseContract.ts"

for (const backing of snapshotBackings) sessionLeaseContract(backing)
