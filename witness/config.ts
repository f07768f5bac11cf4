// The witness's configuration: a JSON file (logs, peers, settings), overridden by environment
// variables and flags, read once, validated here and passed down as a typed object. Nothing
// else in witness/ reads process.env or the file system for settings.

import { z } from "zod";
import { TrustlogError } from "../core/errors.js";
import { layeredConfig } from "../node/config-file.js";
import { LOG_LEVELS } from "../node/log.js";

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//.test(u), "must be an http(s) URL")
  .transform((u) => u.replace(/\/+$/, ""));

const logSchema = z.object({
  /** The checkpoint origin line. */
  origin: z.string().min(1),
  /** The log's verifier keys (`name+id+base64`, type 0x01); a checkpoint needs one valid signature. */
  vkeys: z.array(z.string().min(1)).min(1),
  /** Base URL of the log's tlog-tiles API (`<url>/checkpoint`, `<url>/tile/…`): enables pull mode. */
  url: httpUrl.optional(),
  /**
   * Audit this (trustlog) log: cosign only checkpoints whose entries this witness replayed with
   * the trustlog rules (docs/witness.md, "Auditing witnesses"). Needs `url`.
   */
  audit: z.boolean().default(false),
});

/** A yes/no setting: a JSON boolean, or from the environment "true"/"false", "1"/"0", "yes"/"no". */
const yesNo = z.union([
  z.boolean(),
  z.enum(["true", "false", "1", "0", "yes", "no"]).transform((v) => v === "true" || v === "1" || v === "yes"),
]);

const peerSchema = z.object({
  /** Base URL of the peer witness (`<url>/v1/logs/…`, `<url>/v1/evidence`). */
  url: httpUrl,
  /** The peer's cosignature vkey (type 0x04). */
  vkey: z.string().min(1),
});

export const witnessConfigSchema = z.object({
  host: z.string().min(1).default("127.0.0.1"),
  port: int(0, 65535).default(7380),
  /** The cosignature key (`PRIVATE+KEY+…`, type 0x04), see `trustlog witness keygen`. */
  keyFile: z.string().min(1),
  /** PostgreSQL URL; when absent, PGlite in `dataDir`. */
  databaseUrl: z.string().min(1).optional(),
  dataDir: z.string().min(1).default("./witness-data"),
  /**
   * Run on PGlite (no `databaseUrl`) even so: PGlite does not fsync, so after an OS crash the
   * witness can lose what it cosigned and then cosign a checkpoint inconsistent with it. For
   * development only (`npm start` sets it); see startWitness and docs/witness.md.
   */
  allowPglite: yesNo.default(false),
  logs: z.array(logSchema).default([]),
  peers: z.array(peerSchema).default([]),
  /** Seconds between pull rounds (logs with a `url`) and gossip rounds; 0 disables. */
  pullIntervalSeconds: z.coerce.number().min(0).max(86_400).default(30),
  gossipIntervalSeconds: z.coerce.number().min(0).max(86_400).default(30),
  /** Timeout of each outgoing HTTP request (pull, gossip). */
  fetchTimeoutMs: int(100, 600_000).default(10_000),
  maxBodyBytes: int(1024, 64 << 20).default(1 << 20),
  /** Auditing: a replay snapshot every so many entries or seconds (whichever first). */
  auditSnapshotEntries: int(1, 100_000_000).default(100_000),
  auditSnapshotSeconds: z.coerce.number().min(1).max(86_400).default(60),
  /** Auditing: how long add-checkpoint waits for the audit of its checkpoint before a 503. */
  auditWaitMs: int(0, 60_000).default(5_000),
  /** Auditing: entries fetched and replayed per round (whole tiles of 256). */
  auditChunkEntries: int(256, 1 << 20).default(16_384),
  logLevel: z.enum(LOG_LEVELS).default("info"),
  /**
   * Commit the state of concurrent add-checkpoint requests together, one durable commit for a
   * group (witness/group-commit.ts). false gives each request its own commit: only for
   * measuring what group commit gains (bench/witness.ts).
   */
  groupCommit: yesNo.default(true),
  /**
   * Worker threads verifying the logs' signatures (node/verify-pool.ts), a third of a
   * cosignature's CPU time; 0 verifies them on the event loop.
   */
  verifyThreads: int(0, 64).default(1),
});

export type WitnessConfig = z.infer<typeof witnessConfigSchema>;
export type WitnessConfigInput = z.input<typeof witnessConfigSchema>;

const ENV: Record<string, keyof WitnessConfig> = {
  TRUSTLOG_WITNESS_HOST: "host",
  TRUSTLOG_WITNESS_PORT: "port",
  TRUSTLOG_WITNESS_KEY_FILE: "keyFile",
  TRUSTLOG_WITNESS_DATABASE_URL: "databaseUrl",
  TRUSTLOG_WITNESS_DATA_DIR: "dataDir",
  TRUSTLOG_WITNESS_ALLOW_PGLITE: "allowPglite",
  TRUSTLOG_WITNESS_LOG_LEVEL: "logLevel",
  TRUSTLOG_WITNESS_GROUP_COMMIT: "groupCommit",
  TRUSTLOG_WITNESS_VERIFY_THREADS: "verifyThreads",
};

/** Validates a configuration object. Throws CONFIG_INVALID naming each bad field. */
export function parseWitnessConfig(raw: unknown): WitnessConfig {
  const r = witnessConfigSchema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new TrustlogError("CONFIG_INVALID", `invalid witness configuration: ${issues}`);
  }
  const origins = new Set<string>();
  for (const l of r.data.logs) {
    if (origins.has(l.origin)) throw new TrustlogError("CONFIG_INVALID", `log ${l.origin} is listed twice`);
    if (l.audit && !l.url)
      throw new TrustlogError("CONFIG_INVALID", `log ${l.origin}: audit needs the log's url (its tiles)`);
    origins.add(l.origin);
  }
  return r.data;
}

/**
 * Builds the configuration: the JSON file (paths in it are relative to the file), then the
 * `TRUSTLOG_WITNESS_*` environment variables, then flags that are set.
 */
export function loadWitnessConfig(
  file: string | undefined,
  env: Record<string, string | undefined>,
  flags: Partial<Record<keyof WitnessConfig, unknown>> = {},
): WitnessConfig {
  const raw = layeredConfig({ file, pathFields: ["keyFile", "dataDir"], env, envFields: ENV, flags });
  return parseWitnessConfig(raw);
}
