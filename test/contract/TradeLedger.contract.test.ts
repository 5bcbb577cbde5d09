import { snapshotBackings } from "../support/Backings.ts"
import { tradeLedgerContract } from "./TradeLedgerContract.ts"

for (const backing of snapshotBackings) tradeLedgerContract(backing)
