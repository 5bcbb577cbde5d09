/**
 * MetricsExporter: the metrics in Prometheus text, over HTTP, when asked for.
 *
 * Off by default. With METRICS_PROMETHEUS_PORT set, a small HTTP server on
 * that port (loopback unless METRICS_PROMETHEUS_HOST says otherwise) answers
 * `GET /metrics` with `effect/observability`'s Prometheus formatting of every
 * metric of the program; it stops when the program ends.
 *
 * @module
 */
import { Config, Effect, Layer, Option, Schema } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { createServer } from "node:http"
import { metricsExporterConfig } from "../config.ts"

/** The exporter could not listen (its port taken, its host not bindable): the program does not start without it. */
export class MetricsExporterError extends Schema.TaggedError<MetricsExporterError>()("MetricsExporterError", {
  message: Schema.String
}) {}

/** Serves the program's metrics at `http://host:port/metrics`; the port actually bound is logged. */
export const layerPrometheus = (options: { readonly port: number; readonly host?: string }): Layer.Layer<never, MetricsExporterError> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const context = yield* Effect.context<never>()
    const host = options.host ?? "127.0.0.1"
    const server = yield* Effect.acquireRelease(
      Effect.callback<ReturnType<typeof createServer>, MetricsExporterError>((resume) => {
        const server = createServer((request, response) => {
          if (request.method === "GET" && request.url === "/metrics") {
            response.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" })
            response.end(PrometheusMetrics.formatUnsafe(context))
          } else {
            response.writeHead(404).end()
          }
        })
        server.once("error", (error: NodeJS.ErrnoException) => {
          const why = error.code === "EADDRINUSE" ? "address already in use" : error.message
          resume(Effect.fail(new MetricsExporterError({ message: `cannot serve metrics on ${host}:${options.port}: ${why}` })))
        })
        server.listen(options.port, host, () => resume(Effect.succeed(server)))
      }),
      (server) => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
    )
    const address = server.address()
    yield* Effect.logInfo(`metrics at http://${host}:${typeof address === "object" && address !== null ? address.port : options.port}/metrics`)
  }))

/** The exporter the environment asks for (METRICS_PROMETHEUS_PORT), or none. */
export const layerConfig: Layer.Layer<never, Config.ConfigError | MetricsExporterError> = Layer.unwrap(Effect.gen(function*() {
  const { host, port } = yield* metricsExporterConfig
  return Option.match(port, { onNone: () => Layer.empty, onSome: (p) => layerPrometheus({ port: p, host }) })
}))
