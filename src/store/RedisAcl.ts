/**
 * RedisAcl: the least a Redis user needs to be this project's live tier.
 *
 * The rules of an ACL user (`ACL SETUSER <name> on ><password> <rules>`)
 * that may touch only the project's keys (`arbitrage:state:*`, which D70's
 * keys share, so that `import-d70` reads with the same user) and run only
 * the commands the live tier sends: the connection's own (`HELLO`, `INFO`,
 * `PING`, `QUIT`, `CLIENT INFO`, `SELECT`), the reads and writes of its
 * scripts (`GET`, `SET`, `DEL`, `TYPE`, `STRLEN`, `HGETALL`, `HSET`, `HDEL`,
 * `MEMORY USAGE`), the scripts themselves (`EVAL`, `EVALSHA`, `SCRIPT LOAD`),
 * listing (`SCAN`) and a cluster's topology and ready check (`CLUSTER SLOTS`,
 * `CLUSTER SHARDS`, `CLUSTER INFO`, `CLIENT SETNAME`, `READONLY`). No key
 * outside the prefix, no administration, no `KEYS`, `FLUSHALL` or `CONFIG`.
 * What it does not hide: `SCAN` lists the names of every key (not their
 * values), and `SELECT` reaches the prefix in every database of the server
 * (give the project a server, or an ACL of its own per database, to keep
 * them apart).
 *
 * @module
 */

/** The key pattern the user may touch. */
export const liveKeyPattern = "arbitrage:state:*"

/** The commands the live tier sends. */
export const liveCommands: ReadonlyArray<string> = [
  "hello", "info", "ping", "quit", "client|info", "select",
  "get", "set", "del", "type", "strlen", "hgetall", "hset", "hdel", "memory|usage",
  "eval", "evalsha", "script|load",
  "scan",
  "cluster|slots", "cluster|shards", "cluster|info", "client|setname", "readonly"
]

/** The ACL rules of the live tier's user, after `ACL SETUSER <name> on ><password>`. */
export const liveAclRules: ReadonlyArray<string> = ["resetkeys", `~${liveKeyPattern}`, "resetchannels", "-@all", ...liveCommands.map((command) => `+${command}`)]
