// Starts and stops a witness: database (migrations applied), key, HTTP server, pull and gossip
// loops. startWitness/stopWitness let tests and the bench run the real thing on an ephemeral
// port; signals and process exit are handled only by the CLI entry point.

import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { TrustlogError } from "../core/errors.js";
import { NOTE_TYPE_COSIGNATURE_V1 } from "../core/note.js";
import { parseSignerKey, parseVerifierKey } from "../core/note-keys.js";
import { type Database, openDatabase, runMigrations } from "../node/db.js";
import { createLogger, type Logger } from "../node/log.js";
import { packagePath } from "../node/package-root.js";
import { VerifyPool } from "../node/verify-pool.js";
import { createWitnessApp } from "./app.js";
import { LogAuditor } from "./auditor.js";
import type { WitnessConfig } from "./config.js";
import { Gossip } from "./gossip.js";
import { createWitnessMetrics, type WitnessMetrics } from "./metrics.js";
import { Puller } from "./pull.js";
import { WitnessStore } from "./store.js";
import { Witness, type WitnessHooks, type WitnessOptions } from "./witness.js";

export const WITNESS_MIGRATIONS = packagePath("migrations", "witness");

export interface RunningWitness {
  url: string;
  port: number;
  vkey: string;
  witness: Witness;
  store: WitnessStore;
  database: Database;
  metrics: WitnessMetrics;
  puller: Puller;
  gossip: Gossip;
  /** The threads verifying log signatures (undefined with verifyThreads 0). */
  verifier: VerifyPool | undefined;
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Test-only hooks (see WitnessHooks). */
  hooks?: WitnessHooks;
  /** POSIX seconds for cosignature timestamps (default: the system clock). */
  clock?: () => number;
  /** Test-only: what verifies log signatures, instead of the configured threads. */
  signatures?: WitnessOptions["signatures"];
}

/** Reads a cosignature/v1 signing key file; refuses other key types. */
export function loadCosignerKey(path: string, clock: () => number) {
  let text: string;
  try {
    text = readFileSync(path, "utf8").trim();
  } catch (e) {
    throw new TrustlogError("CONFIG_INVALID", `cannot read key file ${path}: ${(e as Error).message}`);
  }
  const key = parseSignerKey(text, { clock });
  if (key.type !== NOTE_TYPE_COSIGNATURE_V1) {
    throw new TrustlogError("BAD_KEY", "a witness key must be a cosignature/v1 key (type 0x04)");
  }
  return key;
}

// Runs `fn` every `seconds`, one round at a time, until stopped.
function every(seconds: number, fn: () => Promise<unknown>, logger: Logger): () => void {
  if (seconds <= 0) return () => {};
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    try {
      await fn();
    } catch (err) {
      logger.error({ err }, "background round failed");
    }
    if (!stopped) timer = setTimeout(tick, seconds * 1000);
  };
  timer = setTimeout(tick, seconds * 1000);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

/**
 * Refuses PGlite unless the configuration allows it. A witness's one promise is never to cosign
 * two inconsistent checkpoints, which rests on its latest cosigned checkpoint being durable
 * before the cosignature leaves. PGlite does not fsync: after an OS crash or a power loss it can
 * come back with an older state, and the witness would then cosign a fork of what it already
 * signed. `memory://` is exempt: a throw-away database, for tests, that nobody mistakes for
 * durable storage.
 */
export function checkDurableDatabase(config: WitnessConfig): void {
  if (config.databaseUrl || config.allowPglite || config.dataDir.startsWith("memory://")) return;
  throw new TrustlogError(
    "CONFIG_INVALID",
    `refusing to run a witness on PGlite (${config.dataDir}): PGlite does not fsync, so after an OS ` +
      "crash the witness can lose the checkpoints it cosigned and then cosign one inconsistent with " +
      "them. Give a PostgreSQL database (databaseUrl, --database-url, TRUSTLOG_WITNESS_DATABASE_URL), " +
      "or for development only allow PGlite (--allow-pglite, allowPglite: true, " +
      "TRUSTLOG_WITNESS_ALLOW_PGLITE=1).",
  );
}

export async function startWitness(config: WitnessConfig, opts: StartOptions = {}): Promise<RunningWitness> {
  checkDurableDatabase(config);
  const logger = opts.logger ?? createLogger({ name: "witness", level: config.logLevel });
  const clock = opts.clock ?? (() => Math.floor(Date.now() / 1000));
  const signer = loadCosignerKey(config.keyFile, clock);
  const logs = config.logs.map((l) => ({
    origin: l.origin,
    verifiers: l.vkeys.map((v) => parseVerifierKey(v)),
  }));
  for (const p of config.peers) parseVerifierKey(p.vkey);

  const database = await openDatabase(
    config.databaseUrl ? { url: config.databaseUrl, max: 20 } : { dataDir: config.dataDir },
  );
  try {
    await runMigrations(database, WITNESS_MIGRATIONS);
    const store = new WitnessStore(database);
    await store.ensureLogs(logs.map((l) => l.origin));
    const metrics = createWitnessMetrics();
    const audited = config.logs.filter((l) => l.audit && l.url);
    await store.ensureAudits(audited.map((l) => l.origin));
    const auditors = new Map<string, LogAuditor>();
    const verifier =
      !opts.signatures && config.verifyThreads > 0 ? new VerifyPool(config.verifyThreads) : undefined;
    const signatures = opts.signatures ?? verifier;
    const witness = new Witness({
      signer,
      logs,
      store,
      logger,
      metrics,
      auditors,
      groupCommit: config.groupCommit,
      ...(signatures ? { signatures } : {}),
      ...(opts.hooks ? { hooks: opts.hooks } : {}),
    });
    for (const l of audited) {
      const auditor = new LogAuditor({
        origin: l.origin,
        url: l.url!,
        store,
        logger,
        metrics,
        timeoutMs: config.fetchTimeoutMs,
        snapshotEntries: config.auditSnapshotEntries,
        snapshotSeconds: config.auditSnapshotSeconds,
        waitMs: config.auditWaitMs,
        chunkEntries: config.auditChunkEntries,
        onEvidence: (e) => witness.recordEvidence(e, "audit"),
      });
      await auditor.load();
      auditors.set(l.origin, auditor);
    }
    const app = createWitnessApp({
      witness,
      store,
      metrics,
      logger,
      vkey: signer.vkey,
      maxBodyBytes: config.maxBodyBytes,
    });
    const urls = new Map(config.logs.filter((l) => l.url).map((l) => [l.origin, l.url!]));
    const puller = new Puller({ witness, urls, logger, metrics, timeoutMs: config.fetchTimeoutMs });
    const gossip = new Gossip({
      witness,
      peers: config.peers,
      logUrls: urls,
      logger,
      metrics,
      timeoutMs: config.fetchTimeoutMs,
    });

    const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s));
      s.once("error", reject);
    });
    const port = (server.address() as AddressInfo).port;
    const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
    const stops = [
      every(config.pullIntervalSeconds, () => puller.runOnce(), logger),
      every(config.gossipIntervalSeconds, () => gossip.runOnce(), logger),
    ];
    logger.info({ url, name: signer.name, vkey: signer.vkey, logs: logs.length }, "witness listening");
    let closed = false;
    return {
      url,
      port,
      vkey: signer.vkey,
      witness,
      store,
      database,
      metrics,
      puller,
      gossip,
      verifier,
      async close() {
        if (closed) return;
        closed = true;
        for (const stop of stops) stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        });
        await verifier?.close();
        await database.close();
      },
    };
  } catch (e) {
    await database.close();
    throw e;
  }
}

export async function stopWitness(w: RunningWitness): Promise<void> {
  await w.close();
}
