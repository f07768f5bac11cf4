// The log server's HTTP app (DESIGN.md §4). Routes live in server/routes/, one file per
// concern; this file wires them with what every route shares: request ids, security headers,
// metrics, the JSON 404, and the single error handler that turns codes into statuses.

import { Hono } from "hono";
import { cors } from "hono/cors";
import { requestId } from "hono/request-id";
import { secureHeaders } from "hono/secure-headers";
import type { LogInfo } from "../core/api-types.js";
import { TrustlogError } from "../core/errors.js";
import { type Database, isDatabaseUnavailable } from "../node/db.js";
import type { Logger } from "../node/log.js";
import type { SignatureVerifier } from "../node/verify-pool.js";
import type { FastProofs } from "./fast-proofs.js";
import { errorResponse } from "./http-errors.js";
import { ImmutableResponses } from "./immutable-responses.js";
import type { ServerMetrics } from "./metrics.js";
import type { TokenBuckets } from "./rate-limit.js";
import { eventRoutes } from "./routes/events.js";
import { explorerRoutes } from "./routes/explorer.js";
import { healthRoutes } from "./routes/health.js";
import { historyRoutes } from "./routes/history.js";
import { lookupRoutes } from "./routes/lookups.js";
import { proofRoutes } from "./routes/proofs.js";
import { tileRoutes } from "./routes/tiles.js";
import type { Sequencer } from "./sequencer.js";
import type { LogStore, StoredCheckpoint } from "./storage/log-store.js";
import type { WriteTokens } from "./storage/tokens.js";

/** What the write route needs from the sequencer. */
export type EventSink = Pick<Sequencer, "isLeader" | "queueDepth" | "submit">;

/** What a client pins, served at GET /v1/log (core/api-types.ts). */
export type LogDescription = LogInfo;

export interface AppDeps {
  database: Database;
  store: LogStore;
  /** The latest checkpoint, cached (see LatestCheckpoint). */
  latest: LatestCheckpoint;
  sequencer: EventSink;
  metrics: ServerMetrics;
  logger: Logger;
  log: LogDescription;
  bodyLimitBytes: number;
  /** Checks envelope signatures before they are queued (a worker pool, or the event loop). */
  verifier: SignatureVerifier;
  /** Write rate limits, in events (server/rate-limit.ts). */
  rateLimits: {
    client: TokenBuckets;
    org: TokenBuckets;
    /** A trusted proxy's header naming the client address; else the socket's peer address. */
    clientIpHeader?: string;
  };
  /** Who may write (server/tokens.ts, docs/api.md "Write admission"). */
  admission: {
    writeAuth: "none" | "token";
    orgCreation: "open" | "token";
    tokens: WriteTokens;
  };
  /** Where answers that never change are kept for the read fast path (server/main.ts). */
  immutable?: ImmutableResponses;
  /** The proof fast path, which takes its answers' headers from the app's (server/fast-proofs.ts). */
  fastProofs?: Pick<FastProofs, "learn">;
}

export type App = Hono;

/** Headers a browser's script may read from any answer (CORS). */
const EXPOSED_HEADERS = ["Retry-After", "WWW-Authenticate", "X-Request-Id"] as const;

/**
 * The latest published checkpoint, read once rather than per request: nearly every read route
 * needs the tree size. The sequencer of this process invalidates it on each commit (and the
 * witness collector on each cosignature), so an answer to a POST is never followed by an older
 * /checkpoint; what another process commits (a follower replica) shows within `ttlMs`.
 */
export class LatestCheckpoint {
  private cached:
    | {
        at: number;
        value: Promise<StoredCheckpoint | undefined>;
        /** The value, once loaded (what peek answers). */
        loaded?: { checkpoint: StoredCheckpoint | undefined };
      }
    | undefined;

  /** `load` reads what is published: the latest checkpoint, or the latest with the witness quorum. */
  constructor(
    private readonly load: () => Promise<StoredCheckpoint | undefined>,
    private readonly ttlMs = 1000,
  ) {}

  get(): Promise<StoredCheckpoint | undefined> {
    const now = performance.now();
    if (!this.cached || now - this.cached.at > this.ttlMs) {
      const value = this.load();
      const entry: NonNullable<typeof this.cached> = { at: now, value };
      this.cached = entry;
      value.then(
        (checkpoint) => {
          entry.loaded = { checkpoint };
        },
        // A failed read is not cached: the next request tries again.
        () => {
          if (this.cached === entry) this.cached = undefined;
        },
      );
    }
    return this.cached.value;
  }

  /**
   * What get() would resolve to, without waiting: the loaded value while it is fresh, else
   * undefined (then call get()). For the proof fast path, which answers without a promise.
   */
  peek(): { checkpoint: StoredCheckpoint | undefined } | undefined {
    const c = this.cached;
    if (c?.loaded === undefined || performance.now() - c.at > this.ttlMs) return undefined;
    return c.loaded;
  }

  invalidate(): void {
    this.cached = undefined;
  }
}

export function createApp(deps: AppDeps): App {
  const app = new Hono();

  // Outermost, so that it sees the answer as sent, every header included: a full tile or entry
  // bundle is kept for the fast path in front of the app (server/immutable-responses.ts), and
  // the proof fast path takes its headers from the first proof (server/fast-proofs.ts).
  const { immutable, fastProofs } = deps;
  if (immutable || fastProofs) {
    app.use(async (c, next) => {
      await next();
      if (c.req.method !== "GET") return;
      fastProofs?.learn(c.req.path, c.res.status, c.res.headers);
      if (
        !immutable ||
        !ImmutableResponses.keeps(c.req.path, c.res.status, c.res.headers.get("Cache-Control"))
      ) {
        return;
      }
      // Only the plain path is kept: a query string is the caller's to vary, and each would
      // take a place in the cache.
      if (new URL(c.req.url).search !== "") return;
      const body = new Uint8Array(await c.res.clone().arrayBuffer());
      immutable.remember(c.req.path, c.res.headers, body);
    });
  }
  app.use(requestId());
  // The log is public and read by browsers too (core/ and the client run there): any origin may
  // read it. Writes are authorised by the envelopes' signatures, not by the caller's origin.
  app.use(secureHeaders({ crossOriginResourcePolicy: "cross-origin" }));
  const preflight = cors({
    origin: "*",
    allowMethods: ["GET", "HEAD", "POST"],
    allowHeaders: ["Content-Type", "Authorization"],
    exposeHeaders: [...EXPOSED_HEADERS],
  });
  // Other requests get the same two headers as hono's cors() gives them, but set on the answer
  // rather than on a placeholder before it: a placeholder makes hono rebuild the route's answer
  // as a streamed Response, which costs a read API answer about half its CPU time (issue 13).
  const exposed = EXPOSED_HEADERS.join(",");
  app.use(async (c, next) => {
    if (c.req.method === "OPTIONS") return preflight(c, next);
    await next();
    c.res.headers.set("Access-Control-Allow-Origin", "*");
    c.res.headers.set("Access-Control-Expose-Headers", exposed);
  });
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    // routePath is the matched pattern ("/v1/entries/:index"), so labels stay few.
    const route = c.req.routePath || "unmatched";
    deps.metrics.httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
    deps.metrics.httpDuration.observe({ method: c.req.method, route }, (performance.now() - started) / 1000);
  });

  app.route("/", eventRoutes(deps));
  app.route("/", tileRoutes(deps));
  app.route("/", proofRoutes(deps));
  app.route("/", lookupRoutes(deps));
  app.route(
    "/",
    historyRoutes(deps.store, () => deps.latest.get()),
  );
  app.route("/", healthRoutes(deps));
  app.route("/", explorerRoutes(deps));

  app.notFound((c) =>
    errorResponse(c, new TrustlogError("NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`)),
  );

  // An outage fails every request at once: one warning per 10 s says so, the rest are debug
  // (the 503s themselves are counted in the HTTP metrics).
  let lastOutageWarning = 0;
  app.onError((err, c) => {
    const where = { requestId: c.get("requestId"), path: c.req.path };
    if (isDatabaseUnavailable(err)) {
      const now = Date.now();
      if (now - lastOutageWarning >= 10_000) {
        lastOutageWarning = now;
        deps.logger.warn({ ...where, err: (err as Error).message }, "database unavailable; answering 503");
      } else deps.logger.debug({ ...where, err: (err as Error).message }, "database unavailable");
    } else if (!(err instanceof TrustlogError)) {
      deps.logger.error({ err, ...where }, "request failed");
    }
    return errorResponse(c, err);
  });

  return app;
}
