// The log server's configuration: read once from the environment and the command line (flags
// win), validated here, then passed down as a typed object. Nothing else reads process.env.

import { availableParallelism } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { TrustlogError } from "../core/errors.js";
import { DEFAULT_LIMITS } from "../core/policy.js";
import { LOG_LEVELS } from "../node/log.js";

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const witnessSchema = z.object({
  name: z.string().min(1),
  vkey: z.string().min(1),
  url: z.string().url(),
});

export const serverConfigSchema = z
  .object({
    host: z.string().min(1).default("127.0.0.1"),
    port: int(0, 65535).default(8080),
    /** The checkpoint origin line, also the default name of the log key. */
    origin: z
      .string()
      .regex(/^[\x21-\x7e]+$/, "an origin is printable ASCII without spaces")
      .refine((s) => !s.includes("+"), "an origin used as a key name cannot contain '+'")
      .default("trustlog.example/log"),
    /** The log's signing key (`PRIVATE+KEY+…`); default `<dataDir>/log.key`, created if missing. */
    keyFile: z.string().min(1).optional(),
    /** PostgreSQL URL; when absent the server runs on embedded PGlite under `dataDir`. */
    databaseUrl: z.string().min(1).optional(),
    dataDir: z.string().min(1).default("./data"),
    batchSize: int(1, 10_000).default(1000),
    batchDelayMs: int(0, 60_000).default(5),
    queueLimit: int(1, 1_000_000).default(20_000),
    skewSeconds: int(0, 86_400).default(300),
    logLevel: z.enum(LOG_LEVELS).default("info"),
    /**
     * Largest request body, refused with 413 before it is read. Typical batches are far below
     * 4 MiB (1,000 account events are about 1 MiB); the largest legitimate one, 1,000
     * envelopes of 16 KiB, needs about 17 MiB, so a log fed such batches raises this.
     */
    bodyLimitBytes: int(1024, 1 << 30).default(4 * 1024 * 1024),
    /** Time a client has to send a request's headers (node's server.headersTimeout). */
    headersTimeoutMs: int(100, 600_000).default(10_000),
    /** Time a client has to send a whole request, headers and body (server.requestTimeout). */
    requestTimeoutMs: int(100, 3_600_000).default(30_000),
    /**
     * Write rate limits, in events a second and the most a bucket holds (server/rate-limit.ts);
     * a rate of 0 turns the limit off. Per client address and per org.
     */
    clientRate: z.coerce.number().min(0).max(1_000_000).default(1000),
    clientBurst: int(1, 10_000_000).default(10_000),
    orgRate: z.coerce.number().min(0).max(1_000_000).default(1000),
    orgBurst: int(1, 10_000_000).default(10_000),
    /**
     * A header set by a trusted reverse proxy that carries the client's address (such as
     * `x-forwarded-for`, whose last entry is used); unset: the socket's peer address. Only set it
     * when every request comes through that proxy, or clients choose their own address.
     */
    clientIpHeader: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/, "a header name")
      .transform((s) => s.toLowerCase())
      .optional(),
    /**
     * Per-org and per-account limits checked when an event is admitted (docs/events.md §5 rule
     * 11; never on replay): unrevoked grants per org, admins per org, keys an account ever had.
     */
    maxActiveGrants: int(1, 1_000_000).default(DEFAULT_LIMITS.maxActiveGrants),
    maxAdmins: int(1, 1_000).default(DEFAULT_LIMITS.maxAdmins),
    maxKeysPerAccount: int(1, 100_000).default(DEFAULT_LIMITS.maxKeysPerAccount),
    /** `token`: every POST /v1/events needs a bearer token (`trustlog token add`). */
    writeAuth: z.enum(["none", "token"]).default("none"),
    /** `token`: an org.create needs a bearer token even when other writes do not. */
    orgCreation: z.enum(["open", "token"]).default("open"),
    /**
     * Witnesses the log submits every checkpoint to (C2SP tlog-witness at `<url>/add-checkpoint`),
     * also published in /v1/log for clients to pin. A checkpoint carries at most 16 signatures:
     * the log's and up to 15 cosignatures.
     */
    witnesses: z.array(witnessSchema).max(15).default([]),
    /** How many witness cosignatures clients should require (published in /v1/log). */
    quorum: int(0, 15).default(0),
    /**
     * Hash tiles the server keeps in memory for proofs with their interior hashes (up to 24 KiB
     * each), and eight times as many as plain tiles (8 KiB each; tile reads, and the interiors
     * are hashed again from them). The default, 8,192, keeps the interiors of every tile of a
     * tree of 2×10^6 leaves and the plain tiles of 1.6×10^7 leaves (up to 200 + 512 MiB); past
     * that, a proof of a random leaf reads its level-0 tile from the database.
     */
    tileCacheTiles: int(16, 10_000_000).default(8192),
    /** Threads that check envelope signatures before queueing (0: on the event loop; default one per core). */
    verifyThreads: int(0, 64).default(availableParallelism()),
    /** Publish only checkpoints cosigned by this many witnesses (0: publish at once). */
    publishQuorum: int(0, 15).default(0),
    /** Re-submit the latest checkpoint to the witnesses this often while idle (0: never). */
    witnessRefreshSeconds: int(0, 86_400).default(30),
    /** In quorum mode, how long a write waits for the cosignatures before answering without. */
    quorumWaitMs: int(0, 600_000).default(10_000),
  })
  .refine((c) => c.headersTimeoutMs <= c.requestTimeoutMs, {
    message: "headersTimeoutMs exceeds requestTimeoutMs",
    path: ["headersTimeoutMs"],
  })
  .refine((c) => c.quorum <= c.witnesses.length, {
    message: "quorum exceeds the number of witnesses",
    path: ["quorum"],
  })
  .refine((c) => c.publishQuorum <= c.witnesses.length, {
    message: "publishQuorum exceeds the number of witnesses",
    path: ["publishQuorum"],
  });

export type ServerConfig = z.infer<typeof serverConfigSchema>;
export type ServerConfigInput = z.input<typeof serverConfigSchema>;

const ENV: Record<string, keyof ServerConfig> = {
  TRUSTLOG_HOST: "host",
  TRUSTLOG_PORT: "port",
  TRUSTLOG_ORIGIN: "origin",
  TRUSTLOG_KEY_FILE: "keyFile",
  DATABASE_URL: "databaseUrl",
  TRUSTLOG_DATABASE_URL: "databaseUrl",
  TRUSTLOG_DATA_DIR: "dataDir",
  TRUSTLOG_BATCH_SIZE: "batchSize",
  TRUSTLOG_BATCH_DELAY_MS: "batchDelayMs",
  TRUSTLOG_QUEUE_LIMIT: "queueLimit",
  TRUSTLOG_SKEW_SECONDS: "skewSeconds",
  TRUSTLOG_LOG_LEVEL: "logLevel",
  TRUSTLOG_BODY_LIMIT_BYTES: "bodyLimitBytes",
  TRUSTLOG_HEADERS_TIMEOUT_MS: "headersTimeoutMs",
  TRUSTLOG_REQUEST_TIMEOUT_MS: "requestTimeoutMs",
  TRUSTLOG_CLIENT_RATE: "clientRate",
  TRUSTLOG_CLIENT_BURST: "clientBurst",
  TRUSTLOG_ORG_RATE: "orgRate",
  TRUSTLOG_ORG_BURST: "orgBurst",
  TRUSTLOG_CLIENT_IP_HEADER: "clientIpHeader",
  TRUSTLOG_MAX_ACTIVE_GRANTS: "maxActiveGrants",
  TRUSTLOG_MAX_ADMINS: "maxAdmins",
  TRUSTLOG_MAX_KEYS_PER_ACCOUNT: "maxKeysPerAccount",
  TRUSTLOG_WRITE_AUTH: "writeAuth",
  TRUSTLOG_ORG_CREATION: "orgCreation",
  TRUSTLOG_WITNESSES: "witnesses",
  TRUSTLOG_QUORUM: "quorum",
  TRUSTLOG_PUBLISH_QUORUM: "publishQuorum",
  TRUSTLOG_VERIFY_THREADS: "verifyThreads",
  TRUSTLOG_TILE_CACHE_TILES: "tileCacheTiles",
  TRUSTLOG_WITNESS_REFRESH_SECONDS: "witnessRefreshSeconds",
  TRUSTLOG_QUORUM_WAIT_MS: "quorumWaitMs",
};

/**
 * Builds the configuration from environment variables (`TRUSTLOG_*`, `DATABASE_URL`) and
 * flags; a flag that is set overrides the variable. Throws CONFIG_INVALID naming each bad field.
 */
export function loadServerConfig(
  env: Record<string, string | undefined>,
  flags: Partial<Record<keyof ServerConfig, unknown>> = {},
): ServerConfig {
  const raw: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV)) {
    const value = env[name];
    if (value === undefined || value === "") continue;
    if (key === "witnesses") {
      try {
        raw[key] = JSON.parse(value);
      } catch {
        throw new TrustlogError("CONFIG_INVALID", "TRUSTLOG_WITNESSES must be a JSON array");
      }
    } else {
      raw[key] = value;
    }
  }
  for (const [key, value] of Object.entries(flags)) {
    if (value !== undefined) raw[key] = value;
  }
  const parsed = serverConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new TrustlogError("CONFIG_INVALID", z.prettifyError(parsed.error));
  }
  return parsed.data;
}

/** Where the log key lives: the configured file, else `<dataDir>/log.key` (none in memory). */
export function keyFilePath(config: ServerConfig): string | undefined {
  if (config.keyFile) return config.keyFile;
  if (config.dataDir.startsWith("memory://")) return undefined;
  return join(config.dataDir, "log.key");
}

/** PGlite's own directory under the data directory, so the key file sits beside it. */
export function pgliteDir(config: ServerConfig): string {
  return config.dataDir.startsWith("memory://") ? config.dataDir : join(config.dataDir, "pglite");
}
