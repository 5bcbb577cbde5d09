/**
 * `settings`, the list of environment variables the CLI's help prints, is
 * exactly what `src/config.ts` reads: a variable added to a config without a
 * line in the list (or a line left for a variable no longer read) fails here.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { crashPointConfig, d70RedisUrlConfig, metricsExporterConfig, persistenceConfig, settings } from "../../src/config.ts"

/** The variables `config` asks for, read from an empty environment (every one falls back to its default). */
const variablesRead = <A>(config: Effect.Effect<A, unknown>) =>
  Effect.gen(function*() {
    const asked = new Set<string>()
    const recording = ConfigProvider.make((path) => {
      asked.add(path.map(String).join("."))
      return Effect.succeed(undefined)
    })
    yield* config.pipe(Effect.provideService(ConfigProvider.ConfigProvider, recording))
    return asked
  })

describe("settings", () => {
  it.effect("lists every variable the persistence stack and the metrics exporter read, and nothing else", () =>
    Effect.gen(function*() {
      const read = new Set([
        ...(yield* variablesRead(persistenceConfig)),
        ...(yield* variablesRead(metricsExporterConfig)),
        ...(yield* variablesRead(crashPointConfig)),
        ...(yield* variablesRead(d70RedisUrlConfig))
      ])
      assert.sameMembers(settings.map((setting) => setting.variable), [...read])
      assert.includeMembers([...read], ["DATABASE_URL", "LEASE_TTL", "METRICS_PROMETHEUS_PORT", "METRICS_PROMETHEUS_HOST"])
    }))

  it("says what each variable means and what holds without it", () => {
    for (const setting of settings) {
      assert.isAbove(setting.meaning.length, 10, setting.variable)
      assert.isAbove(setting.default.length, 0, setting.variable)
    }
  })
})
