// Starts and stops a SCIM bridge: database (migrations/scim applied), delegate key, grant check
// (refusing to start without a valid grant), HTTP server, background loops. startScim/stopScim
// let tests, the benchmark and `npm start` run the real thing; signals and process exit are
// handled only by entry points.

import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";
import { serve } from "@hono/node-server";
import { fromBase64, toBase64 } from "../core/bytes.js";
import { ed25519 } from "../core/ed25519.js";
import { TrustlogError } from "../core/errors.js";
import { type Database, openDatabase, runMigrations } from "../node/db.js";
import { createLogger, type Logger } from "../node/log.js";
import { packagePath } from "../node/package-root.js";
import { createScimApp, SCIM_PREFIX } from "./app.js";
import { Bridge } from "./bridge.js";
import { delegateKeyPath, pgliteDir, type ScimConfig } from "./config.js";
import { createDeliverer } from "./deliver.js";
import { createScimMetrics } from "./metrics.js";
import { ScimService } from "./service.js";
import { ScimTokens } from "./tokens.js";
import { DatabaseTrustStore } from "./trust-store.js";

export const SCIM_MIGRATIONS = packagePath("migrations", "scim");

export interface RunningScim {
  url: string;
  /** The SCIM base URL an identity provider is given: <url>/scim/v2. */
  scimUrl: string;
  port: number;
  delegateKey: string;
  bridge: Bridge;
  database: Database;
  tokens: ScimTokens;
  close(): Promise<void>;
}

/** Opens the bridge's database and applies its migrations. */
export async function openScimDatabase(c: {
  databaseUrl?: string | undefined;
  dataDir: string;
}): Promise<Database> {
  const database = await openDatabase(
    c.databaseUrl ? { url: c.databaseUrl, max: 10 } : { dataDir: pgliteDir(c) },
  );
  try {
    await runMigrations(database, SCIM_MIGRATIONS);
  } catch (e) {
    await database.close();
    throw e;
  }
  return database;
}

/** Creates the delegate key (a 32-byte Ed25519 seed, base64, mode 0600) unless it exists. */
export function ensureDelegateKey(file: string): { publicKey: string; created: boolean } {
  let created = false;
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, `${toBase64(new Uint8Array(randomBytes(32)))}\n`, { mode: 0o600, flag: "wx" });
    created = true;
  }
  return { publicKey: toBase64(ed25519().publicKey(readDelegateSeed(file))), created };
}

export function readDelegateSeed(file: string): Uint8Array {
  let text: string;
  try {
    text = readFileSync(file, "utf8").trim();
  } catch (e) {
    throw new TrustlogError(
      "NO_DELEGATE_KEY",
      `cannot read the delegate key ${file} (${(e as Error).message}): run \`trustlog scim init\` first`,
    );
  }
  const seed = fromBase64(text);
  if (seed?.length !== 32) throw new TrustlogError("BAD_KEY", `${file} does not hold a 32-byte base64 seed`);
  return seed;
}

export interface StartScimOptions {
  logger?: Logger;
  /** Unix ms (default Date.now). */
  now?: () => number;
}

export async function startScim(config: ScimConfig, opts: StartScimOptions = {}): Promise<RunningScim> {
  const logger = opts.logger ?? createLogger({ name: "trustlog-scim", level: config.logLevel });
  const seed = readDelegateSeed(delegateKeyPath(config));
  const database = await openScimDatabase(config);
  try {
    const metrics = createScimMetrics();
    const bridge = new Bridge({
      config,
      database,
      logger,
      metrics,
      deliverer: createDeliverer(config),
      trustStore: new DatabaseTrustStore(database),
      delegateSeed: seed,
      ...(opts.now ? { now: opts.now } : {}),
    });

    // The grant decides whether the bridge may run at all. An unreachable log is waited for.
    const deadline = Date.now() + config.startTimeoutSeconds * 1000;
    for (;;) {
      const s = await bridge.checkGrant();
      if (s.ok) break;
      // Transient: the log is away, or its newest checkpoint is not cosigned by the quorum yet.
      if (
        ["LOG_UNREACHABLE", "QUORUM_NOT_MET", "CHECKPOINT_STALE"].includes(s.code ?? "") &&
        Date.now() < deadline
      ) {
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      throw new TrustlogError(s.code ?? "GRANT_INVALID", `refusing to start: ${s.message}`);
    }

    let base = config.publicUrl ?? "";
    const tokens = new ScimTokens(database);
    const service = new ScimService({
      database,
      baseUrl: () => base,
      accounts: () => bridge.grant.grant?.accounts ?? ["*"],
      onOutbox: () => bridge.kick(),
    });
    const app = createScimApp({
      service,
      tokens,
      bridge,
      database,
      metrics,
      logger,
      baseUrl: () => base,
      maxBodyBytes: config.maxBodyBytes,
    });
    const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s));
      s.once("error", reject);
    });
    const port = (server.address() as AddressInfo).port;
    const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
    if (!config.publicUrl) base = `${url}${SCIM_PREFIX}`;
    bridge.start();
    logger.info(
      {
        url: base,
        org: config.org,
        grant: config.grantId,
        delegate: bridge.delegateKey,
        grantUntil: bridge.grant.grant?.notAfter,
      },
      "SCIM bridge listening",
    );
    let closed = false;
    return {
      url,
      scimUrl: base,
      port,
      delegateKey: bridge.delegateKey,
      bridge,
      database,
      tokens,
      async close() {
        if (closed) return;
        closed = true;
        await bridge.stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        });
        await database.close();
        logger.info("SCIM bridge stopped");
      },
    };
  } catch (e) {
    await database.close();
    throw e;
  }
}

export async function stopScim(s: RunningScim): Promise<void> {
  await s.close();
}
