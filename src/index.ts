/**
 * arbitrage-state: the state persistence and recovery core of an arbitrage
 * trading engine. The public API, one namespace per concept.
 */
export * as ArbitrageTrade from "./domain/ArbitrageTrade.ts"
export * as Checksum from "./domain/Checksum.ts"
export * as EngineState from "./domain/EngineState.ts"
export * as Ids from "./domain/Ids.ts"
export * as MetricsState from "./domain/MetricsState.ts"
export * as Order from "./domain/Order.ts"
export * as PositionsState from "./domain/PositionsState.ts"
export * as RiskGuardState from "./domain/RiskGuardState.ts"
export * as SessionState from "./domain/SessionState.ts"
export * as Snapshot from "./domain/Snapshot.ts"
export * as StateCodec from "./domain/StateCodec.ts"
export * as StateCodecError from "./domain/StateCodecError.ts"
export * as Units from "./domain/Units.ts"
export * as VersionedSection from "./domain/VersionedSection.ts"
