/**
 * TLS servers of a test's own: certificates made with openssl (a CA, a
 * server certificate it signs for 127.0.0.1 and localhost, and a second CA
 * that signed nothing), a redis-server that speaks TLS only, and a
 * PostgreSQL cluster (initdb'ed in a temporary folder) that accepts TLS
 * connections only. All on loopback ports of their own, removed when the
 * scope closes.
 */
import { Effect } from "effect"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { chmodSync, chownSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connect } from "node:tls"
import { freePort } from "./Ports.ts"

/** The files of a test's certificates. */
export interface Certificates {
  readonly dir: string
  /** The CA that signed the server's certificate. */
  readonly caFile: string
  /** A CA that signed nothing here: verifying against it must fail. */
  readonly otherCaFile: string
  readonly certFile: string
  readonly keyFile: string
  /** A certificate the CA signed for another host (elsewhere.example): a client checking the host refuses it. */
  readonly elsewhereCertFile: string
  readonly elsewhereKeyFile: string
}

const openssl = (cwd: string, ...args: ReadonlyArray<string>) => {
  const run = spawnSync("openssl", args, { cwd, encoding: "utf8" })
  if (run.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${run.stderr}`)
}

/** Makes the certificates in a temporary folder, removed when the scope closes. */
export const certificates = Effect.acquireRelease(
  Effect.sync((): Certificates => {
    const dir = mkdtempSync(join(tmpdir(), "arbitrage-state-tls-"))
    for (const ca of ["ca", "other-ca"]) {
      openssl(dir, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=arbitrage-state test ${ca}`, "-keyout", `${ca}.key`, "-out", `${ca}.pem`)
    }
    for (const [name, names] of [["server", "IP:127.0.0.1,DNS:localhost"], ["elsewhere", "DNS:elsewhere.example"]] as const) {
      writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${names}\n`)
      openssl(dir, "req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.csr`)
      openssl(dir, "x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", `${name}.ext`, "-out", `${name}.pem`)
    }
    return {
      dir,
      caFile: join(dir, "ca.pem"),
      otherCaFile: join(dir, "other-ca.pem"),
      certFile: join(dir, "server.pem"),
      keyFile: join(dir, "server.key"),
      elsewhereCertFile: join(dir, "elsewhere.pem"),
      elsewhereKeyFile: join(dir, "elsewhere.key")
    }
  }),
  ({ dir }) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** Polls `ready` until it holds (at most 20 s). */
const waitFor = (what: string, ready: () => Promise<boolean>) =>
  Effect.gen(function*() {
    for (let attempt = 0; attempt < 400; attempt++) {
      if (yield* Effect.promise(ready)) return
      yield* Effect.sleep("50 millis")
    }
    return yield* Effect.die(new Error(`${what} did not start`))
  })

const killed = (child: ChildProcess, signal: NodeJS.Signals) =>
  Effect.promise(() =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once("exit", () => resolve())
      child.kill(signal)
    })
  )

/** Whether a TLS handshake with the server at `port` completes (its certificate not checked). */
const handshakes = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

/** A redis-server that speaks TLS only, on its own port, with the server certificate (or `elsewhere`'s); killed when the scope closes. */
export const tlsRedis = (certs: Certificates, options: { readonly elsewhere?: boolean } = {}) =>
  Effect.gen(function*() {
    const port = yield* Effect.promise(freePort)
    const [cert, key] = options.elsewhere === true ? [certs.elsewhereCertFile, certs.elsewhereKeyFile] : [certs.certFile, certs.keyFile]
    const child = spawn("redis-server", [
      "--port", "0", "--tls-port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
      "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", certs.caFile, "--tls-auth-clients", "no"
    ], { stdio: "ignore" })
    yield* Effect.addFinalizer(() => killed(child, "SIGKILL"))
    yield* waitFor(`redis-server --tls-port ${port}`, () => handshakes(port))
    return { port }
  })

/** Runs a PostgreSQL program as the `postgres` user when this process is root (PostgreSQL refuses to run as root). */
const asPostgres = (program: string, args: ReadonlyArray<string>) => {
  const bin = join(postgresBin(), program)
  return process.getuid?.() === 0 ? { command: "runuser", args: ["-u", "postgres", "--", bin, ...args] } : { command: bin, args }
}

/** The folder of the installed PostgreSQL's programs. */
const postgresBin = (): string => {
  const found = spawnSync("sh", ["-c", "ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1"], { encoding: "utf8" }).stdout.trim()
  if (found === "") throw new Error("no PostgreSQL installed under /usr/lib/postgresql")
  return found
}

/**
 * A PostgreSQL cluster of the test's own that takes TLS connections only (`hostssl` in its
 * pg_hba.conf, plain ones rejected), user `postgres` with trust auth; stopped and removed when the
 * scope closes.
 */
export const tlsPostgres = (certs: Certificates) =>
  Effect.gen(function*() {
    const port = yield* Effect.promise(freePort)
    const dir = mkdtempSync(join(tmpdir(), "arbitrage-state-tls-pg-"))
    const data = join(dir, "data")
    yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    const root = process.getuid?.() === 0
    const owned = (path: string) => {
      if (!root) return
      const ids = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout.trim()
      const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" }).stdout.trim()
      chownSync(path, Number(ids), Number(gid))
    }
    owned(dir)
    const init = asPostgres("initdb", ["-D", data, "-U", "postgres", "--auth", "trust", "--no-sync", "-E", "UTF8"])
    const initRun = spawnSync(init.command, init.args, { encoding: "utf8" })
    if (initRun.status !== 0) return yield* Effect.die(new Error(`initdb failed: ${initRun.stderr}`))
    writeFileSync(join(data, "pg_hba.conf"), "hostssl all all 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 reject\n")
    // The server reads its key only when the key is its own and private.
    for (const [from, name] of [[certs.certFile, "server.crt"], [certs.keyFile, "server.key"]] as const) {
      const target = join(data, name)
      copyFileSync(from, target)
      chmodSync(target, 0o600)
      owned(target)
    }
    owned(join(data, "pg_hba.conf"))
    const server = asPostgres("postgres", [
      "-D", data, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", `unix_socket_directories=${dir}`,
      "-c", "ssl=on", "-c", "ssl_cert_file=server.crt", "-c", "ssl_key_file=server.key", "-c", "fsync=off"
    ])
    const child = spawn(server.command, server.args, { stdio: "ignore" })
    // A fast shutdown by pg_ctl (runuser does not pass a signal on to the server), then the child's exit.
    const stop = asPostgres("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"])
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => spawnSync(stop.command, stop.args, { stdio: "ignore", timeout: 30_000 })).pipe(Effect.andThen(killed(child, "SIGKILL")))
    )
    const ready = asPostgres("pg_isready", ["-h", "127.0.0.1", "-p", String(port)])
    yield* waitFor(`postgres on ${port}`, async () => spawnSync(ready.command, ready.args).status === 0)
    return { port, url: (query: string) => `postgres://postgres@127.0.0.1:${port}/postgres${query}` }
  })

/** `redis-cli` over TLS against one node, its output. */
const tlsCli = (certs: Certificates, port: number, ...args: ReadonlyArray<string>) =>
  spawnSync("redis-cli", ["--tls", "--cacert", certs.caFile, "-h", "127.0.0.1", "-p", String(port), ...args], { encoding: "utf8", timeout: 30_000 })

/**
 * A Redis Cluster of three masters that speak TLS only, among themselves too (`tls-cluster`), joined
 * with `redis-cli --cluster create` over TLS; killed and removed when the scope closes.
 */
export const tlsRedisCluster = (certs: Certificates) =>
  Effect.gen(function*() {
    const dir = mkdtempSync(join(tmpdir(), "arbitrage-state-tls-cluster-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    const ports = [yield* Effect.promise(freePort), yield* Effect.promise(freePort), yield* Effect.promise(freePort)]
    for (const port of ports) {
      const child = spawn("redis-server", [
        "--port", "0", "--tls-port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--cluster-enabled", "yes", "--cluster-config-file", `nodes-${port}.conf`, "--dir", dir, "--tls-cluster", "yes",
        "--tls-cert-file", certs.certFile, "--tls-key-file", certs.keyFile, "--tls-ca-cert-file", certs.caFile, "--tls-auth-clients", "no"
      ], { stdio: "ignore" })
      yield* Effect.addFinalizer(() => killed(child, "SIGKILL"))
      yield* waitFor(`cluster node ${port}`, () => handshakes(port))
    }
    const created = tlsCli(certs, ports[0]!, "--cluster", "create", ...ports.map((port) => `127.0.0.1:${port}`), "--cluster-replicas", "0", "--cluster-yes")
    if (created.status !== 0) return yield* Effect.die(new Error(`redis-cli --cluster create over TLS failed: ${created.stdout}${created.stderr}`))
    yield* waitFor("cluster_state:ok", async () => ports.every((port) => (tlsCli(certs, port, "CLUSTER", "INFO").stdout ?? "").includes("cluster_state:ok")))
    return { ports }
  })
