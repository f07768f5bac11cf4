// Starting and stopping one log server: database, migrations, key, sequencer, HTTP. Tests call
// startServer() on port 0 and get the real thing; entry points (server/cli.ts `serve`,
// bin/start.ts) add signal handling around it, nothing here touches process signals.

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { type Database, openDatabase, runMigrations } from "../node/db.js";
import { createLogger, type Logger } from "../node/log.js";
import { inlineVerifier, VerifyPool } from "../node/verify-pool.js";
import { type App, createApp, LatestCheckpoint } from "./app.js";
import { keyFilePath, pgliteDir, type ServerConfig } from "./config.js";
import { FastProofs, INCLUSION_PROOF_PATH } from "./fast-proofs.js";
import { ImmutableResponses } from "./immutable-responses.js";
import { type LogKey, loadOrCreateLogKey } from "./keys.js";
import { createMetrics, type ServerMetrics } from "./metrics.js";
import { Publication } from "./publication.js";
import { TokenBuckets } from "./rate-limit.js";
import { Sequencer } from "./sequencer.js";
import { LogStore, SERVER_MIGRATIONS } from "./storage/log-store.js";
import { WriteTokens } from "./storage/tokens.js";

export { SERVER_MIGRATIONS };

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly config: ServerConfig;
  readonly key: LogKey;
  readonly database: Database;
  readonly store: LogStore;
  readonly sequencer: Sequencer;
  readonly publication: Publication;
  readonly metrics: ServerMetrics;
  readonly app: App;
  readonly logger: Logger;
  /** Full tiles and entry bundles answered before the app (the read fast path). */
  readonly immutable: ImmutableResponses;
  /** Inclusion proofs by index answered before the app (server/fast-proofs.ts). */
  readonly fastProofs: FastProofs;
}

export interface StartOptions {
  logger?: Logger;
  /** Milliseconds since the epoch; tests pass a fixed clock to judge event times. */
  clock?: () => number;
  /** Export Node process metrics (default true; tests turn it off). */
  processMetrics?: boolean;
}

const running = new Map<RunningServer, () => Promise<void>>();

export async function startServer(config: ServerConfig, opts: StartOptions = {}): Promise<RunningServer> {
  const logger = opts.logger ?? createLogger({ name: "trustlog-server", level: config.logLevel });
  const clock = opts.clock ?? Date.now;
  const key = loadOrCreateLogKey(keyFilePath(config), config.origin);
  if (key.looseMode) logger.warn({ keyFile: keyFilePath(config) }, "the log key file is readable by others");

  const database = await openDatabase(
    config.databaseUrl ? { url: config.databaseUrl } : { dataDir: pgliteDir(config) },
  );
  const cleanup: (() => Promise<void>)[] = [() => database.close()];
  const undo = async () => {
    for (const f of cleanup.reverse())
      await f().catch((err) => logger.error({ err }, "shutdown step failed"));
  };

  try {
    await runMigrations(database, SERVER_MIGRATIONS);
    const store = new LogStore(database, { tileCacheSize: config.tileCacheTiles });
    // Assigned once the publication (which invalidates it) exists.
    let latest: LatestCheckpoint;
    const publication = new Publication({
      database,
      store,
      witnesses: config.witnesses,
      publishQuorum: config.publishQuorum,
      refreshSeconds: config.witnessRefreshSeconds,
      quorumWaitMs: config.quorumWaitMs,
      logger,
      clock,
      onChange: () => latest.invalidate(),
    });
    latest = new LatestCheckpoint(() => publication.published());
    let sequencer: Sequencer | undefined;
    const metrics = createMetrics({
      queueDepth: () => sequencer?.queueDepth ?? 0,
      processMetrics: opts.processMetrics ?? true,
    });
    sequencer = new Sequencer({
      database,
      store,
      signer: key.signer,
      origin: config.origin,
      batchSize: config.batchSize,
      batchDelayMs: config.batchDelayMs,
      queueLimit: config.queueLimit,
      skewSeconds: config.skewSeconds,
      limits: {
        maxActiveGrants: config.maxActiveGrants,
        maxAdmins: config.maxAdmins,
        maxKeysPerAccount: config.maxKeysPerAccount,
      },
      clock,
      logger,
      // Proofs are made once, against the checkpoint the answer carries (publication.answer).
      proofs: false,
      onBatch: (info) => metrics.batchSize.observe(info.size),
      onCheckpoint: (note, size) => {
        latest.invalidate();
        metrics.treeSize.set(size);
        publication.checkpointCommitted(note, size);
      },
    });
    await sequencer.start();
    cleanup.push(() => sequencer!.stop());
    await publication.start();
    cleanup.push(async () => publication.stop());
    // A write is answered with one checkpoint (in quorum mode one the witnesses cosigned) and
    // every proof against it, made once.
    const seq = sequencer;
    const sink = {
      get isLeader() {
        return seq.isLeader;
      },
      get queueDepth() {
        return seq.queueDepth;
      },
      submit: async (items: Parameters<Sequencer["submit"]>[0]) =>
        publication.answer(await seq.submit(items)),
    };

    // Counted like the app's answers, under the route that would have answered; not timed (the
    // duration histogram is the app's): a fast answer costs a few microseconds.
    const fastTiles = metrics.httpRequests.labels({ method: "GET", route: "/tile/*", status: "200" });
    const immutable = new ImmutableResponses({ onServe: () => fastTiles.inc() });
    const fastProofCount = metrics.httpRequests.labels({
      method: "GET",
      route: INCLUSION_PROOF_PATH,
      status: "200",
    });
    const fastProofs = new FastProofs({ store, latest, onServe: () => fastProofCount.inc() });
    const verifier = config.verifyThreads > 0 ? new VerifyPool(config.verifyThreads) : inlineVerifier;
    if (verifier instanceof VerifyPool) cleanup.push(() => verifier.close());
    const app = createApp({
      verifier,
      database,
      store,
      latest,
      sequencer: sink,
      metrics,
      logger,
      log: { origin: config.origin, vkey: key.vkey, witnesses: config.witnesses, quorum: config.quorum },
      bodyLimitBytes: config.bodyLimitBytes,
      rateLimits: {
        client: new TokenBuckets({ rate: config.clientRate, burst: config.clientBurst }),
        org: new TokenBuckets({ rate: config.orgRate, burst: config.orgBurst }),
        clientIpHeader: config.clientIpHeader,
      },
      admission: {
        writeAuth: config.writeAuth,
        orgCreation: config.orgCreation,
        tokens: new WriteTokens(database),
      },
      immutable,
      fastProofs,
    });
    if (config.writeAuth === "none" && config.orgCreation === "open") {
      logger.warn("anyone may create orgs on this log (orgCreation open): for development only");
    }

    // Kept answers (full tiles and entry bundles) and inclusion proofs by index go out before hono
    // sees the request; everything else goes to the app, as @hono/node-server's serve() would
    // wire it.
    const appListener = getRequestListener(app.fetch, { hostname: config.host });
    const http = createServer(
      {
        // A client gets headersTimeoutMs to send its headers and requestTimeoutMs to send the
        // whole request (not to wait for the answer), or node answers 408 and closes the
        // connection; node checks every connectionsCheckingInterval, so that is the slack.
        headersTimeout: config.headersTimeoutMs,
        requestTimeout: config.requestTimeoutMs,
        connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(config.headersTimeoutMs / 4))),
      },
      (req, res) => {
        if (!immutable.serve(req, res) && !fastProofs.serve(req, res, appListener)) appListener(req, res);
      },
    );
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen(config.port, config.host, () => {
        http.off("error", reject);
        resolve();
      });
    });
    // Stop accepting first, so that nothing new is queued while the sequencer drains.
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          http.close(() => resolve());
          http.closeIdleConnections();
        }),
    );
    // Longer than the usual 60 s idle timeout of load balancers and HTTP clients, so that the
    // server is not the side closing a kept-alive connection just as a request goes out on it.
    // (headersTimeout runs from a request's first byte, not while a kept-alive connection idles.)
    http.keepAliveTimeout = 65_000;
    const port = (http.address() as AddressInfo).port;
    const host = config.host.includes(":") ? `[${config.host}]` : config.host;
    const server: RunningServer = {
      url: `http://${host}:${port}`,
      port,
      config,
      key,
      database,
      store,
      sequencer,
      publication,
      metrics,
      app,
      logger,
      immutable,
      fastProofs,
    };
    running.set(server, undo);
    logger.info(
      { url: server.url, origin: config.origin, vkey: key.vkey, db: database.kind },
      "log server listening",
    );
    return server;
  } catch (err) {
    await undo();
    throw err;
  }
}

/**
 * Stops a server (or every server this process started): stops accepting connections, lets
 * the sequencer commit what it queued and answer its waiters, then closes the database.
 */
export async function stopServer(server?: RunningServer): Promise<void> {
  const targets = server ? [server] : [...running.keys()];
  for (const s of targets) {
    const undo = running.get(s);
    if (!undo) continue;
    running.delete(s);
    await undo();
    s.logger.info("log server stopped");
  }
}
