/**
 * arbitrage-state: the state persistence and recovery core of an arbitrage
 * trading engine. The public API, one namespace per concept: what a user
 * composes (the state's Schemas, the stores' services and the layers that
 * build them, their errors, the restore pipeline and the session) and the
 * reference runner that shows them in use. Backings, scripts, row helpers
 * and codecs' internals are not part of it (`package.json` exports this
 * module only).
 */
// The state: Schemas of every persisted value, their versions and the snapshot envelope.
export * as ArbitrageTrade from "./domain/ArbitrageTrade.ts"
export * as Checksum from "./domain/Checksum.ts"
export * as ClosedTrade from "./domain/ClosedTrade.ts"
export * as CustomSection from "./domain/CustomSection.ts"
export * as EngineState from "./domain/EngineState.ts"
export * as Ids from "./domain/Ids.ts"
export * as MetricsState from "./domain/MetricsState.ts"
export * as OrderIntent from "./domain/OrderIntent.ts"
export * as Order from "./domain/Order.ts"
export * as PositionsState from "./domain/PositionsState.ts"
export * as RiskGuardState from "./domain/RiskGuardState.ts"
export * as SessionState from "./domain/SessionState.ts"
export * as Snapshot from "./domain/Snapshot.ts"
export * as StateCodec from "./domain/StateCodec.ts"
export * as StateCodecError from "./domain/StateCodecError.ts"
export * as Units from "./domain/Units.ts"
export * as VersionedSection from "./domain/VersionedSection.ts"
// The stores: services, the layers that build them from configuration or by hand, their errors.
export * as LiveStateStore from "./store/LiveStateStore.ts"
export * as Persistence from "./store/Persistence.ts"
export * as RedisAcl from "./store/RedisAcl.ts"
export * as SessionEvents from "./store/SessionEvents.ts"
export * as SessionLease from "./store/SessionLease.ts"
export * as SnapshotStore from "./store/SnapshotStore.ts"
export * as StateProtection from "./store/StateProtection.ts"
export * as StoreError from "./store/StoreError.ts"
export * as TradeLedger from "./store/TradeLedger.ts"
export * as Config from "./config.ts"
// Venues: the only way a runner touches an exchange, and the simulator's adapter.
export * as Venue from "./venue/Venue.ts"
export * as HttpVenue from "./venue/HttpVenue.ts"
export * as VenueSimulator from "./venue-sim/SimServer.ts"
export * as LiveTrades from "./orders/LiveTrades.ts"
export * as Reconcile from "./orders/Reconcile.ts"
// Recovery and sessions.
export * as LedgerAudit from "./recovery/LedgerAudit.ts"
export * as Restore from "./recovery/Restore.ts"
export * as RestoreReport from "./recovery/RestoreReport.ts"
export * as Session from "./session/Session.ts"
export * as SessionError from "./session/SessionError.ts"
// The reference paper runner, its automatic resume, and what operators watch.
export * as ArbitrageStrategy from "./runner/ArbitrageStrategy.ts"
export * as Campaign from "./runner/Campaign.ts"
export * as Runner from "./runner/Runner.ts"
export * as TradingPlan from "./runner/TradingPlan.ts"
export * as LiveRunner from "./runner/LiveRunner.ts"
export * as Supervisor from "./supervisor/Supervisor.ts"
export * as MetricsExporter from "./observability/MetricsExporter.ts"
export * as PersistenceMetrics from "./observability/PersistenceMetrics.ts"
